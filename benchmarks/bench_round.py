#!/usr/bin/env python
"""Wall time of one federated round through syft-fl vs the same FedAvg round in plain torch, same process.

syft-fl round: 10 UEs (of 10), 1 local epoch of 400 MNIST digits each, FedAvg CNN, the `tiered` strategy
(uniform:4+4+8 tiers encoded on the UE and sent as syft messages, metered, charged on the channel), BS merge,
FedAvg and test. Reference: the same local training (same code, same minibatches) for the same 10 UEs, FedAvg of
the full-precision updates and the same test, with no syft, no codec and no channel. Rounds alternate between the
two so that both see the same machine state; medians are reported. Prints `name value unit` lines; the last line
is `ratio <value>` (syft-fl / reference). `--pointers` also times the op-by-op pointer path.
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
    config = load_config(None, SETTINGS + [f"training={training}"], strategies=["tiered"])
    fed = build_federation(config)
    strategy = config.strategies["tiered"]
    st = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))
    ref_state = OrderedDict(fed.initial_state)
    syft_s, ref_s = [], []
    try:
        for rnd in range(rounds + 1):  # round 0 warms both paths up and is not counted
            t0 = time.perf_counter()
            run_round(fed, strategy, st, rnd)
            t1 = time.perf_counter()
            ref_state = reference_round(fed, ref_state, rnd)
            t2 = time.perf_counter()
            if rnd:
                syft_s.append(t1 - t0)
                ref_s.append(t2 - t1)
    finally:
        fed.transport.close()
    return statistics.median(syft_s), statistics.median(ref_s)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pointers", action="store_true", help="also time training: pointers")
    args = parser.parse_args()
    print(f"torch_threads {torch.get_num_threads()} threads")
    if args.pointers:
        ptr, ref = time_rounds("pointers", max(2, args.rounds // 2))
        print(f"pointers_round {ptr:.3f} s")
        print(f"pointers_reference_round {ref:.3f} s")
        print(f"pointers_ratio {ptr / ref:.3f}")
    syft_round, ref = time_rounds("worker", args.rounds)
    print(f"syft_fl_round {syft_round:.3f} s")
    print(f"reference_round {ref:.3f} s")
    print(f"ratio {syft_round / ref:.3f}")


if __name__ == "__main__":
    main()
