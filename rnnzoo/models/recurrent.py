"""The built-in recurrent network: exact on ragged batches and exportable to fused ONNX ops.

Why no ``pack_padded_sequence``: packing exports only through the TorchScript
exporter and only via the ONNX op's ``sequence_lens``, which
``onnx.reference`` ignores. Instead every layer runs unidirectional
``nn.RNN/LSTM/GRU`` modules over the padded batch:

* the forward direction is exact as is: step ``t`` never sees steps after it;
* the backward direction runs over each sample *reversed within its own
  length* (a per-sample gather), so padding comes after the valid steps in
  both directions and never reaches a valid output.

Each direction of each layer becomes one fused ONNX ``RNN``/``LSTM``/``GRU``
node, exact in onnxruntime and the reference evaluator alike. With
``patch=k`` a :class:`FrameStack` in front turns every k steps into one
(see its docstring for why), and the layers run over the frames.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rnnzoo.core.checks import env_int, positive_int
from rnnzoo.errors import DataError, InvalidHyperparameterError

CELLS: dict[str, Callable[..., nn.Module]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _exporting() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def full_lengths(x: torch.Tensor) -> torch.Tensor:
    """Lengths for a batch whose every step is valid (traceable: follows x's shape)."""
    return torch.ones_like(x[:, :, 0], dtype=torch.long).sum(dim=1)


def reverse_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Index [B, T] that reverses each row within its length; padding stays in place."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)
    last = (lengths - 1).unsqueeze(1)
    return torch.where(t <= last, last - t, t)


def gather_steps(seq: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """seq[b, index[b, t], :] for every b, t."""
    return torch.gather(seq, 1, index.unsqueeze(-1).expand(-1, -1, seq.shape[-1]))


def last_valid(seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """seq[b, lengths[b] - 1, :]: the output at each sample's last valid step."""
    return gather_steps(seq, (lengths - 1).unsqueeze(1)).squeeze(1)


def check_inputs(x: torch.Tensor, lengths: torch.Tensor | None, input_size: int) -> None:
    """Eager-mode guard: a wrong shape or length fails here with a readable message."""
    if x.dim() != 3 or x.shape[-1] != input_size:
        raise DataError(
            f"expected x of shape [batch, time, {input_size}], got {list(x.shape)}"
        )
    if x.shape[1] < 1:
        raise DataError("x has zero time steps; every sequence needs at least one step")
    if lengths is None:
        return
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[0]:
        raise DataError(f"lengths must have shape [{x.shape[0]}], got {list(lengths.shape)}")
    if lengths.dtype.is_floating_point:
        raise DataError("lengths must be an integer tensor (int64)")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > x.shape[1]:
        raise DataError(f"lengths must lie in [1, {x.shape[1]}] (the time axis); got [{lo}, {hi}]")


class FrameStack(nn.Module):
    """Every ``patch`` consecutive steps become one step of ``patch x features`` (frame stacking).

    Why: a recurrent net reading a univariate series of 250-1500 steps one
    value at a time learns little in a default budget (ArrowHead, OSULeaf:
    chance level), while the same net on 4-16-step frames learns it, in a
    fraction of the time (benchmarks/bench_real.py). A stride-``patch`` Conv1d
    with a fixed one-hot kernel does the stacking, so the exported graph needs
    no dynamic reshape: Pad (static, ``patch - 1`` zeros) and Conv run on every
    runtime. Steps past a sample's length are zeroed first, so a sample's
    last, partial frame holds exactly the zeros it would hold alone: padding
    never changes an output.
    """

    def __init__(self, features: int, patch: int) -> None:
        super().__init__()
        kernel = torch.zeros(patch * features, features, patch)
        for j in range(patch):
            kernel[j * features : (j + 1) * features, :, j] = torch.eye(features)
        self.register_buffer("kernel", kernel, persistent=False)  # a fixed map, rebuilt from hparams
        self.patch = patch

    kernel: torch.Tensor

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
        x = torch.where(valid.unsqueeze(-1), x, 0.0).transpose(1, 2)  # not "* mask": NaN padding * 0 is NaN
        frames = nn.functional.conv1d(nn.functional.pad(x, (0, self.patch - 1)), self.kernel, stride=self.patch)
        return frames.transpose(1, 2), torch.div(lengths + (self.patch - 1), self.patch, rounding_mode="floor")


class RecurrentEncoder(nn.Module):
    """Stacked, optionally bidirectional recurrent layers, exact under padding."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        nonlinearity: str,
    ) -> None:
        super().__init__()
        kwargs = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        dirs = 2 if bidirectional else 1
        sizes = [input_size] + [hidden_size * dirs] * (num_layers - 1)

        def make(size: int) -> nn.Module:
            return CELLS[cell](size, hidden_size, batch_first=True, **kwargs)

        self.fwd = nn.ModuleList(make(s) for s in sizes)
        self.bwd = nn.ModuleList(make(s) for s in sizes) if bidirectional else nn.ModuleList()
        self.dropout = nn.Dropout(dropout)
        self.is_lstm = cell == "lstm"
        self.hidden_size = hidden_size

    def _run(self, rnn: nn.Module, x: torch.Tensor) -> torch.Tensor:
        h0 = x.new_zeros(1, x.shape[0], self.hidden_size)
        return rnn(x, (h0, h0) if self.is_lstm else h0)[0]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        rev = reverse_index(lengths, x.shape[1]) if len(self.bwd) else None
        for i, rnn in enumerate(self.fwd):
            if i:
                x = self.dropout(x)
            out = self._run(rnn, x)
            if rev is not None:
                back = gather_steps(self._run(self.bwd[i], gather_steps(x, rev)), rev)
                out = torch.cat([out, back], dim=-1)
            x = out
        return x

    def last_state(self, out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final state per sample: forward at its last step, backward at its first.

        The whole row at the last step is gathered, then its forward half sliced (the same values as
        slicing first): with the slice first, OpenVINO 2026.4 loses the ``Slice`` between the
        bidirectional ``Concat`` and the ``GatherElements`` and refuses the graph.
        """
        last = last_valid(out, lengths)
        if not len(self.bwd):
            return last
        return torch.cat([last[:, : self.hidden_size], out[:, 0, self.hidden_size :]], dim=-1)

    def stream(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One chunk of a stream: every step valid; state in, state out (unidirectional)."""
        new_state = []
        for i, rnn in enumerate(self.fwd):
            if i:
                x = self.dropout(x)
            if self.is_lstm:
                x, (h, c) = rnn(x, (state[2 * i], state[2 * i + 1]))
                new_state += [h, c]
            else:
                x, h = rnn(x, state[i])
                new_state.append(h)
        return x, new_state


class RecurrentNet(nn.Module):
    """Encoder + linear head: a classifier, a sequence-to-one or a per-step regressor."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        output_size: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
        per_step: bool = False,
        patch: int | str = 1,
    ) -> None:
        super().__init__()
        frame = _patch_size(1 if patch == "auto" else patch, per_step)  # "auto" without data: no stacking
        _validate(cell, input_size * frame, output_size, hidden_size, num_layers, dropout,
                  nonlinearity, {"bidirectional": bidirectional, "per_step": per_step})
        self.input_size, self.per_step = input_size, per_step
        self.frames = FrameStack(input_size, frame) if frame > 1 else None
        self.time_stride = frame  # input steps per recurrent step: the trainer's compute budget counts these
        self.rnn = RecurrentEncoder(cell, input_size * frame, hidden_size, num_layers, bidirectional, dropout,
                                    nonlinearity)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), output_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if not _exporting():
            check_inputs(x, lengths, self.input_size)
        if lengths is None:
            lengths = full_lengths(x)
        if self.frames is not None:
            x, lengths = self.frames(x, lengths)
        out = self.rnn(x, lengths)
        if self.per_step:
            mask = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
            return torch.where(mask.unsqueeze(-1), self.fc(out), 0.0)  # not "* mask": NaN padding * 0 is NaN
        return self.fc(self.rnn.last_state(out, lengths))

    # -- streaming (optional capability, see ModelSpec.supports_streaming) --
    def _frames_of_chunk(self, x: torch.Tensor) -> torch.Tensor:
        """A chunk of whole frames (every step valid) as frames; a chunk that splits a frame is refused."""
        assert self.frames is not None
        k = self.frames.patch
        if not _exporting() and x.shape[1] % k:
            raise DataError(f"this model reads frames of {k} steps (patch={k}): feed chunks of a multiple of "
                            f"{k} steps, got {x.shape[1]}")
        return self.frames(x, full_lengths(x))[0]

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """Zero state for :meth:`stream`: one tensor [1, batch, hidden] per layer (h, c for LSTM)."""
        per_layer = 2 if self.rnn.is_lstm else 1
        p = self.fc.weight
        return [p.new_zeros(1, batch, self.rnn.hidden_size) for _ in range(per_layer * len(self.rnn.fwd))]

    def stream(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Feed one chunk [batch, chunk, features]; returns (output, next state).

        Outputs after the last chunk equal ``forward`` on the whole sequence.
        """
        if len(self.rnn.bwd):
            raise InvalidHyperparameterError("a bidirectional model cannot stream: it needs the future")
        if self.frames is not None:
            x = self._frames_of_chunk(x)
        out, new_state = self.rnn.stream(x, state)
        return (self.fc(out) if self.per_step else self.fc(out[:, -1])), new_state


MAX_PATCH = 256


def _patch_size(patch: object, per_step: bool) -> int:
    """``patch`` checked: a positive int, and 1 for a per-step model (its outputs are per input step)."""
    if isinstance(patch, bool) or not isinstance(patch, int) or not 1 <= patch <= MAX_PATCH:
        raise InvalidHyperparameterError(f"patch must be 'auto' or an int in [1, {MAX_PATCH}], got {patch!r}")
    if per_step and patch > 1:
        raise InvalidHyperparameterError(
            f"patch={patch} with per_step=True: a per-step model answers every input step, so it cannot read "
            "frames of several steps; use patch=1")
    return patch


MAX_PARAMETERS_ENV = "RNNZOO_MAX_PARAMETERS"
_MAX_PARAMETERS = 50_000_000  # 200 MB of float32: far above any sequence model here, far below a crash


def _check_size(cell: str, input_size: int, output_size: int, hidden: int, layers: int, bidir: bool) -> None:
    """Refuse a model too big to allocate before torch tries (hidden_size=10**6 would take minutes, then crash)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    dirs = 2 if bidir else 1
    # layer 1 reads the features, later layers the previous layer's (dirs * hidden) outputs
    per_dir = gates * hidden * (layers * (input_size + hidden + 2) + (layers - 1) * (dirs * hidden - input_size))
    total = dirs * per_dir + dirs * hidden * output_size + output_size
    limit = env_int(MAX_PARAMETERS_ENV, _MAX_PARAMETERS, InvalidHyperparameterError)
    if total > limit:
        raise InvalidHyperparameterError(
            f"a {cell} with hidden_size={hidden}, num_layers={layers} has about {total:,} parameters, over the "
            f"limit of {limit:,}; use a smaller model, or raise the limit with {MAX_PARAMETERS_ENV}=N")


def _validate(
    cell: str, input_size: int, output_size: int, hidden: int, layers: int, dropout: float, nl: str,
    flags: dict[str, object],
) -> None:
    if cell not in CELLS:
        raise InvalidHyperparameterError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    for name, v in (("input_size", input_size), ("output_size", output_size),
                    ("hidden_size", hidden), ("num_layers", layers)):
        positive_int(name, v, InvalidHyperparameterError)
    _check_size(cell, input_size, output_size, hidden, layers, bool(flags.get("bidirectional")))
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise InvalidHyperparameterError(f"dropout must be a number in [0, 1), got {dropout!r}")
    if nl not in ("tanh", "relu"):
        raise InvalidHyperparameterError(f"nonlinearity must be 'tanh' or 'relu', got {nl!r}")
    for flag, value in flags.items():
        if not isinstance(value, bool):  # "yes"/"no" or 0/1 from a config file must not slip through
            raise InvalidHyperparameterError(f"{flag} must be true or false, got {value!r}")
