#!/usr/bin/env python
"""Wall time of one federated round: UEs trained in turn (virtual) vs in parallel (ray actors, websocket UEs).

One config (FedAvg, CNN, 20 UEs per round with 200 samples each, strategy ``tiered`` = ``uniform:2+2+4``, a
deadline long enough that every UE trains and uploads), five federations built in this process:

- ``virtual_default``: virtual transport, torch's default intra-op threads;
- ``virtual_1t``: virtual, ``torch_threads=1``;
- ``ray_1a`` / ``ray_2a``: ``transport: ray`` with 1 and 2 actors, 1 thread each (Ray started once, here, with 3
  logical CPUs so that the three actors exist at once; only one federation runs at a time);
- ``websocket``: 20 local UE processes (``launch_local``), asked concurrently, 1 thread each.

Each federation runs its rounds as a run does (:func:`syft_fl.bs_round.run_rounds`: the BS tests round r's
model while the UEs train round r + 1, which overlaps on ray and is sequential elsewhere), one federation after
another (its Ray actors must not train while another federation is timed), and is closed before the next starts.
Each figure is the median of ``--rounds`` rounds, each timed from the previous round's record to its own: one
round's training (for the virtual and websocket transports, the next round's, since their submit trains at once),
collection, merge and the BS's test. Round 0 warms up and the extra last round (nothing trains after it) is not
counted. Every federation with 1 thread must give
the same rows (checked: results do not depend on the transport). Prints ``name value unit`` lines, each round time
also as a ratio to ``virtual_default``, and the scaling of ray from 1 to 2 actors (throughput ratio).
"""
import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from syft_fl.config import load_config  # noqa: E402
from syft_fl.bs_round import StrategyState, run_rounds  # noqa: E402
from syft_fl.experiment import build_federation  # noqa: E402
from syft_fl.records import fmt  # noqa: E402

BASE = ["num_ues=20", "ues_per_round=20", "train_size=4000", "partition=iid", "model=cnn", "local_epochs=1",
        "batch_size=20", "deadline_s=1000", "increment_window_s=100"]


def variants(default_threads):
    return OrderedDict([
        ("virtual_default", [f"torch_threads={default_threads}"]),
        ("virtual_1t", ["torch_threads=1"]),
        ("ray_1a", ["torch_threads=1", "transport=ray", "ray.num_actors=1"]),
        ("ray_2a", ["torch_threads=1", "transport=ray", "ray.num_actors=2"]),
        ("websocket", ["torch_threads=1", "transport=websocket", "launch_local=20"]),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (between a warm-up and a last round)")
    parser.add_argument("--skip", nargs="*", default=[], help="variants to leave out (e.g. websocket)")
    args = parser.parse_args(argv)
    default_threads = torch.get_num_threads()
    print(f"cpus {os.cpu_count()} -")
    print(f"torch_default_threads {default_threads} threads")
    from syft_fl.transport.ray_actors import init_ray

    init_ray(None, num_cpus=3)  # logical CPUs: ray_1a's actor (1) and ray_2a's two (1 each) exist at once
    times, rows = OrderedDict(), {}
    try:
        for name, extra in variants(default_threads).items():
            if name in args.skip:
                continue
            config = load_config(None, BASE + extra, strategies=["tiered"])
            started = time.perf_counter()
            fed = build_federation(config)
            print(f"setup_{name} {time.perf_counter() - started:.2f} s", flush=True)
            times[name], rows[name] = [], []
            try:
                torch.set_num_threads(config.torch_threads)
                state = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))
                started = time.perf_counter()
                for row, uplinks in run_rounds(fed, config.strategies["tiered"], state, args.rounds + 2):
                    elapsed, started = time.perf_counter() - started, time.perf_counter()
                    if 0 < row.round <= args.rounds:
                        times[name].append(elapsed)
                    rows[name].append([[fmt(v) for v in dataclasses.astuple(r)] for r in [row] + uplinks])
                    print(f"round_{row.round}_{name} {elapsed:.3f} s (trained {row.n_selected - row.n_dropped})",
                          flush=True)
            finally:
                fed.transport.close()
    finally:
        import ray

        ray.shutdown()
    median = {name: statistics.median(t) for name, t in times.items()}
    ref = median.get("virtual_default")
    for name, value in median.items():
        print(f"round_time_{name} {value:.3f} s")
        if ref:
            print(f"ratio_{name}_vs_virtual_default {value / ref:.3f} -")
    if "ray_1a" in median and "ray_2a" in median:
        print(f"ray_2a_throughput_vs_ray_1a {median['ray_1a'] / median['ray_2a']:.3f} x")
    one_thread = [n for n in rows if n != "virtual_default"]
    same = all(rows[n] == rows[one_thread[0]] for n in one_thread[1:])
    print(f"identical_rows_1_thread {int(same)} -")
    if ref and "ray_2a" in median:
        print(f"ratio {median['ray_2a'] / ref:.3f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
