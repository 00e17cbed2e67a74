"""A training run's settings, checked when made, and what they build: optimizer, schedule, class weights.

Its own module so that the CLI can validate a run's settings (e.g. before
launching torchrun workers) and the trainer stays about the loop itself.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.errors import InvalidHyperparameterError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULES = ("none", "cosine", "step", "plateau")


@dataclass
class TrainConfig:
    """Every knob of a run; stored in the checkpoint so a run can be reproduced."""

    epochs: int = 20
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "none"
    clip_norm: float | None = 1.0
    patience: int | None = 5
    restore_best: bool = True
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    device: str = "cpu"
    loss: str | None = None
    class_weights: str | list[float] | None = None
    normalize: bool = True
    bucket: bool = True
    quiet: bool = False
    out_dir: str | None = None
    resume: bool = False
    hparams: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidHyperparameterError(f"{name} must be a positive int, got {v!r}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise InvalidHyperparameterError("lr must be > 0 and weight_decay >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidHyperparameterError(f"optimizer must be one of {sorted(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise InvalidHyperparameterError(f"schedule must be one of {SCHEDULES}")
        if self.patience is not None and (isinstance(self.patience, bool) or not isinstance(self.patience, int)
                                          or self.patience < 1):
            raise InvalidHyperparameterError(f"patience must be a positive int, or None to never stop early, "
                                             f"got {self.patience!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise InvalidHyperparameterError("clip_norm must be > 0, or None to disable clipping")
        if self.resume and not self.out_dir:
            raise InvalidHyperparameterError("resume=True needs out_dir (where last.safetensors lives)")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise InvalidHyperparameterError("device='cuda' requested but CUDA is not available")


def make_config(config: dict[str, Any]) -> TrainConfig:
    """TrainConfig from keywords; a misspelled key is named with its closest match, not a TypeError."""
    known = [f.name for f in fields(TrainConfig)]
    for key in config:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Accepted: {', '.join(known)}"
            raise InvalidHyperparameterError(f"train() has no setting {key!r}.{hint}")
    return TrainConfig(**config)


def class_weights(cfg: TrainConfig, train: SequenceDataset) -> torch.Tensor | None:
    """The loss's class weights on ``cfg.device``: given, 'balanced' (inverse frequency) or None."""
    if cfg.class_weights is None or train.task != "classification":
        return None
    k = train.output_size
    if cfg.class_weights == "balanced":
        counts = np.bincount(train.y, minlength=k).astype(np.float64)
        w = len(train.y) / (k * np.maximum(counts, 1))
    else:
        w = np.asarray(cfg.class_weights, dtype=np.float64)
        if w.shape != (k,) or (w < 0).any():
            raise InvalidHyperparameterError(f"class_weights must be {k} non-negative numbers or 'balanced'")
    return torch.tensor(w, dtype=torch.float32, device=cfg.device)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    """The learning-rate schedule named by ``cfg.schedule`` (None for "none")."""
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.epochs // 3), gamma=0.3)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    return None
