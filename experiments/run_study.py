#!/usr/bin/env python
"""A study: every strategy over a grid of config points x seeds, in parallel on Ray, answered with 95 % CIs.

Usage: python experiments/run_study.py [--config FILE] [--set key=value ...] [--strategies a,b]
                                       [--sweep key=v1,v2 ...] [--seeds 0-9] [--out DIR] [--workers N]
       python experiments/run_study.py --resume DIR [--workers N]
       python experiments/run_study.py --extend DIR [--config FILE] [--set key=value ...] [--strategies a,b,c]
                                       [--sweep key=v3 ...] [--seeds 5-9] [--workers N]
Each (point, seed) is an ordinary run_tiered.py run in DIR/point-<k>/seed-<s>/; DIR gets study.csv,
study_summary.csv, study_pairs.csv, study.md and plots. A bad argument prints one line and exits 2, writing nothing.
--extend adds strategies, seeds and sweep values to a finished or interrupted study: only the missing runs execute,
the report is rebuilt over everything (docs/studies.md).
"""
import argparse
import os
import shlex
import sys
import time
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from syft_fl import cli  # noqa: E402
from syft_fl.cli import OneLineParser  # noqa: E402
from syft_fl.config import ConfigError  # noqa: E402
from syft_fl.study import StudyError, build_study, check_execution, write_study_file  # noqa: E402
from syft_fl.study_run import config_ray_address, create_study_dir, load_study, run_study  # noqa: E402
from syft_fl.study_folder import extend_study  # noqa: E402

PROG = "run_study.py"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0],
                           epilog="Config keys: see python experiments/run_tiered.py --help. A --config file may "
                                  "carry a study: block (sweep: {key: [values]}, seeds, sustain_rounds, time_step_s, "
                                  "reference, heatmap); flags win over it.",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config, optionally with a study: block (default: the default config)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one key; repeatable")
    parser.add_argument("--strategies", help="comma-separated names of configured strategies to run, in order")
    parser.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                        help="a swept key (dotted, as for --set) and its values; repeatable: the grid is their "
                             "product. Values with commas as a YAML list: KEY=[a, b]")
    parser.add_argument("--seeds", help="seeds, e.g. 0-9 or 0,3,5 (default: the config's seed)")
    parser.add_argument("--sustain-rounds", type=int, help="rounds the accuracy must stay >= target (default 3)")
    parser.add_argument("--time-step-s", type=float, help="simulated-time checkpoints for accuracy, s (default 50)")
    parser.add_argument("--reference", help="strategy the others are compared with, paired (default: the first)")
    parser.add_argument("--heatmap", action="append", default=[], metavar="B/A",
                        help="2-D sweep: heatmap of the time-to-target ratio B / A; repeatable")
    parser.add_argument("--out", help="output folder (default: results/study-<timestamp>)")
    parser.add_argument("--resume", metavar="DIR", help="continue the interrupted study in DIR (its study.json)")
    parser.add_argument("--extend", metavar="DIR",
                        help="grow the study in DIR by the --strategies, --seeds and --sweep values given (those it "
                             "has are kept); the config (--config, else the study's own, plus --set) must give what "
                             "it has unchanged; only the missing runs execute")
    parser.add_argument("--workers", type=int,
                        help="parallel Ray tasks (default: the CPUs Ray sees); 0: one run after another in this "
                             "process, without Ray")
    parser.add_argument("--ray-address", help="run on this Ray cluster (auto | ray://host:port; default: the config's "
                                              "ray.address if it has one); DIR must be on a file system every node "
                                              "shares")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return parser


def fail(message: str) -> int:
    """Print one error line and return the exit code for bad input (2)."""
    return cli.fail(PROG, message)


def _added_text(entry) -> str:
    added = entry["added"]
    parts = [f"strategies {', '.join(added['strategies'])}"] if added["strategies"] else []
    parts += [f"seeds {','.join(map(str, added['seeds']))}"] if added["seeds"] else []
    parts += [f"{key}={','.join(map(str, values))}" for key, values in added["sweeps"].items()]
    return f"{'; '.join(parts)}: {entry['new_runs']} new run(s), {entry['grown_runs']} run(s) grown"


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.workers is not None and args.workers < 0:
        return fail(f"--workers {args.workers} must be >= 0")
    if args.ray_address is not None and not args.ray_address.strip():
        return fail("--ray-address '' is empty (auto or ray://host:port)")
    if args.resume and args.extend:
        return fail("--resume and --extend: give one (--extend also finishes what is unfinished)")
    if args.extend:
        given = [flag for flag, value in (
            ("--sustain-rounds", args.sustain_rounds), ("--time-step-s", args.time_step_s),
            ("--reference", args.reference), ("--heatmap", args.heatmap), ("--out", args.out)) if value]
        if given:
            return fail(f"--extend {args.extend!r} keeps the study's analysis settings and folder; drop {given[0]}")
    if args.resume:
        given = [flag for flag, value in (
            ("--config", args.config), ("--set", args.set), ("--strategies", args.strategies),
            ("--sweep", args.sweep), ("--seeds", args.seeds), ("--sustain-rounds", args.sustain_rounds),
            ("--time-step-s", args.time_step_s), ("--reference", args.reference), ("--heatmap", args.heatmap),
            ("--out", args.out)) if value]
        if given:
            return fail(f"--resume {args.resume!r} takes its study from the folder; drop {given[0]}")
    strategies = None if args.strategies is None else [s.strip() for s in args.strategies.split(",") if s.strip()]
    command = " ".join(["python experiments/run_study.py"] + [shlex.quote(a) for a in argv])
    grown = None
    try:
        if args.resume:
            study = load_study(args.resume)
        elif args.extend:
            before = load_study(args.extend, "--extend")
            study = extend_study(before, config_path=args.config, overrides=args.set, strategies=strategies,
                                 sweeps=args.sweep, seeds=args.seeds, command=command)
            grown = study if study is not before else None
        else:
            study = build_study(config_path=args.config, overrides=args.set, strategies=strategies,
                                sweeps=args.sweep, seeds=args.seeds, sustain_rounds=args.sustain_rounds,
                                time_step_s=args.time_step_s, reference=args.reference, heatmaps=args.heatmap,
                                command=command)
        address = args.ray_address or config_ray_address(study.runs[0].config)
        check_execution(study, args.workers, address)
    except (StudyError, ConfigError) as err:
        return fail(str(err))
    out_dir = args.resume or args.extend or args.out or os.path.join("results", time.strftime("study-%Y%m%d-%H%M%S"))
    if grown is not None:
        write_study_file(grown, out_dir)  # the record of the extension; the run folders follow in run_study
        print(f"{PROG}: extended by {_added_text(grown.history[-1])}", file=sys.stderr)
    elif not args.resume and not args.extend:
        try:
            create_study_dir(study, out_dir)
        except (FileExistsError, OSError) as err:
            return fail(str(err))
    from syft_fl.study import RunFailed
    from syft_fl.study_report import record_timing, write_report

    print(f"{PROG}: {len(study.points)} point(s) x {len(study.seeds)} seed(s) = {len(study.runs)} runs "
          f"of {', '.join(study.strategies)} -> {out_dir}", file=sys.stderr)
    try:
        record = run_study(study, out_dir, workers=args.workers, address=address, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; finished rounds are in {out_dir} (continue with --resume {out_dir})",
              file=sys.stderr)
        return 130
    except RunFailed as err:
        for run_dir, message in err.failures:
            print(f"{PROG}: run {run_dir} failed: {message}", file=sys.stderr)
        print(f"{PROG}: fix and continue with --resume {out_dir}", file=sys.stderr)
        return 1
    timing = record_timing(out_dir, record)
    paths = write_report(study, out_dir, timing, plots=not args.no_plots)
    with open(paths[3]) as fh:
        print(fh.read())
    print(f"results: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
