"""The stateful export: hidden state in, hidden state out, so an edge app can feed a stream by chunks.

Contract for a model whose spec says ``supports_streaming=True``: it has
``initial_state(batch) -> list[Tensor]`` and ``stream(x, state) -> (y, state)``
where every step of a chunk is valid. The graph is checked by feeding a
sequence chunk by chunk through onnxruntime and comparing with the whole
sequence in PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnzoo.core.atomic import atomic_write
from rnnzoo.core.meta import ModelMeta
from rnnzoo.core.registry import get_spec
from rnnzoo.deploy.card import STREAM_FILE, StreamingSection
from rnnzoo.deploy.compare import Case, compare
from rnnzoo.errors import ExportError
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.exporting.trace import onnx_metadata, trace
from rnnzoo.training.config import time_stride
from rnnzoo.training.normalize import NormalizedModel


class _Streaming(nn.Module):
    def __init__(self, net: NormalizedModel) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        model: Any = self.net.model  # a streaming model (see the module docstring)
        out, new_state = model.stream((x - self.net.mean) / self.net.std, list(state))
        return (self.net.unscale(out), *new_state)


def export_streaming(net: NormalizedModel, meta: ModelMeta, folder: Path, opset: int) -> StreamingSection:
    """Write model.streaming.onnx and verify chunked == whole; returns the card's streaming section.

    The graph goes
    through the same :func:`~rnnzoo.exporting.trace.trace` as ``model.onnx``:
    exporter errors become ``ExportError``, ``onnx.checker`` runs, and the
    file carries rnnzoo's ``metadata_props`` (with the state inputs described).
    """
    frame = time_stride(net.model)
    state = _probe_state(net, meta.model, meta.input_size, frame)
    io = IoSpec.for_streaming(meta.input_size, meta.per_step, [s.shape for s in state], meta.task, frame)
    proto = trace(_Streaming(net), io.sample_inputs("trace")[0], io, opset, model=meta.model,
                  metadata=onnx_metadata(meta, opset, io))
    atomic_write(folder / STREAM_FILE, lambda p: p.write_bytes(proto.SerializeToString()))
    return StreamingSection(STREAM_FILE, io.state_names, [list(s.shape) for s in state],
                            check_streaming(net, io, folder / STREAM_FILE, meta.model), frame)


def _probe_state(net: NormalizedModel, model: str, input_size: int, frame: int) -> list[torch.Tensor]:
    """The model's start state at batch 2, after checking it can stream one step (one frame) at all."""
    inner: Any = net.model
    if not get_spec(model).supports_streaming or not hasattr(inner, "stream"):
        raise ExportError(f"{model} does not support streaming (ModelSpec.supports_streaming)")
    try:
        state: list[torch.Tensor] = inner.initial_state(2)
        inner.stream(torch.zeros(2, frame, input_size), state)
    except Exception as exc:  # e.g. a bidirectional model refuses
        raise ExportError(f"{model} cannot stream: {exc}") from exc
    return state


def check_streaming(net: NormalizedModel, io: IoSpec, path: Path, model: str) -> list[Case]:
    """Feed 60 steps as chunks of 1, 7 and 25 through onnxruntime; compare with the whole sequence in torch."""
    from rnnzoo.runtimes.onnxruntime import load_graph

    return chunked_cases(net, io, load_graph(path, None), "onnxruntime", model)


def chunked_cases(net: NormalizedModel, io: IoSpec, run: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
                  runtime: str, model: str) -> list[Case]:
    """One case per chunk size: ``run`` (any runtime's ``load_graph``) fed chunk by chunk vs torch on it all.

    Chunks of 1, 7 and 25 steps, or frames for a model that reads frames.
    """
    feeds = io.sample_inputs("streaming")[0].feeds
    x, steps = feeds["x"], feeds["x"].shape[1]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    tol = get_spec(model).tolerance
    cases = []
    for chunk in (io.frame, 7 * io.frame, 25 * io.frame):
        state = [feeds[name] for name in io.state_names]
        outs = []
        for start in range(0, steps, chunk):
            res = run({"x": x[:, start : start + chunk], **dict(zip(io.state_names, state, strict=True))})
            outs.append(res[0])
            state = res[1:]
        got = np.concatenate(outs, axis=1) if io.per_step else outs[-1]
        cases.append(compare(f"chunks_of_{chunk}", runtime, got, want, tol.atol, tol.rtol))
    return cases
