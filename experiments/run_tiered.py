#!/usr/bin/env python
"""Compare tiered uploads with full-precision, fixed and adaptive quantization in a syft federation.

Usage: python experiments/run_tiered.py [--config FILE] [--set key=value ...] [--strategies a,b] [--seed N]
                                        [--out DIR] [--force]
       python experiments/run_tiered.py --resume DIR
A bad config or argument, a setup error (data, UE servers, ports, permissions) or a run folder that does not match
its checkpoint prints one line naming the key and the value and exits with code 2, before any file is written.
A strategy whose training diverges stops in that round with one line on stderr naming it and the round; the
other strategies go on and the run ends as usual (exit code 0; summary.json gives the strategy's
``diverged_round``). A run that cannot go on (a UE that fails the handshake) prints one line and exits with code
2; one that could not write (a full disk) exits with code 1; Ctrl-C exits with 130, SIGTERM with 143; each keeps
the rounds written so far and says so.
"""
import argparse
import contextlib
import os
import signal
import sys
import textwrap
import time
from typing import Any, Iterator, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from syft_fl import cli  # noqa: E402
from syft_fl.cli import OneLineParser  # noqa: E402
from syft_fl.config import (  # noqa: E402
    DEFAULT_CONFIG_PATH, Config, ConfigError, describe_choices, describe_keys, load_config, to_dict)
from syft_fl.errors import Diverged, NotFinite, one_line, short  # noqa: E402
from syft_fl.files import write_failed  # noqa: E402
from syft_fl.transport.access import AccessRefused  # noqa: E402


def keys_help() -> str:
    rows = describe_keys()
    width = max(len(k) for k, *_ in rows)
    lines = ["config keys (YAML; --set KEY=VALUE with dotted keys; unit; default):"]
    for key, unit, default, doc in rows:
        lines.append(f"  {key:<{width}}  [{unit or '-'}] default {default}")
        lines.extend(textwrap.wrap(doc, 100, initial_indent=" " * (width + 4), subsequent_indent=" " * (width + 4)))
    lines.append("")
    lines.append("choices (each registered with its doc; adding one is one registration line):")
    last = None
    for key, name, doc in describe_choices():
        if key != last:
            lines.append(f"  {key}:")
            last = key
        lines.append(f"    {name:<16} {doc}")
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


def report_divergence(err: Diverged) -> None:
    """The one line on stderr for a strategy whose training diverged (the run goes on)."""
    print(f"run_tiered.py: {one_line(err.notice())}", file=sys.stderr)


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

    saved = checkpoint.load_verified(resume_dir, to_dict(config)) if resume_dir is not None else None
    fed = build_federation(config)
    try:
        if saved is not None:
            checkpoint.check_models(resume_dir, saved, fed.initial_state)
        check_model_fits(fed)
    except BaseException:
        fed.transport.close()
        raise
    warning = deadline_warning(fed)
    if warning:
        print(f"run_tiered.py: warning: {warning}", file=sys.stderr)
    return fed


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the run stops where it is, its files closed, with a resume hint."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the run goes on, SIGTERM raises :class:`Terminated` in the main thread (the previous handler is put
    back after)."""
    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    kept = f"the rounds finished so far are in {out_dir}"
    try:
        with terminate_as_interrupt():
            summary = run(config, out_dir, progress=not args.no_progress, plots=not args.no_plots,
                          resume=bool(args.resume), federation=fed, on_diverged=report_divergence)
    except DataError as err:  # a file that is there but unreadable: found only when the data loads
        return fail(str(err))
    except (AccessRefused, NotFinite) as err:  # another process on a UE's port; a result not finite: nothing kept
        return fail(f"{err} ({kept})")
    except OSError as err:  # a full disk, a folder made read-only mid-run, a lost cluster: what was written stays
        what = str(err) if isinstance(err, ConnectionError) else write_failed(out_dir, err)
        print(f"run_tiered.py: error: {one_line(what)} ({kept}; continue with --resume {out_dir})", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        how = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
        print(f"\nrun_tiered.py: {how}; {kept} (continue with --resume {out_dir})", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    print(summary_table(summary))
    print(f"results: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
