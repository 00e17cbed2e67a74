"""LSTM-FCN / GRU-FCN (Karim et al. 2018) and MLSTM-FCN (Karim et al. 2019), exact on ragged batches.

Two branches read the same sequence: a unidirectional recurrent layer (its
last valid step) and a fully convolutional block (three Conv1d + BatchNorm +
ReLU layers, then global average pooling); the head sees both. The published
models assume equal-length series; here every step past a sample's length is
invisible, so padding never changes an output:

* each convolution reads a masked input (padded steps set to 0), so a valid
  step near the end sees exactly the zeros a sample alone would be padded with;
* batch norm's training statistics count valid steps only (:class:`MaskedBatchNorm`),
  so the running statistics, and hence the trained model, do not depend on how
  the trainer bucketed the batch;
* squeeze-excite and the global pooling average over valid steps only.

The recurrent branch runs the fused nn.LSTM/GRU over the padded batch (exact
for every valid step of a unidirectional layer) and gathers the last valid
step, so the export keeps one fused ONNX recurrent node.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def _masked_mean(x: torch.Tensor, mask: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Mean over time of ``x`` [B, C, T] counting only the valid steps (``mask`` [B, 1, T], ``count`` [B, 1])."""
    return (x * mask).sum(dim=2) / count


class MaskedBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics come from the valid steps only (eval: the usual affine map)."""

    def forward_masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        n = mask.sum().clamp(min=1.0)
        mean = (x * mask).sum(dim=(0, 2)) / n
        var = (((x - mean[None, :, None]) * mask) ** 2).sum(dim=(0, 2)) / n
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                unbiased = var * n / (n - 1).clamp(min=1.0)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * unbiased)
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
        out = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        if self.affine:
            out = out * self.weight[None, :, None] + self.bias[None, :, None]
        return out


class SqueezeExcite(nn.Module):
    """Channel gates from the masked temporal mean (Hu et al. 2018, as used by MLSTM-FCN)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor, mask: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        return x * self.fc(_masked_mean(x, mask, count)).unsqueeze(-1)


class ConvBlock(nn.Module):
    """Masked 'same' Conv1d -> masked BatchNorm -> ReLU (-> squeeze-excite)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, squeeze_excite: bool) -> None:
        super().__init__()
        self.pad = ((kernel - 1) // 2, kernel // 2)  # 'same' for odd and even kernels alike
        self.conv = nn.Conv1d(c_in, c_out, kernel)
        self.bn = MaskedBatchNorm(c_out)
        self.se = SqueezeExcite(c_out) if squeeze_excite else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.pad(x * mask, self.pad))
        x = torch.relu(self.bn.forward_masked(x, mask))
        return self.se(x, mask, count) if self.se is not None else x


class RecurrentFCN(nn.Module):
    """The two branches and the head; ``forward(x [B, T, F], lengths [B] | None) -> [B, outputs]``."""

    def __init__(self, cell: str, input_size: int, output_size: int, hidden_size: int = 32, width: int = 32,
                 filters: tuple[int, ...] | list[int] | None = None,
                 kernels: tuple[int, ...] | list[int] = (8, 5, 3), dropout: float = 0.8,
                 squeeze_excite: bool = False) -> None:
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise rnnzoo.InvalidHyperparameterError(f"width must be a positive int, got {width!r}")
        filters = [width, 2 * width, width] if filters is None else filters  # width=128: Karim's 128/256/128
        _check(hidden_size, filters, kernels, dropout)
        self.input_size = input_size
        self.rnn = _CELLS[cell](input_size, hidden_size, batch_first=True)
        self.drop = nn.Dropout(dropout)
        channels = [input_size, *filters]
        # MLSTM-FCN gates the first two blocks only.
        self.blocks = nn.ModuleList(
            ConvBlock(channels[i], channels[i + 1], kernels[i], squeeze_excite and i < len(filters) - 1)
            for i in range(len(filters)))
        self.fc = nn.Linear(hidden_size + filters[-1], output_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise rnnzoo.DataError(f"expected x of shape [batch, time, {self.input_size}], got {list(x.shape)}")
        if lengths is None:
            lengths = torch.ones_like(x[:, :, 0], dtype=torch.long).sum(dim=1)
        out = self.rnn(x)[0]
        last_index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
        last = self.drop(torch.gather(out, 1, last_index).squeeze(1))
        mask = (torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).to(x.dtype)
        mask = mask.unsqueeze(1)  # [B, 1, T]
        count = mask.sum(dim=2)  # [B, 1]
        h = x.transpose(1, 2)
        for block in self.blocks:
            h = block(h, mask, count)
        pooled = _masked_mean(h, mask, count)
        return self.fc(torch.cat([last, pooled], dim=-1))


def _check(hidden_size: int, filters: tuple[int, ...] | list[int], kernels: tuple[int, ...] | list[int],
           dropout: float) -> None:
    if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
        raise rnnzoo.InvalidHyperparameterError(f"hidden_size must be a positive int, got {hidden_size!r}")
    for name, values in (("filters", filters), ("kernels", kernels)):
        if (not isinstance(values, (list, tuple)) or not values
                or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values)):
            raise rnnzoo.InvalidHyperparameterError(f"{name} must be a non-empty list of positive ints, got {values!r}")
    if len(filters) != len(kernels):
        raise rnnzoo.InvalidHyperparameterError(
            f"filters and kernels need one entry per conv block, got {len(filters)} and {len(kernels)}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise rnnzoo.InvalidHyperparameterError(f"dropout must be in [0, 1), got {dropout!r}")


import rnnzoo  # noqa: E402  (public API only; imported last to keep the module's reading order)
