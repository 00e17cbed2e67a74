"""Losses and metrics that respect padding: a padded step never counts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from rnnzoo.errors import InvalidHyperparameterError

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

REGRESSION_LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss,
}


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, T] bool: True on valid steps."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def make_loss(task: str, loss: str | None, class_weights: torch.Tensor | None) -> LossFn:
    """loss(output, target, lengths) -> mean over samples (or over valid steps)."""
    if task == "classification":
        if loss not in (None, "cross_entropy"):
            raise InvalidHyperparameterError(f"classifiers use loss='cross_entropy', got {loss!r}")

        def ce(out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(out, y, weight=class_weights)

        return ce
    name = loss or "mse"
    if name not in REGRESSION_LOSSES:
        raise InvalidHyperparameterError(f"regression loss must be one of {sorted(REGRESSION_LOSSES)}")
    fn = REGRESSION_LOSSES[name]

    def reg(out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if out.dim() == 2:
            return fn(out, y)
        mask = step_mask(lengths, out.shape[1])
        return fn(out[mask], y[mask])

    return reg


class MetricAccumulator:
    """Running loss and task metrics over batches; padded steps are never counted."""

    def __init__(self, task: str, num_classes: int) -> None:
        self.task, self.k = task, num_classes
        self.loss_sum = self.weight = 0.0
        self.preds: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.sq = self.ab = self.count = 0.0

    def add(self, loss: float, out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor) -> None:
        n = float(len(y))
        self.loss_sum += loss * n
        self.weight += n
        out, y = out.detach(), y.detach()
        if self.task == "classification":
            self.preds.append(out.argmax(dim=1).cpu().numpy())
            self.labels.append(y.cpu().numpy())
            return
        if out.dim() == 3:
            mask = step_mask(lengths, out.shape[1])
            out, y = out[mask], y[mask]
        err = (out - y).double()
        self.sq += float((err**2).sum())
        self.ab += float(err.abs().sum())
        self.count += float(err.numel())

    def result(self) -> dict[str, float]:
        res = {"loss": self.loss_sum / max(self.weight, 1.0)}
        if self.task == "classification":
            pred, labels = np.concatenate(self.preds), np.concatenate(self.labels)
            return {**res, **classification_scores(pred, labels, self.k)}
        mse = self.sq / max(self.count, 1.0)
        return {**res, "mse": mse, "rmse": mse**0.5, "mae": self.ab / max(self.count, 1.0)}


def classification_scores(pred: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (mean over classes present in labels or predictions)."""
    f1s = []
    for c in range(num_classes):
        tp = np.sum((pred == c) & (y == c))
        denom = np.sum(pred == c) + np.sum(y == c)
        if denom:
            f1s.append(2 * tp / denom)
    return {"accuracy": float(np.mean(pred == y)), "macro_f1": float(np.mean(f1s)) if f1s else 0.0}
