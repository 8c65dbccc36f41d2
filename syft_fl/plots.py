"""PNG plots of a run, from the rounds.csv rows of each strategy (matplotlib, no screen needed)."""
import os
from typing import Any, Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTCOMES = (("n_full", "full", "tab:green"), ("n_partial", "partial", "tab:olive"),
            ("n_base_only", "base only", "tab:orange"), ("n_dropped", "dropped", "tab:gray"),
            ("n_rejected", "rejected", "tab:red"), ("n_crashed", "crashed", "black"))


def _line_plot(path: str, histories: Sequence[List[Dict[str, Any]]], x: str, y: str, xlabel: str, ylabel: str,
               target: float = None, scale_x: float = 1.0, scale_y: float = 1.0) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for h in histories:
        if h:
            ax.plot([getattr(r, x) * scale_x for r in h], [getattr(r, y) * scale_y for r in h], marker=".",
                    label=h[0].strategy)
    if target is not None:
        ax.axhline(target, color="k", linestyle=":", linewidth=1, label=f"target {target:.2f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, path)


def _save(fig: Any, path: str) -> None:
    """``fig`` as a PNG at ``path``; a symlink there is removed first, never written through."""
    if os.path.islink(path):
        os.unlink(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_all(out_dir: str, histories: Sequence[List[Dict[str, Any]]], config: Any) -> List[str]:
    """Write accuracy vs simulated time / round, cumulative uplink bytes, and per-round UE outcomes."""
    target = config.target_accuracy
    paths = [os.path.join(out_dir, n) for n in
             ("acc_vs_time.png", "acc_vs_round.png", "uplink_bytes.png", "outcomes.png")]
    _line_plot(paths[0], histories, "sim_time_s", "test_acc", "simulated time (s)", "test accuracy", target)
    _line_plot(paths[1], histories, "round", "test_acc", "round", "test accuracy", target)
    _line_plot(paths[2], histories, "round", "uplink_bytes", "round", "cumulative uplink (MB)", scale_y=1e-6)
    shown = [h for h in histories if h]
    if not shown:  # every strategy diverged in its first round: no outcome to show
        return paths[:3]
    fig, axes = plt.subplots(len(shown), 1, figsize=(7, 1.8 * len(shown) + 0.6), sharex=True, squeeze=False)
    for ax, h in zip(axes[:, 0], shown):
        rounds = [r.round for r in h]
        bottom = [0] * len(h)
        for key, label, color in OUTCOMES:
            values = [getattr(r, key) for r in h]
            ax.bar(rounds, values, bottom=bottom, color=color, label=label, width=0.9)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_ylabel("UEs")
        ax.set_title(h[0].strategy, fontsize=9, loc="left")
    axes[0, 0].legend(ncol=len(OUTCOMES), fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.15))
    axes[-1, 0].set_xlabel("round")
    fig.tight_layout()
    _save(fig, paths[3])
    return paths
