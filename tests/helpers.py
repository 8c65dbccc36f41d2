"""Helpers shared by the end-to-end tests: run an experiment into a folder, stop one in a given round, read its
CSVs, wait for a run."""
import csv
import signal
import time

import pytest

from syft_fl import bs_round
from syft_fl.experiment import prepare_out_dir, run


def run_into(path, config):
    """Run ``config`` into the new folder ``path`` (no progress bars, no plots); returns the summary."""
    prepare_out_dir(str(path), force=False)
    return run(config, str(path), progress=False, plots=False)


def stopped_run(main, args, out, after_rounds, monkeypatch):
    """Run ``main(args + ["--out", out])`` (run_tiered.py's) and stop it (KeyboardInterrupt, as Ctrl-C) as round
    number ``after_rounds`` (counted over every strategy) starts; it must exit with 130."""
    original, calls = bs_round.finish_round, []

    def stop(*a):
        calls.append(1)
        if len(calls) == after_rounds + 1:
            raise KeyboardInterrupt
        return original(*a)

    with monkeypatch.context() as patch:
        patch.setattr(bs_round, "finish_round", stop)
        assert main(list(args) + ["--out", str(out)]) == 130


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def wait_for_first_round(proc, out, timeout_s):
    """Wait until the run ``proc`` (a Popen with stderr piped) has written a round to ``out/rounds.csv``; if it
    exits or ``timeout_s`` passes first, kill it and fail with the end of its stderr (never block on a live run)."""
    deadline = time.monotonic() + timeout_s
    rounds = out / "rounds.csv"
    while not rounds.exists() or len(rounds.read_text().splitlines()) < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no round within {timeout_s} s (exit code {proc.poll()}): {proc.communicate()[1][-2000:]}")
        time.sleep(0.1)


def sigint_default():
    """``preexec_fn`` of a child a test will Ctrl-C: SIGINT back to its default, so that Python turns it into
    KeyboardInterrupt even when the tests themselves were started in the background by a shell without job
    control, which makes SIGINT ignored in every descendant."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
