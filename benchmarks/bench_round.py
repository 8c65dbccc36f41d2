#!/usr/bin/env python
"""Wall time of one federated round through syft-fl vs the same FedAvg round in plain torch, same process.

syft-fl round: 10 UEs (of 10), 1 local epoch of 400 MNIST digits each, FedAvg CNN, the `tiered` strategy
(uniform:2+2+4,block=256 tiers encoded on the UE and sent as syft messages, metered, charged on the channel), BS merge,
FedAvg and test. Reference: the same local training (same code, same minibatches) for the same 10 UEs, FedAvg of
the full-precision updates and the same test, with no syft, no codec and no channel.

Robust to a shared machine: each round is a pair (one syft-fl round, one reference round, back to back) and the
order alternates from pair to pair (syft-fl first in odd rounds, the reference first in even ones), so neither
path always runs in the other's wake; each pair gives a ratio (syft-fl / reference) measured under the same load,
and the median of those per-pair ratios is reported with its spread (min, quartiles, max). Per-path medians are
printed too, for scale. Prints `name value unit` lines; the last line is `ratio <value>` (the median per-pair
ratio). `--pointers` also times the op-by-op pointer path.
"""
import argparse
import os
import statistics
import sys
import time
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from syft_fl import aggregate  # noqa: E402
from syft_fl.config import load_config  # noqa: E402
from syft_fl.bs_round import StrategyState, run_round  # noqa: E402
from syft_fl.federation import build_federation  # noqa: E402
from syft_fl.models import build_model  # noqa: E402
from syft_fl.rng import derive_seed  # noqa: E402
from syft_fl.training import evaluate, local_train  # noqa: E402

SETTINGS = ["num_ues=10", "ues_per_round=10", "local_epochs=1", "partition=iid", "model=cnn",
            "deadline_s=1000", "increment_window_s=100"]


def reference_round(fed, state, rnd):
    """Plain-torch FedAvg: the same local training of the same UEs, no syft, no codec, no channel."""
    cfg = fed.config
    model = build_model(cfg.model)
    deltas, weights = [], []
    for ue in fed.selected(rnd):
        x, y = fed.shards[ue]
        model.load_state_dict(state)
        local_train(model, x, y, epochs=cfg.local_epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                    seed=derive_seed(cfg.seed, "train", rnd, ue))
        deltas.append(aggregate.difference(model.state_dict(), state))
        weights.append(len(x))
    new_state = aggregate.apply_update(state, aggregate.weighted_mean(deltas, weights), cfg.server_lr)
    fed.test_model.load_state_dict(new_state)
    evaluate(fed.test_model, fed.x_test, fed.y_test)
    return new_state


def time_rounds(training, rounds):
    """(syft-fl round times, reference round times) of ``rounds`` pairs after a warm-up pair, in alternating order."""
    config = load_config(None, SETTINGS + [f"training={training}"], strategies=["tiered"])
    fed = build_federation(config)
    strategy = config.strategies["tiered"]
    st = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))
    ref_state = OrderedDict(fed.initial_state)
    syft_s, ref_s = [], []

    def syft_round(rnd):
        t0 = time.perf_counter()
        run_round(fed, strategy, st, rnd)
        return time.perf_counter() - t0

    def plain_round(rnd):
        nonlocal ref_state
        t0 = time.perf_counter()
        ref_state = reference_round(fed, ref_state, rnd)
        return time.perf_counter() - t0

    try:
        for rnd in range(rounds + 1):  # pair 0 warms both paths up and is not counted
            if rnd % 2:
                s, r = syft_round(rnd), plain_round(rnd)
            else:
                r = plain_round(rnd)
                s = syft_round(rnd)
            if rnd:
                syft_s.append(s)
                ref_s.append(r)
    finally:
        fed.transport.close()
    return syft_s, ref_s


def report(prefix, syft_s, ref_s):
    """Per-path medians, then the per-pair ratios' median and spread; returns the median ratio."""
    ratios = sorted(s / r for s, r in zip(syft_s, ref_s))
    q1, q3 = np.percentile(ratios, [25, 75])
    print(f"{prefix}round {statistics.median(syft_s):.3f} s")
    print(f"{prefix}reference_round {statistics.median(ref_s):.3f} s")
    print(f"{prefix}pair_ratios {' '.join(f'{x:.3f}' for x in ratios)} -")
    print(f"{prefix}ratio_spread min {ratios[0]:.3f} q1 {q1:.3f} q3 {q3:.3f} max {ratios[-1]:.3f}")
    return statistics.median(ratios)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pointers", action="store_true", help="also time training: pointers")
    args = parser.parse_args()
    print(f"torch_threads {torch.get_num_threads()} threads")
    if args.pointers:
        ratio = report("pointers_", *time_rounds("pointers", max(2, args.rounds // 2)))
        print(f"pointers_ratio {ratio:.3f}")
    ratio = report("syft_fl_", *time_rounds("worker", args.rounds))
    print(f"ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
