#!/usr/bin/env python
"""Compare tiered uploads with full-precision, fixed and adaptive quantization in a syft federation.

Usage: python experiments/run_tiered.py [--config FILE] [--set key=value ...] [--strategies a,b] [--seed N]
                                        [--out DIR] [--force]
       python experiments/run_tiered.py --resume DIR
A bad config or argument, a setup error (data, UE servers, ports, permissions) or a run folder that does not match
its checkpoint prints one line naming the key and the value and exits with code 2, before any file is written.
"""
import argparse
import os
import sys
import textwrap
import time
from typing import Any, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from syft_fl import cli  # noqa: E402
from syft_fl.cli import OneLineParser  # noqa: E402
from syft_fl.config import (  # noqa: E402
    DEFAULT_CONFIG_PATH, Config, ConfigError, describe_keys, load_config, to_dict)
from syft_fl.errors import short  # noqa: E402
from syft_fl.transport.access import AccessRefused  # noqa: E402


def keys_help() -> str:
    rows = describe_keys()
    width = max(len(k) for k, *_ in rows)
    lines = ["config keys (YAML; --set KEY=VALUE with dotted keys; unit; default):"]
    for key, unit, default, doc in rows:
        lines.append(f"  {key:<{width}}  [{unit or '-'}] default {default}")
        lines.extend(textwrap.wrap(doc, 100, initial_indent=" " * (width + 4), subsequent_indent=" " * (width + 4)))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="run_tiered.py",
        description="Federated learning over a fading uplink: tiered uploads vs full, fixed and adaptive "
                    "quantization, side by side on the same data, model init and channel.",
        epilog=keys_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help=f"YAML config (default: {os.path.relpath(DEFAULT_CONFIG_PATH, ROOT)})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one key, dotted for sections (channel.fading=rician); repeatable")
    parser.add_argument("--strategies", help="comma-separated names of configured strategies to run, in order")
    parser.add_argument("--seed", type=int, help="run seed (overrides the config's seed)")
    parser.add_argument("--out", help="output folder (default: results/<timestamp>)")
    parser.add_argument("--force", action="store_true", help="overwrite the result files of a non-empty --out")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the interrupted run in DIR (its config.yaml; no other config options)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return parser


def fail(message: str) -> int:
    """Print one error line (cut to a few hundred characters) and return the exit code for bad input (2)."""
    return cli.fail("run_tiered.py", message)


def check_args(args: argparse.Namespace) -> Optional[str]:
    """The reason the flags do not go together, or None."""
    if args.out is not None and not args.out.strip():
        return f"--out {args.out!r} is empty: name a folder"
    if args.resume is not None and not args.resume.strip():
        return f"--resume {args.resume!r} is empty: name the run folder"
    if args.resume is not None:
        given = [flag for flag, value in (("--config", args.config), ("--set", args.set), ("--seed", args.seed),
                                          ("--strategies", args.strategies), ("--out", args.out),
                                          ("--force", args.force)) if value is not None and value is not False
                 and value != []]
        if given:
            return f"--resume {short(args.resume)} takes its config from the run folder; drop {given[0]}"
        if not os.path.isdir(args.resume):
            return f"--resume {short(args.resume)} is not a folder"
        if not os.path.isfile(os.path.join(args.resume, "config.yaml")):
            return f"--resume {short(args.resume)} has no config.yaml (not a run_tiered.py results folder)"
        if not os.access(args.resume, os.W_OK):
            return f"--resume {short(args.resume)} is read-only: the run cannot go on there"
    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        return f"--out {short(args.out)} is a file, not a folder"
    if args.out is not None and not args.force and os.path.isdir(args.out) and os.listdir(args.out):
        return f"--out {short(args.out)} is not empty (use --force to overwrite)"
    if args.out is not None and os.path.isdir(args.out) and not os.access(args.out, os.W_OK):
        return f"--out {short(args.out)} is read-only"
    if args.seed is not None and args.seed < 0:
        return f"--seed {args.seed} must be >= 0"
    return None


def set_up(config: Config, resume_dir: Optional[str]) -> Any:
    """Everything that can fail before the run writes a file: the checkpoint and folder of a resumed run, the
    data, the transport (UE servers, ports, secret), the model against the data. Returns the federation."""
    from syft_fl import checkpoint
    from syft_fl.experiment import build_federation
    from syft_fl.preflight import check_model_fits, deadline_warning

    if resume_dir is not None:
        checkpoint.load_verified(resume_dir, to_dict(config))
    fed = build_federation(config)
    try:
        check_model_fits(fed)
    except BaseException:
        fed.transport.close()
        raise
    warning = deadline_warning(fed)
    if warning:
        print(f"run_tiered.py: warning: {warning}", file=sys.stderr)
    return fed


SETUP_ERRORS = (ValueError, OSError, RuntimeError)  # data, UE servers, ports, permissions, checkpoint, config


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    reason = check_args(args)
    if reason:
        return fail(reason)
    strategies = None if args.strategies is None else [s.strip() for s in args.strategies.split(",") if s.strip()]
    try:
        if args.resume:
            config = load_config(os.path.join(args.resume, "config.yaml"))
        else:
            config = load_config(args.config, args.set, seed=args.seed, strategies=strategies)
    except ConfigError as err:
        return fail(str(err))
    from syft_fl.data import DataError, require_files

    try:
        require_files(config.dataset, config.data_root)
    except DataError as err:
        return fail(str(err))
    out_dir = args.resume or args.out or os.path.join("results", time.strftime("%Y%m%d-%H%M%S"))
    from syft_fl.experiment import prepare_out_dir, run, summary_table

    try:
        fed = set_up(config, args.resume)
    except SETUP_ERRORS as err:
        return fail(str(err) or type(err).__name__)
    except KeyboardInterrupt:
        print("\nrun_tiered.py: interrupted before the run started; nothing was written", file=sys.stderr)
        return 130
    if not args.resume:
        try:
            prepare_out_dir(out_dir, args.force)
        except OSError as err:
            fed.transport.close()
            return fail(f"--out {short(out_dir)}: {err.strerror or err}")
    try:
        summary = run(config, out_dir, progress=not args.no_progress, plots=not args.no_plots,
                      resume=bool(args.resume), federation=fed)
    except DataError as err:  # a file that is there but unreadable: found only when the data loads
        return fail(str(err))
    except AccessRefused as err:  # e.g. another process took a UE's port mid-run: nothing it sent was read
        return fail(f"{err} (the rounds finished so far are in {out_dir})")
    except KeyboardInterrupt:
        print(f"\nrun_tiered.py: interrupted; the rounds finished so far are in {out_dir} "
              f"(continue with --resume {out_dir})", file=sys.stderr)
        return 130
    print(summary_table(summary))
    print(f"results: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
