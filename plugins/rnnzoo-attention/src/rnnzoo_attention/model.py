"""Recurrent encoder + additive attention pooling, masked so padding never counts.

The head sees the attention-pooled summary next to the last valid step's
state: pooling finds evidence spread over the sequence, the last state keeps
what recency-driven tasks (next-value regression) need.

Unidirectional only: the forward pass of nn.LSTM/GRU over a padded batch is
exact for every valid step, and the mask removes the rest, so no packing is
needed and the graph exports to one fused ONNX recurrent node per layer.
"""

from __future__ import annotations

import torch
from torch import nn

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
_MASKED = -1e9  # finite: exp() underflows to exactly 0 in float32, and ONNX needs no -inf


class AttentionRNN(nn.Module):
    def __init__(self, cell: str, input_size: int, output_size: int, hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0, attention_size: int = 32) -> None:
        super().__init__()
        for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers),
                            ("attention_size", attention_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise rnnzoo.InvalidHyperparameterError(f"{name} must be a positive int, got {value!r}")
        if not 0 <= dropout < 1:
            raise rnnzoo.InvalidHyperparameterError(f"dropout must be in [0, 1), got {dropout!r}")
        self.rnn = _CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                                dropout=dropout if num_layers > 1 else 0.0)
        self.score = nn.Sequential(nn.Linear(hidden_size, attention_size), nn.Tanh(),
                                   nn.Linear(attention_size, 1, bias=False))
        self.fc = nn.Linear(2 * hidden_size, output_size)
        self.input_size = input_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise rnnzoo.DataError(f"expected x of shape [batch, time, {self.input_size}], got {list(x.shape)}")
        if lengths is None:
            lengths = torch.ones_like(x[:, :, 0], dtype=torch.long).sum(dim=1)
        out = self.rnn(x)[0]
        valid = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
        scores = self.score(out).squeeze(-1).masked_fill(~valid, _MASKED)
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        pooled = (weights * out).sum(dim=1)
        last_index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
        last = torch.gather(out, 1, last_index).squeeze(1)
        return self.fc(torch.cat([pooled, last], dim=-1))


import rnnzoo  # noqa: E402  (public API only; imported last to keep the module's reading order)
