#!/usr/bin/env python
"""Wall time of one federated round: UEs trained in turn (virtual) vs in parallel (ray actors, websocket UEs).

One config (FedAvg, CNN, 20 UEs per round with 200 samples each, strategy ``tiered`` = ``uniform:2+2+4``, a
deadline long enough that every UE trains and uploads), five federations:

- ``virtual_default``: virtual transport, torch's default intra-op threads;
- ``virtual_1t``: virtual, ``torch_threads=1``;
- ``ray_1a`` / ``ray_2a``: ``transport: ray`` with 1 and 2 actors, 1 thread each;
- ``websocket``: 20 local UE processes (``launch_local``), asked concurrently, 1 thread each.

Each federation runs in a fresh process of its own (``--one NAME``): torch's results depend on the intra-op
thread count a process has used, so a 1-thread federation run after a 2-thread one in the same process gives other
bits than a fresh one; its Ray (if any) is started and shut down there too. It runs its rounds as a run does
(:func:`syft_fl.bs_round.run_rounds`: the BS tests round r's model while the UEs train round r + 1, which overlaps
on ray and is sequential elsewhere). Each figure is the median of ``--rounds`` rounds, each timed from the
previous round's record to its own; round 0 warms up and the extra last round (nothing trains after it) is not
counted.

Robust to a shared machine: the variants run ``--repeats`` times (default 2), in alternating order (forward, then
reversed, ...), and each ratio to ``virtual_default`` (and ray's scaling from 1 to 2 actors) is taken within one
repeat, then reported as the median over repeats with its spread (min, max). Every federation with 1 thread must
give the same rows in every repeat (checked: results depend neither on the transport nor on the order). Prints
``name value unit`` lines; the last line is ``ratio <value>`` (ray_2a / virtual_default, median over repeats).
"""
import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

BASE = ["num_ues=20", "ues_per_round=20", "train_size=4000", "partition=iid", "model=cnn", "local_epochs=1",
        "batch_size=20", "deadline_s=1000", "increment_window_s=100"]
VARIANTS = OrderedDict([
    ("virtual_default", []),  # torch_threads: this fresh process's default
    ("virtual_1t", ["torch_threads=1"]),
    ("ray_1a", ["torch_threads=1", "transport=ray", "ray.num_actors=1"]),
    ("ray_2a", ["torch_threads=1", "transport=ray", "ray.num_actors=2"]),
    ("websocket", ["torch_threads=1", "transport=websocket", "launch_local=20"]),
])


def run_one(name, rounds, rows_path):
    """Child: build the federation ``name`` in this fresh process, time its rounds, write its rows as JSON."""
    import torch

    from syft_fl.bs_round import StrategyState, run_rounds
    from syft_fl.config import load_config
    from syft_fl.experiment import build_federation
    from syft_fl.records import fmt

    extra = VARIANTS[name] or [f"torch_threads={torch.get_num_threads()}"]
    config = load_config(None, BASE + extra, strategies=["tiered"])
    started = time.perf_counter()
    fed = build_federation(config)  # sets this process's torch threads to config.torch_threads
    print(f"setup_{name} {time.perf_counter() - started:.2f} s", flush=True)
    times, rows = [], []
    try:
        state = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))
        started = time.perf_counter()
        for row, uplinks in run_rounds(fed, config.strategies["tiered"], state, rounds + 2):
            elapsed, started = time.perf_counter() - started, time.perf_counter()
            if 0 < row.round <= rounds:
                times.append(elapsed)
            rows.append([[fmt(v) for v in dataclasses.astuple(r)] for r in [row] + uplinks])
            print(f"round_{row.round}_{name} {elapsed:.3f} s (trained {row.n_selected - row.n_dropped})",
                  flush=True)
    finally:
        fed.transport.close()
        if config.transport == "ray":
            import ray

            ray.shutdown()
    print(f"round_time_{name} {statistics.median(times):.3f} s", flush=True)
    with open(rows_path, "w") as fh:
        json.dump({"median_s": statistics.median(times), "rows": rows}, fh)
    return 0


def spread(values, unit="-"):
    """``median unit (over n repeats: min .. max ..)``."""
    return (f"{statistics.median(values):.3f} {unit} (over {len(values)} repeats: min {min(values):.3f} "
            f"max {max(values):.3f})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (between a warm-up and a last round)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of every variant, in alternating order")
    parser.add_argument("--skip", nargs="*", default=[], help="variants to leave out (e.g. websocket)")
    parser.add_argument("--one", choices=list(VARIANTS), help=argparse.SUPPRESS)  # child: one variant
    parser.add_argument("--rows", help=argparse.SUPPRESS)  # child: where to write its median and rows
    args = parser.parse_args(argv)
    if args.one:
        return run_one(args.one, args.rounds, args.rows)
    print(f"cpus {os.cpu_count()} -", flush=True)
    names = [n for n in VARIANTS if n not in args.skip]
    medians = {n: [] for n in names}  # per repeat
    rows = {n: [] for n in names}
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bench_parallel_{os.getpid()}.json")
    try:
        for repeat in range(args.repeats):
            for name in names if repeat % 2 == 0 else names[::-1]:
                child = [sys.executable, os.path.abspath(__file__), "--one", name, "--rounds", str(args.rounds),
                         "--rows", tmp]
                if subprocess.run(child, stdout=sys.stdout, stderr=sys.stderr).returncode != 0:
                    print(f"failed_{name} 1 -")
                    return 1
                with open(tmp) as fh:
                    out = json.load(fh)
                medians[name].append(out["median_s"])
                rows[name].append(out["rows"])
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    for name in names:
        print(f"round_time_{name} {spread(medians[name], 's')}")
    if "virtual_default" in medians:
        ref = medians["virtual_default"]
        for name in names:
            print(f"ratio_{name}_vs_virtual_default {spread([v / r for v, r in zip(medians[name], ref)])}")
    if "ray_1a" in medians and "ray_2a" in medians:
        scaling = [a / b for a, b in zip(medians["ray_1a"], medians["ray_2a"])]
        print(f"ray_2a_throughput_vs_ray_1a {spread(scaling, 'x')}")
    one_thread = [rows_of_run for n in names if n != "virtual_default" for rows_of_run in rows[n]]
    same = all(r == one_thread[0] for r in one_thread[1:])
    print(f"identical_rows_1_thread {int(same)} - ({len(one_thread)} fresh-process runs compared)")
    if "virtual_default" in medians and "ray_2a" in medians:
        print(f"ratio {statistics.median(v / r for v, r in zip(medians['ray_2a'], medians['virtual_default'])):.3f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
