"""Feature and target scaling that travels with the model, so inference and ONNX see raw values.

Inputs are standardized per feature on the way in. A regressor's outputs are
also mapped back from standardized units on the way out (``out * target_std
+ target_mean``): a fresh network outputs values near 0, and real targets are
often far from that (Tecator's fat content is 18 +- 13), so without it most
of a short run is spent moving the head's bias to the mean. The trainer
measures its regression loss in standardized units too (see
:func:`rnnzoo.training.metrics.make_loss`), so one learning rate and one
gradient-clipping norm fit every target scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

TARGET_BUFFERS = ("target_mean", "target_std")  # absent from checkpoints written before they existed


def _stats(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = valid.mean(axis=0)
    std = valid.std(axis=0)
    std = np.where(std < 1e-8, 1.0, std)  # a constant column is left unscaled, not divided by 0
    return mean.astype(np.float32), std.astype(np.float32)


def fit_scaler(x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean/std over the *valid* steps only: padding must not bias the stats."""
    mask = np.arange(x.shape[1])[None, :] < lengths[:, None]
    return _stats(x[mask])


def fit_target_scaler(y: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-target mean/std of regression targets [N, O], or per-step targets [N, T, O] over valid steps."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 3:
        return _stats(y[np.arange(y.shape[1])[None, :] < lengths[:, None]])
    return _stats(y.reshape(len(y), -1))


class NormalizedModel(nn.Module):
    """``model((x - mean) / std, lengths) * target_std + target_mean``: the unit checkpointed and exported.

    A classifier keeps the identity target scale, and then its graph holds no
    output Mul/Add at all (``scales_targets`` is False); it is recomputed from
    the buffers whenever weights are loaded, so a checkpoint alone decides.
    """

    def __init__(self, model: nn.Module, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(-1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(-1))
        self.register_buffer("target_mean", torch.zeros(0))
        self.register_buffer("target_std", torch.zeros(0))
        self.scales_targets = False
        self.register_load_state_dict_post_hook(lambda module, _keys: module._sync_scale())

    mean: torch.Tensor
    std: torch.Tensor
    target_mean: torch.Tensor
    target_std: torch.Tensor

    def set_target_scale(self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor) -> NormalizedModel:
        device = self.mean.device
        self.target_mean = torch.as_tensor(mean, dtype=torch.float32, device=device).reshape(-1).clone()
        self.target_std = torch.as_tensor(std, dtype=torch.float32, device=device).reshape(-1).clone()
        self._sync_scale()
        return self

    def _sync_scale(self) -> None:
        """Scale only when the buffers hold a real scale (empty or identity: a classifier, an old file)."""
        m, s = self.target_mean, self.target_std
        self.scales_targets = bool(m.numel()) and not bool((m == 0).all() and (s == 1).all())

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.unscale(self.model((x - self.mean) / self.std, lengths), lengths)

    def unscale(self, out: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Standardized model outputs -> target units; padded per-step outputs stay exactly 0."""
        if not self.scales_targets:
            return out
        scaled = out * self.target_std + self.target_mean
        if out.dim() != 3 or lengths is None:
            return scaled
        mask = torch.arange(out.shape[1], device=out.device).unsqueeze(0) < lengths.unsqueeze(1)
        return torch.where(mask.unsqueeze(-1), scaled, 0.0)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # The target buffers' size depends on the task (0 for classifiers, O for regressors): take the
        # checkpoint's shape, and default to "no scale" for files written before these buffers existed.
        for name in TARGET_BUFFERS:
            value = state_dict.get(prefix + name)
            shape = (0,) if value is None else tuple(value.shape)
            setattr(self, name, torch.zeros(shape, device=self.mean.device))
            state_dict.setdefault(prefix + name, getattr(self, name))
        super()._load_from_state_dict(state_dict, prefix, *args)

    @classmethod
    def identity(cls, model: nn.Module, num_features: int) -> NormalizedModel:
        return cls(model, np.zeros(num_features), np.ones(num_features))
