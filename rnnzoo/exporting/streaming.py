"""The stateful export: hidden state in, hidden state out, so an edge app can feed a stream by chunks.

Contract for a model whose spec says ``supports_streaming=True``: it has
``initial_state(batch) -> list[Tensor]`` and ``stream(x, state) -> (y, state)``
where every step of a chunk is valid. The graph is checked by feeding a
sequence chunk by chunk through onnxruntime and comparing with the whole
sequence in PyTorch.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnzoo.core.atomic import atomic_write
from rnnzoo.core.registry import get_spec
from rnnzoo.errors import ExportError
from rnnzoo.exporting.parity import compare
from rnnzoo.training.normalize import NormalizedModel

STREAM_FILE = "model.streaming.onnx"


class _Streaming(nn.Module):
    def __init__(self, net: NormalizedModel) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        model: Any = self.net.model  # a streaming model (see the module docstring)
        out, new_state = model.stream((x - self.net.mean) / self.net.std, list(state))
        return (out, *new_state)


def export_streaming(net: NormalizedModel, meta: dict[str, Any], folder: Path, opset: int) -> dict[str, Any]:
    """Write model.streaming.onnx and verify chunked == whole; returns the card entry."""
    inner: Any = net.model
    if not get_spec(meta["model"]).supports_streaming or not hasattr(inner, "stream"):
        raise ExportError(f"{meta['model']} does not support streaming (ModelSpec.supports_streaming)")
    try:
        state = inner.initial_state(2)
        inner.stream(torch.zeros(2, 1, meta["input_size"]), state)
    except Exception as exc:  # e.g. a bidirectional model refuses
        raise ExportError(f"{meta['model']} cannot stream: {exc}") from exc
    names = [f"state_{i}" for i in range(len(state))]
    per_step = bool(meta.get("per_step"))
    axes = {"x": {0: "batch", 1: "chunk"}, "y": {0: "batch", 1: "chunk"} if per_step else {0: "batch"}}
    axes.update({n: {1: "batch"} for n in names})
    axes.update({f"{n}_out": {1: "batch"} for n in names})
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Streaming(net).eval(), (torch.randn(2, 5, meta["input_size"]), *state), buf,  # type: ignore[arg-type]
            dynamo=False, opset_version=opset, input_names=["x", *names],
            output_names=["y", *[f"{n}_out" for n in names]], dynamic_axes=axes,
        )
    atomic_write(folder / STREAM_FILE, lambda p: p.write_bytes(buf.getvalue()))
    return {"file": STREAM_FILE, "state_inputs": names, "state_shapes": [list(s.shape) for s in state],
            "check": check_streaming(net, meta, folder / STREAM_FILE, len(names))}


def check_streaming(net: NormalizedModel, meta: dict[str, Any], path: Path, n_state: int) -> dict[str, Any]:
    """Feed 60 steps as chunks of 1, 7 and 25 through ORT; compare with the whole sequence in torch."""
    from rnnzoo.deploy.runtime import make_session

    session = make_session(path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 60, meta["input_size"])).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
        hidden = net.model.initial_state(3)[0].shape[-1]  # type: ignore[operator]
    tol = get_spec(meta["model"]).tolerance
    cases = []
    for chunk in (1, 7, 25):
        state = [np.zeros((1, 3, hidden), np.float32) for _ in range(n_state)]
        outs = []
        for start in range(0, 60, chunk):
            res = session.run(None, {"x": x[:, start : start + chunk],
                                     **{f"state_{i}": s for i, s in enumerate(state)}})
            outs.append(res[0])
            state = res[1:]
        got = np.concatenate(outs, axis=1) if meta.get("per_step") else outs[-1]
        cases.append(compare(f"chunks_of_{chunk}", "onnxruntime", got, want, tol.atol, tol.rtol).__dict__)
    return {"passed": all(c["passed"] for c in cases), "cases": cases}
