"""The inputs and outputs of an exported graph, stated once, with the sample inputs that exercise them.

Why one object (in the spirit of optimum's ``OnnxConfig``): the tensor
names ``x``/``lengths``/``y``, their dtypes and which axes stay dynamic used
to be restated by the tracer, the static checks, the test-data writer and
the streaming export, and every validator made up its own random batch. An
:class:`IoSpec` holds the names, dtypes, shapes (a ``str`` dimension is a
dynamic axis) and the one-line descriptions that go into the ONNX file's
``metadata_props``; export and validation both read it, and
:meth:`IoSpec.sample_inputs` is the one place test inputs are generated.
The seeds and shapes of every input set are fixed: parity figures, model
cards and benchmarks depend on them.

numpy only (no torch, no onnx): the deploy side may read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnzoo.core.meta import ModelMeta

if TYPE_CHECKING:
    from rnnzoo.data.dataset import SequenceDataset

Dim = int | str | None  # int: fixed size; str: a dynamic axis' name; None: fixed by the model, unknown here
LONG = 500  # parity's long sequences: longer than any built-in training sequence


@dataclass(frozen=True)
class TensorSpec:
    """One named graph input or output."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]
    description: str

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}


@dataclass(frozen=True)
class Sample:
    """A named set of graph feeds (keyed by input name) and, for data samples, their targets."""

    name: str
    feeds: dict[str, np.ndarray]
    target: np.ndarray | None = None


@dataclass(frozen=True)
class IoSpec:
    """The interface of one exported graph: inputs, outputs, dynamic axes, descriptions, sample inputs."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    input_size: int
    per_step: bool = False
    frame: int = 1  # streaming: every chunk holds a multiple of this many steps (a model with patch=frame)

    @classmethod
    def for_model(cls, input_size: int, per_step: bool = False, task: str = "regression") -> IoSpec:
        """``model.onnx``: x [batch, time, features] + lengths [batch] -> y."""
        x = _described("x", "float32", ("batch", "time", input_size), "raw features (normalized in-graph)")
        lengths = _described("lengths", "int64", ("batch",), "valid leading steps per sample, 1..time")
        y = TensorSpec("y", "float32", ("batch", "time", None) if per_step else ("batch", None),
                       _output_text(task, per_step, "time"))
        return cls((x, lengths), (y,), input_size, per_step)

    @classmethod
    def for_streaming(
        cls, input_size: int, per_step: bool, state_shapes: Sequence[Sequence[int]], task: str = "regression",
        frame: int = 1,
    ) -> IoSpec:
        """``model.streaming.onnx``: x [batch, chunk, features] + state_i -> y + state_i_out (batch on axis 1)."""
        whole = "" if frame == 1 else f"; chunk must be a multiple of {frame} steps (the model reads frames)"
        x = _described("x", "float32", ("batch", "chunk", input_size),
                       f"raw features of the next chunk, every step valid (normalized in-graph){whole}")
        states = [_state(i, shape) for i, shape in enumerate(state_shapes)]
        y = TensorSpec("y", "float32", ("batch", "chunk", None) if per_step else ("batch", None),
                       _output_text(task, per_step, "chunk"))
        outs = [_described(f"{s.name}_out", s.dtype, s.shape, f"{s.name} after this chunk; feed it back as {s.name}")
                for s in states]
        return cls((x, *states), (y, *outs), input_size, per_step, frame)

    @classmethod
    def from_meta(cls, meta: ModelMeta) -> IoSpec:
        """The plain graph's spec for a model."""
        return cls.for_model(meta.input_size, meta.per_step, meta.task)

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    @property
    def state_names(self) -> list[str]:
        """The streaming graph's state inputs (none for the plain graph)."""
        return [t.name for t in self.inputs if t.name.startswith("state_")]

    def tensor(self, name: str) -> TensorSpec:
        return next(t for t in (*self.inputs, *self.outputs) if t.name == name)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """``torch.onnx.export``'s ``dynamic_axes``: every named dimension of every input and output."""
        return {t.name: t.dynamic_axes for t in (*self.inputs, *self.outputs)}

    def metadata(self) -> dict[str, str]:
        """``rnnzoo.input.<name>`` / ``rnnzoo.output.<name>`` descriptions for ``metadata_props``."""
        return {**{f"rnnzoo.input.{t.name}": t.description for t in self.inputs},
                **{f"rnnzoo.output.{t.name}": t.description for t in self.outputs}}

    def sample_inputs(self, kind: str, data: SequenceDataset | None = None, **options: Any) -> list[Sample]:
        """The named input sets of ``kind`` (see ``SAMPLE_KINDS``); real samples from ``data`` where the kind uses them.

        Options per kind: ``example``: ``n``; ``parity``: ``seed``, ``small``;
        ``bench``: ``batch``, ``length``.
        """
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"unknown sample kind {kind!r}; one of {sorted(SAMPLE_KINDS)}")
        if kind != "trace" and (kind == "streaming") != bool(self.state_names):
            raise ValueError(f"{kind!r} inputs do not fit this graph's inputs {self.input_names}")
        return SAMPLE_KINDS[kind](self, data, **options)


def _output_text(task: str, per_step: bool, time: str) -> str:
    """``time`` is "time" for the plain graph and "chunk" for the streaming one."""
    step = "each sample's last valid step" if time == "time" else "the chunk's last step"
    if task == "classification":
        return f"logits [batch, classes] at {step}"
    if per_step:
        return "[batch, time, outputs], zero past each length" if time == "time" else \
            "[batch, chunk, outputs], one row per step of the chunk"
    return f"[batch, outputs] at {step}"


def _described(name: str, dtype: str, shape: tuple[Dim, ...], text: str) -> TensorSpec:
    """A tensor whose description starts with its dtype and shape, e.g. ``int64 [batch] ...``."""
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    return TensorSpec(name, dtype, shape, f"{dtype} [{dims}] {text}")


def _state(i: int, shape: Sequence[int]) -> TensorSpec:
    """A recurrent state input [layers*dirs, batch, hidden]: batch (axis 1) is dynamic, the rest fixed."""
    dims: tuple[Dim, ...] = tuple("batch" if axis == 1 else int(d) for axis, d in enumerate(shape))
    return _described(f"state_{i}", "float32", dims, f"recurrent state {i} from the previous chunk; zeros to start")


# ---------------------------------------------------------------- sample input sets


def _normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return (rng.normal(size=shape) * scale).astype(np.float32)


def _data_sample(name: str, data: SequenceDataset, n: int) -> Sample:
    sub = data.subset(np.arange(min(len(data), n)))
    return Sample(name, {"x": sub.x, "lengths": sub.lengths}, sub.y)


def _trace(io: IoSpec, data: SequenceDataset | None) -> list[Sample]:
    """What the tracer runs: ragged (3, 7) for the plain graph, a (2, 5) chunk and zero state when streaming.

    Sizes unlike any parity case, so a size frozen into the graph shows up as a parity failure.
    """
    rng = np.random.default_rng(0)
    if not io.state_names:
        return [Sample("trace", {"x": _normal(rng, (3, 7, io.input_size)), "lengths": np.array([7, 2, 5])})]
    states = {s: np.zeros(_concrete(io.tensor(s).shape, batch=2), np.float32) for s in io.state_names}
    return [Sample("trace", {"x": _normal(rng, (2, 5 * io.frame, io.input_size)), **states})]


def _concrete(shape: tuple[Dim, ...], batch: int) -> tuple[int, ...]:
    return tuple(batch if d == "batch" else int(d) for d in shape if d is not None)


def _example(io: IoSpec, data: SequenceDataset | None, n: int = 4) -> list[Sample]:
    """The export's test_data_set_0: real samples when available, else a seeded ragged batch."""
    if data is not None and len(data) >= 1:
        return [_data_sample("example", data, n)]
    rng = np.random.default_rng(0)
    lengths = np.array([9, 3, 1, 6][:n], dtype=np.int64)
    return [Sample("example", {"x": _normal(rng, (len(lengths), 9, io.input_size)), "lengths": lengths})]


def _parity(io: IoSpec, data: SequenceDataset | None, seed: int = 0, small: bool = False) -> list[Sample]:
    """Batch sizes and lengths unlike the trace; ``small`` for the slow onnx.reference runtime."""
    rng = np.random.default_rng(seed)

    def case(name: str, b: int, t: int, lengths: Any = None, scale: float = 1.0) -> Sample:
        x = _normal(rng, (b, t, io.input_size), scale)
        lens = np.full(b, t, dtype=np.int64) if lengths is None else np.asarray(lengths).astype(np.int64)
        return Sample(name, {"x": x, "lengths": lens})

    cases = [case("batch1_len1", 1, 1), case("batch2_len5", 2, 5),
             case("batch7_ragged", 7, 20, [20, 1, 7, 13, 2, 20, 9]),
             # wide enough for rnnzoo.exporting.lowering's Scan branch (batch * hidden >= 512) in every runtime
             case("batch40_ragged_len6", 40, 6, rng.integers(1, 7, 40))]
    if not small:
        cases += [case("batch64_ragged", 64, 50, rng.integers(1, 51, 64)),
                  case(f"batch2_len{LONG}", 2, LONG),
                  case(f"batch7_ragged_len{LONG}", 7, LONG, [LONG, 1, 250, 499, 3, 120, 64]),
                  case("batch4_extreme_values", 4, 30, [30, 5, 17, 1], scale=1e3)]
    if data is not None and len(data):
        cases.append(_data_sample("validation_samples", data, 4 if small else 64))
    return cases


def _variants(io: IoSpec, data: SequenceDataset | None) -> list[Sample]:
    """Where the int8/fp16 variants are compared with float32: up to 512 real samples, else 256 random ones."""
    if data is not None:
        return [_data_sample("variants", data, 512)]
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 41, size=256)
    return [Sample("variants", {"x": _normal(rng, (256, 40, io.input_size)), "lengths": lengths})]


def _streaming(io: IoSpec, data: SequenceDataset | None) -> list[Sample]:
    """60 steps (frames) for 3 samples and the zero start state; the check feeds ``x`` chunk by chunk."""
    rng = np.random.default_rng(0)
    states = {s: np.zeros(_concrete(io.tensor(s).shape, batch=3), np.float32) for s in io.state_names}
    return [Sample("stream", {"x": _normal(rng, (3, 60 * io.frame, io.input_size)), **states})]


def _bench(io: IoSpec, data: SequenceDataset | None, batch: int = 1, length: int = 50) -> list[Sample]:
    """One random batch of full-length samples for latency (values do not matter, sizes do)."""
    rng = np.random.default_rng(0)
    x = _normal(rng, (batch, length, io.input_size))
    return [Sample(f"batch{batch}_len{length}", {"x": x, "lengths": np.full(batch, length, dtype=np.int64)})]


SAMPLE_KINDS: Mapping[str, Callable[..., list[Sample]]] = {
    "trace": _trace, "example": _example, "parity": _parity, "variants": _variants,
    "streaming": _streaming, "bench": _bench,
}
