#!/usr/bin/env python
"""Memory over rounds and set-up cost over cell size: does a run stay flat in rounds and linear in UEs?

``memory``: one strategy (``tiered``) of a run with ``--ues`` UEs, ``--per-round`` of them selected per round, the
CNN, on ``--transport`` (virtual | ray). After each round it reads the memory of the whole process tree (this
process and every descendant: Ray's processes and actors) from /proc: the sum of RSS, and the sum of PSS (shared
pages split between the processes sharing them, so the sum does not count them twice); a thread samples the same
every 0.25 s for the peak. The rounds run as a run runs them (pipelined: the BS tests round r while round r + 1
trains). Prints per checkpoint round the tree's RSS and PSS (GiB) and the mean wall time per round since the last
checkpoint (from one round's record to the next).

``setup``: for each ``--ues`` N, builds the transport (virtual with synthetic 4-sample shards, so N may exceed the
5,000 samples of mnist5k; ray with the run's own split of ``--dataset``) and places the shards (s, and ms per UE),
then runs one round of ``--per-round`` UEs (``dispatch`` only: delivery of the broadcast, training, encoding,
upload) and prints its ms per UE: it must not grow with N.

Prints ``name value unit`` lines; ``memory`` ends with ``ratio <last/first checkpoint PSS>``, ``setup`` with
``ratio <ms per UE of set-up at the largest N / at the smallest>``.
"""
import argparse
import os
import sys
import threading
import time
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from syft_fl.config import load_config  # noqa: E402
from syft_fl.bs_round import StrategyState, run_rounds  # noqa: E402
from syft_fl.experiment import build_federation  # noqa: E402
from syft_fl.models import build_model  # noqa: E402
from syft_fl.procs import descendants  # noqa: E402
from syft_fl.transport import RoundTask  # noqa: E402

GIB = 2.0 ** 30


def tree_memory_bytes(root: int):
    """(sum of RSS, sum of PSS) of the process tree under ``root``, in bytes."""
    rss = pss = 0
    for pid in [root] + descendants(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


class PeakSampler(threading.Thread):
    """Samples the tree's memory every ``period_s`` and keeps the peaks (bytes)."""

    def __init__(self, period_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.period_s = period_s
        self.peak_rss = self.peak_pss = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            rss, pss = tree_memory_bytes(os.getpid())
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self._stop_event.wait(self.period_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def memory(args) -> None:
    config = load_config(None, [f"num_ues={args.ues}", f"ues_per_round={args.per_round}", "model=cnn",
                                "partition=iid", "torch_threads=1", f"transport={args.transport}",
                                f"rounds={args.rounds}"], strategies=["tiered"])
    checkpoints = sorted(set(args.checkpoints))
    sampler = PeakSampler()
    sampler.start()
    started = time.perf_counter()
    fed = build_federation(config)
    print(f"setup {time.perf_counter() - started:.2f} s", flush=True)
    state = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))
    first = None
    try:
        round_times = []
        started = time.perf_counter()
        for row, _ in run_rounds(fed, config.strategies["tiered"], state, max(checkpoints)):
            rnd = row.round
            round_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            if rnd + 1 in checkpoints:
                rss, pss = tree_memory_bytes(os.getpid())
                first = pss if first is None else first
                done = rnd + 1
                print(f"after_round_{done}_tree_rss {rss / GIB:.3f} GiB", flush=True)
                print(f"after_round_{done}_tree_pss {pss / GIB:.3f} GiB", flush=True)
                print(f"after_round_{done}_peak_tree_rss {sampler.peak_rss / GIB:.3f} GiB", flush=True)
                print(f"after_round_{done}_peak_tree_pss {sampler.peak_pss / GIB:.3f} GiB", flush=True)
                print(f"after_round_{done}_wall_per_round {sum(round_times) / len(round_times):.3f} s "
                      f"(trained {row.n_selected - row.n_dropped - row.n_crashed})", flush=True)
                round_times = []
    finally:
        fed.transport.close()
        sampler.stop()
    print(f"ratio {pss / first:.3f}")


def setup(args) -> None:
    from syft_fl.workers import get_hook

    get_hook()  # hooking torch (once per process, ~1-3 s) is not a per-UE cost
    per_ue = {}
    for n in args.ues:
        if args.transport == "virtual":
            from syft_fl.transport.virtual import VirtualTransport

            gen = torch.Generator()
            gen.manual_seed(0)
            shards = [(torch.randn(4, 1, 28, 28, generator=gen), torch.randint(0, 10, (4,), generator=gen))
                      for _ in range(n)]
            started, cpu = time.perf_counter(), time.process_time()
            transport = VirtualTransport(n)
            transport.place_data(shards)
        else:
            from syft_fl.data import load_split, ue_shards
            from syft_fl.transport import make_transport

            config = load_config(None, [f"num_ues={n}", f"ues_per_round={min(n, args.per_round)}", "partition=iid",
                                        f"model={args.model}", "transport=ray", "torch_threads=1",
                                        f"dataset={args.dataset}", f"train_size={max(4000, n)}", "test_size=100"])
            dataset, indices = load_split(config)
            shards = ue_shards(dataset, indices)
            started, cpu = time.perf_counter(), time.process_time()
            transport = make_transport(config)
            transport.place_data(shards)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        per_ue[n] = 1e3 * elapsed / n
        print(f"setup_{args.transport}_{n}_ues {elapsed:.3f} s (this process's CPU: {cpu:.3f} s)", flush=True)
        print(f"setup_per_ue_{args.transport}_{n}_ues {per_ue[n]:.3f} ms", flush=True)
        try:
            state = OrderedDict((k, v.detach()) for k, v in build_model(args.model, seed=1).state_dict().items())
            ues = list(range(0, n, max(1, n // args.per_round)))[:args.per_round]
            tasks = [RoundTask(round=0, ue=k, model=args.model, epochs=1, batch_size=20, lr=0.05, train_seed=k,
                               spec="uniform:2+2+4,block=256", codec_seed=k, payload="delta") for k in ues]
            transport.broadcast(state, 0, ues)
            started, cpu = time.perf_counter(), time.process_time()
            reports = transport.dispatch(tasks)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert not any(r.crash for r in reports), [r.crash for r in reports if r.crash][:1]
            for k, report in zip(ues, reports):
                transport.discard_tiers(k, 0, len(report.tier_bytes))
            print(f"round_per_ue_{args.transport}_{n}_ues {1e3 * elapsed / len(tasks):.2f} ms (this process's CPU: "
                  f"{1e3 * cpu / len(tasks):.2f} ms)", flush=True)
        finally:
            transport.close()
    print(f"ratio {per_ue[max(per_ue)] / per_ue[min(per_ue)]:.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    mem = sub.add_parser("memory")
    mem.add_argument("--transport", choices=("virtual", "ray"), default="virtual")
    mem.add_argument("--ues", type=int, default=1000)
    mem.add_argument("--per-round", type=int, default=100)
    mem.add_argument("--checkpoints", type=int, nargs="+", default=[2, 10, 30], help="rounds after which to measure")
    mem.add_argument("--rounds", type=int, default=30)
    st = sub.add_parser("setup")
    st.add_argument("--transport", choices=("virtual", "ray"), default="virtual")
    st.add_argument("--ues", type=int, nargs="+", default=[20, 1000, 10000])
    st.add_argument("--per-round", type=int, default=20)
    st.add_argument("--model", default="2nn")
    st.add_argument("--dataset", default="mnist5k", help="ray only: the data set the actors split (mnist5k has 5,000 "
                    "samples; fashion_mnist's 60,000 allow 10,000 UEs)")
    args = parser.parse_args(argv)
    memory(args) if args.what == "memory" else setup(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
