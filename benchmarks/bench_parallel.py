#!/usr/bin/env python
"""Wall time of one federated round: UEs trained in turn (virtual) vs in parallel (ray actors, websocket UEs).

One config (FedAvg, CNN, 20 UEs per round with 200 samples each, strategy ``tiered`` = ``uniform:2+2+4``, a
deadline long enough that every UE trains and uploads), five federations built in this process:

- ``virtual_default``: virtual transport, torch's default intra-op threads;
- ``virtual_1t``: virtual, ``torch_threads=1``;
- ``ray_1a`` / ``ray_2a``: ``transport: ray`` with 1 and 2 actors, 1 thread each (Ray started once, here, with 3
  logical CPUs so that the three actors exist at once; only one federation runs at a time);
- ``websocket``: 20 local UE processes (``launch_local``), asked concurrently, 1 thread each.

Rounds alternate between the federations so that all see the same machine state; round 0 warms up and is not
counted; each figure is the median of the next ``--rounds`` rounds (the whole round: broadcast, training, upload,
merge, the BS's test). Every federation with 1 thread must give the same rows (checked: results do not depend on
the transport). Prints ``name value unit`` lines, each round time also as a ratio to ``virtual_default``, and
the scaling of ray from 1 to 2 actors (throughput ratio).
"""
import argparse
import os
import statistics
import sys
import time
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from syft_fl.config import load_config  # noqa: E402
from syft_fl.experiment import StrategyState, build_federation, fmt, run_round  # noqa: E402

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
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (after one warm-up round)")
    parser.add_argument("--skip", nargs="*", default=[], help="variants to leave out (e.g. websocket)")
    args = parser.parse_args(argv)
    default_threads = torch.get_num_threads()
    print(f"cpus {os.cpu_count()} -")
    print(f"torch_default_threads {default_threads} threads")
    from syft_fl.transport.ray_actors import init_ray

    init_ray(None, num_cpus=3)  # logical CPUs: ray_1a's actor (1) and ray_2a's two (1 each) exist at once
    feds, states, times, rows = OrderedDict(), {}, {}, {}
    try:
        for name, extra in variants(default_threads).items():
            if name in args.skip:
                continue
            config = load_config(None, BASE + extra, strategies=["tiered"])
            started = time.perf_counter()
            feds[name] = build_federation(config)
            print(f"setup_{name} {time.perf_counter() - started:.2f} s", flush=True)
            states[name] = StrategyState(name="tiered", global_state=OrderedDict(feds[name].initial_state))
            times[name], rows[name] = [], []
        for rnd in range(args.rounds + 1):
            for name, fed in feds.items():
                torch.set_num_threads(fed.config.torch_threads)
                started = time.perf_counter()
                row, uplinks = run_round(fed, fed.config.strategies["tiered"], states[name], rnd)
                elapsed = time.perf_counter() - started
                if rnd > 0:
                    times[name].append(elapsed)
                rows[name].append([sorted((k, fmt(v)) for k, v in r.items()) for r in [row] + uplinks])
                print(f"round_{rnd}_{name} {elapsed:.3f} s (trained {row['n_selected'] - row['n_dropped']})",
                      flush=True)
    finally:
        for fed in feds.values():
            fed.transport.close()
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
