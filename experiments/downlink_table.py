"""The downlink study's table (docs/downlink.md): accuracy at equal simulated times and who trains, per downlink mode.

    python experiments/downlink_table.py STUDY_DIR [STUDY_DIR ...] [--reference LABEL] [--times 60,120]

Reads every finished run folder (``point-<k>/seed-<s>`` with its ``summary.json``) of the given study folders
(``experiments/run_study.py``), one strategy each, and labels each point by its downlink (``ideal``,
``unicast``, ``broadcast <spec> @ <coverage>``).
Per label, over seeds: test accuracy at equal simulated times (the last round finished by then), the mean accuracy
over the common horizon (the earliest end of any run: every run covers it), each paired with the reference label
seed by seed (paired t interval, :func:`syft_fl.stats.paired_diff`); and per round, the share of the selected UEs
that trained (uploaded anything), whose update the BS merged, the broadcast layers they decoded and the round
length. Prints a markdown table; writes nothing.
"""
import argparse
import csv
import glob
import os
import sys
from typing import Dict, List

import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from syft_fl import stats  # noqa: E402

MERGED = {"full", "partial", "base_only"}


def label_of(config: Dict) -> str:
    mode = config["downlink"]
    if mode == "broadcast":
        b = config["broadcast"]
        return f"broadcast {b['spec']} @ coverage {'/'.join(f'{c:g}' for c in b['coverage'])}"
    return {"channel": "unicast (channel)"}.get(mode, mode)


def read_run(folder: str) -> Dict:
    with open(os.path.join(folder, "config.yaml")) as fh:
        config = yaml.safe_load(fh)
    with open(os.path.join(folder, "rounds.csv")) as fh:
        rounds = list(csv.DictReader(fh))
    with open(os.path.join(folder, "uplinks.csv")) as fh:
        ups = [u for u in csv.DictReader(fh) if u["status"] != "not_selected" and u["tier"] == "0"]
    selected = len(ups)
    return dict(
        label=label_of(config), seed=int(config["seed"]), n_rounds=len(rounds),
        times=[float(r["sim_time_s"]) for r in rounds], acc=[float(r["test_acc"]) for r in rounds],
        trained=sum(int(u["bytes"]) > 0 for u in ups) / selected,
        merged=sum(u["status"] in MERGED for u in ups) / selected,
        layers=float(np.mean([int(u.get("downlink_layers", 1)) for u in ups])),
        round_s=float(np.mean([float(r["round_length_s"]) for r in rounds])),
        downlink_mb=int(rounds[-1]["downlink_bytes"]) / len(rounds) / 1e6)


def fmt(iv: stats.Interval, digits: int = 3) -> str:
    return f"{iv.mean:.{digits}f} [{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+")
    parser.add_argument("--reference", default=None, help="label the others are paired with (default: the first)")
    parser.add_argument("--times", default="60,120", help="simulated times [s] for accuracy, comma-separated")
    args = parser.parse_args(argv)
    runs = [read_run(os.path.dirname(p)) for s in args.studies
            for p in sorted(glob.glob(os.path.join(s, "point-*", "seed-*", "summary.json")))]  # finished runs
    labels = list(dict.fromkeys(r["label"] for r in runs))
    ref = args.reference or labels[0]
    horizon = min(r["times"][-1] for r in runs)
    grid = [float(t) for t in args.times.split(",")] + [horizon]
    by = {lab: sorted((r for r in runs if r["label"] == lab), key=lambda r: r["seed"]) for lab in labels}
    seeds = sorted(set.intersection(*(set(r["seed"] for r in rs) for rs in by.values())))
    by = {lab: [r for r in rs if r["seed"] in seeds] for lab, rs in by.items()}

    def metric(rs: List[Dict]) -> Dict[str, List[float]]:
        out = {f"acc@{t:g}": [float(stats.step_at(r["times"], r["acc"], [t])[0]) for r in rs] for t in grid}
        out["mean_acc"] = [stats.step_mean(r["times"], r["acc"], horizon) for r in rs]
        return out

    print(f"Seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}); common horizon {horizon:.1f} s; mean [95 % t CI] over "
          f"seeds; paired: minus `{ref}`, same seeds.\n")
    head = [f"acc at {t:g} s" for t in grid[:-1]] + [f"acc at {horizon:.0f} s", f"mean acc over {horizon:.0f} s",
                                                      f"paired mean acc - {ref}"]
    print("| downlink | " + " | ".join(head) + " | trained / selected | merged / selected | layers decoded | "
          "round s | downlink MB / round |")
    print("|---" * (len(head) + 6) + "|")
    ref_m = metric(by[ref])
    for lab in labels:
        m = metric(by[lab])
        cells = [fmt(stats.mean_ci(m[f"acc@{t:g}"])) for t in grid] + [fmt(stats.mean_ci(m["mean_acc"]))]
        cells.append("-" if lab == ref else fmt(stats.paired_diff(ref_m["mean_acc"], m["mean_acc"])))
        rs = by[lab]
        cells += [fmt(stats.mean_ci([r[k] for r in rs]), 2) for k in ("trained", "merged", "layers", "round_s")]
        cells.append(f"{np.mean([r['downlink_mb'] for r in rs]):.2f}")
        print(f"| {lab} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
