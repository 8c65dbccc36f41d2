"""A study's plots: accuracy vs simulated time with a 95 % CI band per point, and the ratio heatmap of a 2-D sweep."""
import math
import os
import re
from typing import Any, Dict, List, Sequence, Tuple

import matplotlib
import numpy as np

from . import stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GRID_POINTS = 400


def plot_accuracy(data: Any, point: Any, path: str) -> str:
    """Mean test accuracy vs simulated time per strategy over the seeds, with its 95 % t band.

    Each seed's accuracy is a step curve (the last round finished by a time), read on a common grid from 0 to the
    strategy's shortest horizon over the seeds, so the band never mixes seeds that have stopped with running ones.
    A seed where the strategy's training diverged is left out (the legend's n counts the seeds shown).
    The band is drawn clipped to [0, 1] (a t interval of an accuracy can reach past either end with few seeds).
    """
    study = data.study
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in study.strategies:
        curves = [data.curves[(point.index, seed, name)] for seed in study.seeds
                  if (point.index, seed, name) not in data.diverged]
        if not curves:  # diverged in every seed
            continue
        horizon = min(float(c.sim_time_s[-1]) for c in curves)
        grid = np.linspace(0.0, horizon, GRID_POINTS)
        matrix = np.vstack([stats.step_at(c.sim_time_s, c.test_acc, grid) for c in curves])
        mean, low, high = stats.t_ci_columns(matrix)
        line, = ax.plot(grid, mean, label=f"{name} (n={len(curves)})", drawstyle="steps-post")
        ax.fill_between(grid, np.clip(low, 0, 1), np.clip(high, 0, 1), color=line.get_color(), alpha=0.2,
                        step="post", linewidth=0)
    target = study.target_accuracy
    ax.axhline(target, color="k", linestyle=":", linewidth=1, label=f"target {target:.2f}")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("test accuracy (mean, 95 % CI over seeds)")
    ax.set_title(point.label, fontsize=9, loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_heatmap(data: Any, pair_table: Sequence[Dict[str, Any]], pair: Tuple[str, str], path: str) -> str:
    """Heatmap over the 2-D sweep of the paired time-to-target ratio b / a (first crossing and sustained).

    The colour is log2 of the geometric-mean ratio (blue: b faster, red: b slower); each cell prints the ratio,
    a ``*`` (and a black frame) when its 95 % CI excludes 1, and the number of seeds where both reached the target.
    """
    study = data.study
    a, b = pair
    rows, cols = study.sweeps
    found = {(r["point"], r["metric"]): r for r in pair_table if (r["a"], r["b"]) == (a, b) and r["stat"] == "ratio"}
    fig, axes = plt.subplots(1, 2, figsize=(5.2 + 1.1 * 2 * len(cols.values), 1.2 + 0.8 * len(rows.values)),
                             squeeze=False)
    for ax, (metric, title) in zip(axes[0], (("time_to_target_s", "first crossing"),
                                             ("sustained_time_s", "sustained"))):
        ratio = np.full((len(rows.values), len(cols.values)), np.nan)
        for i in range(len(rows.values)):
            for j in range(len(cols.values)):
                r = found[(i * len(cols.values) + j, metric)]
                ratio[i, j] = r["estimate"]
                text = "n/a" if not math.isfinite(r["estimate"]) else f"{r['estimate']:.2f}"
                text += ("*" if r["excludes_null"] else "") + f"\n({r['n_pairs']})"
                ax.text(j, i, text, ha="center", va="center", fontsize=8)
                if r["excludes_null"]:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="k", linewidth=2))
        logs = np.log2(ratio)
        limit = max(0.25, float(np.nanmax(np.abs(logs)))) if np.isfinite(logs).any() else 1.0
        shown = np.ma.masked_invalid(logs)
        cmap = plt.get_cmap("coolwarm").copy()
        cmap.set_bad("lightgray")
        image = ax.imshow(shown, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(len(cols.values)))
        ax.set_xticklabels([str(v) for v in cols.values])
        ax.set_yticks(range(len(rows.values)))
        ax.set_yticklabels([str(v) for v in rows.values])
        ax.set_xlabel(cols.key)
        ax.set_ylabel(rows.key)
        ax.set_title(f"{b} / {a}: sim time to target ({title})", fontsize=9)
        fig.colorbar(image, ax=ax, label="log2 ratio (<0: faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _safe(name: str) -> str:
    """A strategy name as part of a file name (``tiered/fixed@base(uniform:2)`` -> ``tiered-fixed@base(uniform-2)``)."""
    return re.sub(r"[^A-Za-z0-9@()+._-]", "-", name)


def plot_study(data: Any, pair_table: Sequence[Dict[str, Any]], out_dir: str) -> List[str]:
    """Every plot of the study; returns the paths (one accuracy plot per point, one per heatmap asked)."""
    paths = [plot_accuracy(data, p, os.path.join(out_dir, f"acc_vs_time_{p.name}.png")) for p in data.study.points]
    for a, b in data.study.heatmaps:
        name = f"heatmap_{_safe(b)}_over_{_safe(a)}.png"
        paths.append(plot_heatmap(data, pair_table, (a, b), os.path.join(out_dir, name)))
    return paths
