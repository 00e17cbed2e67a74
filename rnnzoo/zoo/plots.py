"""The zoo report's figures; skipped (empty list) when matplotlib is not installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnzoo.training.curves import pyplot


def plot_zoo(rows: list[Any], out: Path) -> list[Path]:
    """training_curves.png (validation loss per model) and parity_latency.png."""
    plt = pyplot()
    if plt is None or not rows:
        return []
    from rnnzoo.core.atomic import atomic_write

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for r in rows:
        if r.history:
            ax.plot([h["epoch"] for h in r.history], [h.get("val_loss", h["train_loss"]) for h in r.history],
                    marker=".", label=r.model)
    ax.set(xlabel="epoch", ylabel="validation loss", yscale="log", title="Training curves")
    if any(r.history for r in rows):  # every model failed before training: no lines, no legend
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    curves = atomic_write(out / "training_curves.png", lambda p: fig.savefig(p, dpi=90, format="png"))
    plt.close(fig)
    done = [r for r in rows if r.max_abs_ort is not None]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = [r.model for r in done]
    ys = list(range(len(done)))
    a1.barh([y + 0.2 for y in ys], [max(r.max_abs_ort, 1e-12) for r in done], height=0.4, label="onnxruntime")
    a1.barh([y - 0.2 for y in ys], [max(r.max_abs_ref or 1e-12, 1e-12) for r in done], height=0.4,
            label="onnx.reference")
    a1.set_yticks(ys, names)
    a1.set(xscale="log", xlabel="parity max abs diff", title="Parity (lower is better)")
    a1.legend(fontsize=7)
    a2.barh(names, [r.speedup or 0 for r in done], color="tab:green")
    a2.axvline(1.0, color="k", lw=0.8)
    a2.set(xlabel="torch ms / onnxruntime ms", title="ORT speedup")
    fig.tight_layout()
    chart = atomic_write(out / "parity_latency.png", lambda p: fig.savefig(p, dpi=90, format="png"))
    plt.close(fig)
    return [curves, chart]
