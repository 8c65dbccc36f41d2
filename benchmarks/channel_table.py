"""Per-UE rates and FedAvg-CNN upload times in the default cell, as a markdown table.

    .venv/bin/python benchmarks/channel_table.py [--ues 100] [--rounds 10] [--seed 0]

Rates are pooled over ``--ues`` UEs x ``--rounds`` rounds of the default ``ChannelConfig``
(500 m cell, 128.1 + 37.6 log10(d_km) dB, 8 dB shadowing, Rayleigh, 10 dBm, 1 MHz per UE). Upload
times are the back-to-back air times of each spec's tiers; statistics are over the UE-rounds not in
outage (the outage share is a column). Tier bytes come from ``syft_fl.codec.tier_sizes`` when it
exists and works on the FedAvg CNN, else from the figures of the channel issue; both add 370 B of
syft message framing per tier. A second table gives the share of UE-rounds whose tiers make a
deadline, with the default compute model (``--samples`` samples x ``--epochs`` epochs). Ends with
``name value unit`` lines.
"""

import argparse
import math
import os
import sys
from collections import OrderedDict
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script

from syft_fl.channel import Channel, ChannelConfig  # noqa: E402
from syft_fl.compute import Compute, ComputeConfig  # noqa: E402
from syft_fl.policy import arrival_times_s, receive  # noqa: E402

SPECS = ("full", "uniform:8", "uniform:4+4+8")
FRAMING_B = 370  # syft message framing per tier
HEADER_B = 200  # tier header (spec, shapes, names)
SCALE_B_PER_TENSOR = 8  # float32 scale + offset per tensor for uniform quantisation
FEDAVG_CNN_SHAPES = OrderedDict(
    [
        ("conv1.weight", (32, 1, 5, 5)),
        ("conv1.bias", (32,)),
        ("conv2.weight", (64, 32, 5, 5)),
        ("conv2.bias", (64,)),
        ("fc1.weight", (512, 3136)),
        ("fc1.bias", (512,)),
        ("fc2.weight", (10, 512)),
        ("fc2.bias", (10,)),
    ]
)
N_PARAMS = sum(int(np.prod(s)) for s in FEDAVG_CNN_SHAPES.values())
assert N_PARAMS == 1_663_370


def issue_tier_bytes(spec: str) -> List[int]:
    """Tier payloads as given in the channel issue: full 4 B/param, uniform b bits/param."""
    if spec == "full":
        return [4 * N_PARAMS + HEADER_B]
    bits = [int(b) for b in spec.split(":")[1].split(",")[0].split("+")]
    header = HEADER_B + SCALE_B_PER_TENSOR * len(FEDAVG_CNN_SHAPES)
    return [N_PARAMS * b // 8 + header for b in bits]


def tier_bytes_source() -> Tuple[Callable[[str], List[int]], str]:
    """``codec.tier_sizes`` on a FedAvg-CNN-shaped state if it works, else the issue's figures."""
    try:
        from syft_fl import codec

        rng = np.random.default_rng(0)
        state = OrderedDict(
            (k, rng.standard_normal(s).astype(np.float32)) for k, s in FEDAVG_CNN_SHAPES.items()
        )
        sizes = {spec: [int(b) for b in codec.tier_sizes(spec, state)] for spec in SPECS}
        return (lambda spec: sizes[spec]), "syft_fl.codec.tier_sizes on the FedAvg CNN"
    except ImportError:
        return issue_tier_bytes, "the issue's figures (no syft_fl.codec.tier_sizes)"
    except Exception as err:  # noqa: BLE001 -- any failure means: use the documented figures
        reason = "{}: {}".format(type(err).__name__, err).splitlines()[0][:80]
        return issue_tier_bytes, "the issue's figures (codec.tier_sizes unavailable: {})".format(
            reason
        )


def stats(values: Sequence[float]) -> List[float]:
    finite = np.array([v for v in values if math.isfinite(v)])
    if finite.size == 0:
        return [math.nan] * 5
    return list(np.percentile(finite, [0, 10, 50, 90, 100]))


def fmt(x: float, digits: int = 2) -> str:
    return "inf" if math.isinf(x) else "{:.{}f}".format(x, digits)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ues", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--window-s", type=float, default=3.0)
    args = parser.parse_args(list(argv))

    channel = Channel(ChannelConfig(), num_ues=args.ues, seed=args.seed)
    compute = Compute(ComputeConfig(), num_ues=args.ues, seed=args.seed)
    tier_bytes, source = tier_bytes_source()
    sizes = {spec: [b + FRAMING_B for b in tier_bytes(spec)] for spec in SPECS}
    cases = [(u, r) for u in range(args.ues) for r in range(args.rounds)]

    rates = [channel.rate_bps(u, r) for u, r in cases]
    outage = float(np.mean([x == 0.0 for x in rates]))
    rows = [("rate (Mbit/s)", "-", [x / 1e6 for x in rates if x > 0])]
    uploads: Dict[str, List[List[float]]] = {}
    for spec in SPECS:
        cum = [arrival_times_s(0.0, channel.transmit_times_s(sizes[spec], u, r)) for u, r in cases]
        uploads[spec] = cum
        names = ["base", "base + 1 increment", "all 3 tiers"] if len(sizes[spec]) == 3 else [""]
        for j, name in enumerate(names):
            label = "upload {}{} (s)".format(spec, ", " + name if name else "")
            rows.append((label, "{:,}".format(sum(sizes[spec][: j + 1])), [c[j] for c in cum]))
    train = [compute.train_time_s(u, args.samples, args.epochs) for u, _ in cases]

    title = "Default cell: {} UEs x {} rounds, seed {}; tier bytes from {}; +{} B framing per tier."
    print(title.format(args.ues, args.rounds, args.seed, source, FRAMING_B))
    print()
    print("| quantity | bytes | min | p10 | median | p90 | max | outage |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, nbytes, values in rows:
        cells = " | ".join(fmt(v) for v in stats(values))
        print("| {} | {} | {} | {:.1%} |".format(label, nbytes, cells, outage))
    cells = " | ".join(fmt(v) for v in stats(train))
    print(
        "| local training, {} samples x {} epoch (s) | - | {} | - |".format(
            args.samples, args.epochs, cells
        )
    )

    print()
    print("Share of UE-rounds (training + upload, from the broadcast) meeting the deadline D;")
    print("tiered: base by D, and all three tiers by D + {:g} s.".format(args.window_s))
    print()
    near = np.array([channel.distances_m[u] <= 250.0 for u, _ in cases])
    print(
        "| D (s) | full | full, d <= 250 m | full, d > 250 m | uniform:8 | 4+4+8 base "
        "| 4+4+8 all tiers |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for deadline in (8.0, 10.0, 12.0, 15.0, 20.0, 30.0):
        shares = []
        for spec in SPECS:
            arrivals = [[t + c for c in cum] for t, cum in zip(train, uploads[spec])]
            out = receive(arrivals, deadline_s=deadline, increment_window_s=args.window_s)
            kept = np.array([r.tiers_used > 0 for r in out.receptions])
            shares.append(kept.mean())
            if spec == "full":
                shares += [kept[near].mean(), kept[~near].mean()]
            if len(sizes[spec]) > 1:
                shares.append(np.mean([r.status == "full" for r in out.receptions]))
        print("| {:g} | {} |".format(deadline, " | ".join("{:.0%}".format(s) for s in shares)))

    print()
    median = {spec: stats([c[-1] for c in uploads[spec]])[2] for spec in SPECS}
    print("rate_median_outside_outage {:.3f} Mbit/s".format(stats(rows[0][2])[2]))
    print("outage_share {:.4f} fraction".format(outage))
    for spec in SPECS:
        print("upload_median_{} {:.3f} s".format(spec.replace(":", "_"), median[spec]))
    print(
        "upload_median_ratio_full_over_uniform_8 {:.3f} x".format(
            median["full"] / median["uniform:8"]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
