"""Codec throughput and the FedAvg-CNN tier table.

Throughput: encode and decode (all tiers) of a float32 state dict of ``--mb`` MB (default 100) for ``full``,
``float:16+16``, ``uniform:2+2+4`` and ``uniform:8,block=256``, in GB/s of float32 input, each also as a ratio to
``numpy.copy`` of the same arrays timed in the same run, and to a string-based splitter (per element ``repr()``, the
first 6 characters in tier 0, the rest in tier 1: the seed's first idea) timed on a 100,000-element sample and
scaled. Each figure is the median of ``--repeats`` runs after one warm-up. One ``name value unit`` line per figure.

``--table`` also prints the README table: bytes per tier and the relative L2 error of a reconstructed update of the
FedAvg CNN (1,663,370 parameters) after each tier. The update is the difference between the model after 5 SGD steps
(lr 0.05, batches of 50 random 28x28 images with random labels) and the initial model (seed 0).

It then prints the options table on REAL updates: the default config's data (mnist5k, its seeded shards) and
initial FedAvg CNN (``syft_fl.models``, seed derived as in a run); UEs 0-7 each train one local epoch (200 samples,
batches of 20: 10 SGD steps at lr 0.05, as in the default run's first round) and upload local minus global, coded
with the codec seed a run derives for them. For ``uniform:2+2+4,block=256`` under every rounding x reconstruction
option: the relative L2 error ||x^ - x|| / ||x|| after the base and each tier, of one update (mean over the UEs)
and of the UEs' mean update (what FedAvg adds: independent errors average out there, a bias does not); the share
of exact zeros in the updates and the share of them still exactly zero after the base.

    .venv/bin/python benchmarks/bench_codec.py [--mb 100] [--repeats 5] [--table]
"""
import argparse
import os
import statistics
import sys
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Sequence

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from syft_fl import codec  # noqa: E402

SPECS = ["full", "float:16+16", "uniform:2+2+4", "uniform:8,block=256"]
TABLE_SPECS = ["full", "float:16+16", "uniform:4+4+8", "uniform:2+2+4", "uniform:2+2+4,block=256"]


def median_s(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time [s] of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def big_state(megabytes: float) -> "OrderedDict[str, torch.Tensor]":
    """Five weight matrices and their biases, float32, ``megabytes`` MB in all, Gaussian with per-layer scales."""
    rng = np.random.default_rng(0)
    n = int(megabytes * 1e6) // 4
    rows = [1000] * 5
    cols = [(n - sum(rows)) // (5 * 1000)] * 5
    cols[-1] += (n - sum(rows) - sum(r * c for r, c in zip(rows, cols))) // rows[-1]
    state = OrderedDict()
    for i, (r, c) in enumerate(zip(rows, cols)):
        scale = 10.0 ** -(2 + i % 3)
        state["layer{}.weight".format(i)] = torch.from_numpy((rng.standard_normal((r, c)) * scale).astype(np.float32))
        state["layer{}.bias".format(i)] = torch.from_numpy((rng.standard_normal(r) * scale).astype(np.float32))
    rest = n - sum(t.numel() for t in state.values())
    state["head.bias"] = torch.from_numpy(rng.standard_normal(rest).astype(np.float32))
    return state


def string_split_encode(values: np.ndarray) -> List[bytes]:
    text = [repr(v).encode() for v in values.tolist()]
    return [b" ".join(t[:6] for t in text), b" ".join(t[6:] for t in text)]


def string_split_decode(tiers: List[bytes]) -> np.ndarray:
    heads, tails = tiers[0].split(b" "), tiers[1].split(b" ")
    return np.array([float(h + t) for h, t in zip(heads, tails)], np.float32)


def throughput(megabytes: float, repeats: int) -> None:
    state = big_state(megabytes)
    arrays = [t.numpy() for t in state.values()]
    nbytes = sum(a.nbytes for a in arrays)
    print("state.bytes {} B".format(nbytes))
    print("state.tensors {} count".format(len(arrays)))
    copy_gbps = nbytes / median_s(lambda: [np.copy(a) for a in arrays], repeats) / 1e9
    print("numpy.copy {:.3f} GB/s".format(copy_gbps))

    sample = arrays[0].ravel()[:100_000]
    split = string_split_encode(sample)
    assert np.array_equal(string_split_decode(split), sample)
    string: Dict[str, float] = {
        "encode": sample.nbytes / median_s(lambda: string_split_encode(sample), repeats) / 1e9,
        "decode": sample.nbytes / median_s(lambda: string_split_decode(split), repeats) / 1e9,
    }
    for op, gbps in string.items():
        print("string_split.{} {:.6f} GB/s".format(op, gbps))
    for spec in SPECS:
        for op, gbps in codec_gbps(state, spec, nbytes, repeats).items():
            print("{}.{} {:.3f} GB/s".format(spec, op, gbps))
            print("{}.{}.vs_numpy_copy {:.3f} x".format(spec, op, gbps / copy_gbps))
            print("{}.{}.vs_string_split {:.0f} x".format(spec, op, gbps / string[op]))


def codec_gbps(state: "OrderedDict[str, torch.Tensor]", spec: str, nbytes: int, repeats: int) -> Dict[str, float]:
    """Encode and decode (all tiers) throughput [GB/s of float32 input]."""
    tiers = codec.encode_tiers(state, spec)
    print("{}.bytes {} B".format(spec, sum(len(t) for t in tiers)))
    return {
        "encode": nbytes / median_s(lambda: codec.encode_tiers(state, spec), repeats) / 1e9,
        "decode": nbytes / median_s(lambda: codec.decode_tiers(tiers), repeats) / 1e9,
    }


class FedAvgCNN(torch.nn.Module):
    """McMahan et al.'s CNN: conv5x5 1->32 pad 2, maxpool 2, conv5x5 32->64 pad 2, maxpool 2, fc 3136->512, fc->10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = torch.nn.Linear(3136, 512)
        self.fc2 = torch.nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def cnn_update(steps: int = 5) -> "OrderedDict[str, torch.Tensor]":
    """Local minus global after ``steps`` SGD steps on random data (seed 0)."""
    torch.manual_seed(0)
    model = FedAvgCNN()
    start = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        x, y = torch.randn(50, 1, 28, 28), torch.randint(0, 10, (50,))
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return OrderedDict((k, v - start[k]) for k, v in model.state_dict().items())


def table() -> None:
    update = cnn_update()
    n = sum(v.numel() for v in update.values())
    assert n == 1_663_370, n
    flat = torch.cat([v.flatten() for v in update.values()]).double()
    full = len(codec.encode_tiers(update, "full")[0])
    print()
    print("| spec | tiers received | tier bytes | cumulative bytes | % of `full` | relative L2 error of the update |")
    print("|---|---|---:|---:|---:|---:|")
    for spec in TABLE_SPECS:
        tiers = codec.encode_tiers(update, spec)
        total = 0
        for j, tier in enumerate(tiers):
            total += len(tier)
            decoded = codec.decode_tiers(tiers[: j + 1])
            error = torch.cat([decoded[k].flatten() for k in update]).double() - flat
            print(
                "| `{}` | {} | {:,} | {:,} | {:.1f} | {:.2e} |".format(
                    spec, "0.." + str(j) if j else "0", len(tier), total, 100 * total / full,
                    (error.norm() / flat.norm()).item(),
                )
            )  # fmt: skip


OPTION_SPEC = "uniform:2+2+4,block=256"
OPTIONS = [(r, c) for r in ("truncate", "stochastic") for c in ("midpoint", "truncate", "deadzone")]
OPTION_UES = tuple(range(8))  # the default run's UEs per round


def real_updates(ues: Sequence[int] = OPTION_UES) -> List["OrderedDict[str, torch.Tensor]"]:
    """Local minus global after the default run's first local epoch of UEs ``ues`` (real mnist5k shards)."""
    from syft_fl.config import Config
    from syft_fl.data import load_split, ue_shards
    from syft_fl.models import build_model
    from syft_fl.rng import derive_seed
    from syft_fl.training import local_train

    cfg = Config()
    dataset, indices = load_split(cfg)
    shards = ue_shards(dataset, indices)
    updates = []
    for ue in ues:
        model = build_model(cfg.model, in_channels=dataset.x_train.shape[1], num_classes=dataset.num_classes,
                            seed=derive_seed(cfg.seed, "init"))
        start = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
        x, y = shards[ue]
        local_train(model, x, y, epochs=cfg.local_epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                    seed=derive_seed(cfg.seed, "train", 0, ue))
        updates.append(OrderedDict((k, v - start[k]) for k, v in model.state_dict().items()))
    return updates


def flat(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.flatten() for v in state.values()]).double()


def option_row(updates: Sequence[torch.Tensor], states: Sequence[Mapping], spec: str) -> Dict[str, List[float]]:
    """Per prefix: mean relative L2 error of one update, relative L2 error of the UEs' mean update (the FedAvg
    aggregate: independent errors average out, a bias does not), and the share of exact zeros kept (base only)."""
    from syft_fl.rng import derive_seed

    per_ue, sums, kept = [], None, []
    for ue, (x, state) in enumerate(zip(updates, states)):
        tiers = codec.encode_tiers(state, spec, seed=derive_seed(0, "codec", 0, ue))
        decoded = [flat(codec.decode_tiers(tiers[: j + 1])) for j in range(len(tiers))]
        per_ue.append([((d - x).norm() / x.norm()).item() for d in decoded])
        sums = decoded if sums is None else [a + d for a, d in zip(sums, decoded)]
        kept.append((decoded[0][x == 0] == 0).double().mean().item())
    mean = sum(updates) / len(updates)
    return {
        "update": list(np.mean(per_ue, axis=0)),
        "aggregate": [((d / len(updates) - mean).norm() / mean.norm()).item() for d in sums],
        "kept": [float(np.mean(kept))],
    }


def options_table() -> None:
    start = time.perf_counter()
    states = real_updates()
    updates = [flat(u) for u in states]
    zero_share = [(x == 0).double().mean().item() for x in updates]
    print()
    print("real updates: UEs {}-{} of the default run, round 0; exact zeros {:.1%} of the entries ({:.1%}-{:.1%})"
          .format(OPTION_UES[0], OPTION_UES[-1], np.mean(zero_share), min(zero_share), max(zero_share)))
    print("| `{}` rounding | reconstruction | rel. L2 error of one update: base / base+1 / all | of the {}-UE mean: "
          "base / base+1 / all | zeros kept by the base |".format(OPTION_SPEC, len(OPTION_UES)))
    print("|---|---|---:|---:|---:|")
    for rounding, reconstruction in OPTIONS:
        spec = codec.TierSpec("uniform", (2, 2, 4), 256, rounding, reconstruction)
        row = option_row(updates, states, spec.text)
        print("| {} | {} | {} | {} | {:.1%} |".format(
            rounding, reconstruction, " / ".join("{:.4f}".format(e) for e in row["update"]),
            " / ".join("{:.4f}".format(e) for e in row["aggregate"]), row["kept"][0]))
        for name in ("update", "aggregate"):
            for j, e in enumerate(row[name]):
                print("option_rel_l2_{}_{}_{}_tier{} {:.6f} -".format(name, rounding, reconstruction, j, e))
    print("options_table_wall {:.1f} s".format(time.perf_counter() - start))


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=100.0, help="state size [MB]")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--table", action="store_true", help="also print the FedAvg-CNN tier table")
    args = parser.parse_args(argv)
    print("threads {} count".format(codec.parallel.THREADS))
    print("glibc_tunables {} -".format(os.environ.get("GLIBC_TUNABLES", "unset") or "unset"))
    throughput(args.mb, args.repeats)
    if args.table:
        table()
        options_table()


if __name__ == "__main__":
    main(sys.argv[1:])
