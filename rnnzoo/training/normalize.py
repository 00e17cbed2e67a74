"""Feature scaling that travels with the model, so inference and ONNX see raw inputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def fit_scaler(x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean/std over the *valid* steps only: padding must not bias the stats."""
    mask = np.arange(x.shape[1])[None, :] < lengths[:, None]
    valid = x[mask]
    mean = valid.mean(axis=0)
    std = valid.std(axis=0)
    std = np.where(std < 1e-8, 1.0, std)  # a constant feature is left unscaled, not divided by 0
    return mean.astype(np.float32), std.astype(np.float32)


class NormalizedModel(nn.Module):
    """``model((x - mean) / std, lengths)``: the unit that is checkpointed and exported."""

    def __init__(self, model: nn.Module, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(-1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(-1))

    mean: torch.Tensor
    std: torch.Tensor

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.model((x - self.mean) / self.std, lengths)

    @classmethod
    def identity(cls, model: nn.Module, num_features: int) -> NormalizedModel:
        return cls(model, np.zeros(num_features), np.ones(num_features))
