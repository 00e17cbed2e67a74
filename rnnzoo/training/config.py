"""A training run's settings, checked when made, and what they build: optimizer, schedule, class weights.

Its own module so that the CLI can validate a run's settings (e.g. before
launching torchrun workers) and the trainer stays about the loop itself.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from rnnzoo.core.checks import is_positive_int, positive_int
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.errors import InvalidHyperparameterError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULES = ("none", "cosine", "warmup_cosine", "step", "plateau")


@dataclass
class TrainConfig:
    """Every knob of a run; stored in the checkpoint so a run can be reproduced.

    ``epochs=None`` (the default) sizes the run by the data: enough epochs
    for ``steps`` optimizer steps, however few samples an epoch holds (a
    40-sample set gives 2 steps an epoch: 20 epochs would be 40 steps), but
    no more than ``budget`` sample-steps (samples x time steps) of training,
    so a long-series set stays affordable. Early stopping never stops in
    the first half of the epochs. When the validation split has fewer than
    ``min_val`` samples the kept epoch follows the training loss and the
    run never stops early: on 10 validation samples the loss is mostly noise.
    """

    epochs: int | None = None
    steps: int = 300
    budget: int = 1_000_000
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "none"
    clip_norm: float | None = 1.0
    patience: int | None = 5
    min_val: int = 30
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
        for name in ("steps", "budget", "batch_size"):
            positive_int(name, getattr(self, name), InvalidHyperparameterError)
        if self.epochs is not None:
            positive_int("epochs", self.epochs, InvalidHyperparameterError)
        if isinstance(self.min_val, bool) or not isinstance(self.min_val, int) or self.min_val < 0:
            raise InvalidHyperparameterError(f"min_val must be an int >= 0, got {self.min_val!r}")
        _check_numbers(self)
        if self.optimizer not in OPTIMIZERS:
            raise InvalidHyperparameterError(f"optimizer must be one of {sorted(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise InvalidHyperparameterError(f"schedule must be one of {SCHEDULES}")
        if self.patience is not None and not is_positive_int(self.patience):
            raise InvalidHyperparameterError(f"patience must be a positive int, or None to never stop early, "
                                             f"got {self.patience!r}")
        if self.resume and not self.out_dir:
            raise InvalidHyperparameterError("resume=True needs out_dir (where last.safetensors lives)")
        _check_device(self.device)


def _check_numbers(cfg: TrainConfig) -> None:
    """Seeds NumPy and torch accept, and rates that are finite numbers."""
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**32:
        raise InvalidHyperparameterError(f"seed must be an int in [0, 2**32), got {cfg.seed!r}")
    for name in ("lr", "weight_decay", "val_fraction", "test_fraction"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidHyperparameterError(f"{name} must be a finite number, got {value!r}")
    if not cfg.lr > 0 or cfg.weight_decay < 0:
        raise InvalidHyperparameterError("lr must be > 0 and weight_decay >= 0")
    if cfg.clip_norm is not None and (isinstance(cfg.clip_norm, bool) or not isinstance(cfg.clip_norm, (int, float))
                                      or not cfg.clip_norm > 0 or not math.isfinite(cfg.clip_norm)):
        raise InvalidHyperparameterError("clip_norm must be a finite number > 0, or None to disable clipping")


def _check_device(device: object) -> None:
    """A device torch knows and this machine has; 'bogus' or a missing GPU is named here, not mid-run."""
    try:
        kind = torch.device(device).type  # type: ignore[call-overload]
    except (RuntimeError, TypeError) as exc:
        raise InvalidHyperparameterError(f"device {device!r} is not a torch device; use 'cpu', 'cuda[:N]' or 'mps'") \
            from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise InvalidHyperparameterError("device='cuda' requested but CUDA is not available")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise InvalidHyperparameterError("device='mps' requested but Apple's MPS is not available")
    if kind not in ("cpu", "cuda", "mps"):
        raise InvalidHyperparameterError(f"device {device!r} is not supported; use 'cpu', 'cuda[:N]' or 'mps'")


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


def time_stride(model: object) -> int:
    """Input steps per recurrent step (the built-ins' ``patch``): a model's optional ``time_stride``, else 1."""
    stride = getattr(model, "time_stride", 1)
    return stride if isinstance(stride, int) and not isinstance(stride, bool) and stride >= 1 else 1


def resolve_epochs(cfg: TrainConfig, train: SequenceDataset, stride: int = 1) -> int:
    """The epochs a run trains: ``cfg.epochs``, or the data-sized budget when it is None (see TrainConfig).

    The budget counts the steps the recurrent layers run: a model that reads
    frames of ``stride`` input steps (:func:`time_stride`) runs ``ceil(length / stride)``.
    """
    if cfg.epochs is not None:
        return cfg.epochs
    n = len(train)
    wanted = math.ceil(cfg.steps / math.ceil(n / cfg.batch_size))
    affordable = cfg.budget // max(1, int((-(-train.lengths // stride)).sum()))
    return max(1, min(wanted, affordable))


def warmup_cosine(epochs: int) -> Any:
    """lr factor per epoch: linear warm-up over ~5% of the run, then a cosine down to 2%.

    Warm-up spares a fresh recurrent net the full rate on its first steps;
    the decay lets the last epochs settle, so the final weights are good
    ones even when no validation split can pick an epoch.
    """
    warm = max(1, round(0.05 * epochs))

    def factor(epoch: int) -> float:
        if epoch < warm:
            return (epoch + 1) / warm
        progress = (epoch - warm) / max(1, epochs - warm)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    """The learning-rate schedule named by ``cfg.schedule`` (None for "none"); ``cfg.epochs`` is resolved."""
    epochs = int(cfg.epochs or 1)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if cfg.schedule == "warmup_cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(epochs))
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.3)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    return None
