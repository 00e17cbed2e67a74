"""Training-curve figures, only when matplotlib is installed (the ``plot`` extra); silently skipped otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_history(history: list[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """Loss and the task's main metric per epoch, train vs validation."""
    plt = pyplot()
    if plt is None or not history:
        return None
    metric = "accuracy" if "train_accuracy" in history[0] else "rmse"
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(axes, ("loss", metric), strict=True):
        for split in ("train", "val"):
            if f"{split}_{key}" in history[0]:
                ax.plot(epochs, [r[f"{split}_{key}"] for r in history], marker=".", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title or path.parent.name)
    fig.tight_layout()
    from rnnzoo.core.atomic import atomic_write

    atomic_write(path, lambda p: fig.savefig(p, dpi=90, format="png"))
    plt.close(fig)
    return path
