"""Losses and metrics that respect padding: a padded step never counts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from rnnzoo.errors import InvalidHyperparameterError

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

REGRESSION_LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss,
}


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, T] bool: True on valid steps."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def make_loss(task: str, loss: str | None, class_weights: torch.Tensor | None,
              target_std: torch.Tensor | None = None) -> LossFn:
    """loss(output, target, lengths) -> (sum, weight); the batch loss is sum / weight.

    A regression loss is measured in standardized units when ``target_std``
    (per target, see rnnzoo.training.normalize) is given, so its size, and the
    gradient the clipping norm sees, do not depend on the targets' units.

    Returning both halves of the mean (weight = samples, class-weight mass or
    valid steps) lets data-parallel ranks divide by the weight of the whole
    global batch and so reproduce one process's gradient exactly.
    """
    if task == "classification":
        if loss not in (None, "cross_entropy"):
            raise InvalidHyperparameterError(f"classifiers use loss='cross_entropy', got {loss!r}")

        def ce(out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            total = F.cross_entropy(out, y, weight=class_weights, reduction="sum")
            weight = class_weights[y].sum() if class_weights is not None else out.new_tensor(float(len(y)))
            return total, weight

        return ce
    name = loss or "mse"
    if name not in REGRESSION_LOSSES:
        raise InvalidHyperparameterError(f"regression loss must be one of {sorted(REGRESSION_LOSSES)}")
    fn = REGRESSION_LOSSES[name]
    scale = target_std if target_std is not None and target_std.numel() else None

    def reg(out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if out.dim() == 3:
            mask = step_mask(lengths, out.shape[1])
            out, y = out[mask], y[mask]
        if scale is not None:
            out, y = out / scale, y / scale
        return fn(out, y, reduction="sum"), out.new_tensor(float(out.numel()))

    return reg


class MetricAccumulator:
    """Running loss and task metrics over batches; padded steps are never counted.

    All state is sums in one float64 vector (loss, weight, squared/absolute
    error, count, then a confusion matrix for classifiers), so distributed
    training can add the ranks' vectors with one all-reduce and get exactly
    the metrics of the whole epoch.
    """

    def __init__(self, task: str, num_classes: int) -> None:
        self.task, self.k = task, num_classes
        conf = num_classes * num_classes if task == "classification" else 0
        self.state = np.zeros(5 + conf, dtype=np.float64)

    def add(self, total: float, weight: float, out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor) -> None:
        """One batch: the loss's (sum, weight) from :func:`make_loss`, outputs, targets, lengths."""
        self.state[:2] += (total, weight)
        out, y = out.detach(), y.detach()
        if self.task == "classification":
            pred = out.argmax(dim=1).cpu().numpy()
            np.add.at(self.state[5:], y.cpu().numpy() * self.k + pred, 1.0)
            return
        if out.dim() == 3:
            mask = step_mask(lengths, out.shape[1])
            out, y = out[mask], y[mask]
        err = (out - y).double()
        self.state[2:5] += (float((err**2).sum()), float(err.abs().sum()), float(err.numel()))

    def result(self) -> dict[str, float]:
        loss_sum, weight, sq, ab, count = self.state[:5]
        res = {"loss": float(loss_sum / weight) if weight > 0 else float("nan")}
        if self.task == "classification":
            return {**res, **confusion_scores(self.state[5:].reshape(self.k, self.k))}
        mse = float(sq / max(count, 1.0))
        return {**res, "mse": mse, "rmse": mse**0.5, "mae": float(ab / max(count, 1.0))}


def confusion_scores(conf: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 from a [true, predicted] count matrix (classes absent from both are skipped)."""
    tp = np.diag(conf)
    denom = conf.sum(axis=0) + conf.sum(axis=1)
    present = denom > 0
    f1 = 2 * tp[present] / denom[present]
    total = conf.sum()
    return {"accuracy": float(tp.sum() / total) if total else 0.0,
            "macro_f1": float(f1.mean()) if present.any() else 0.0}
