"""onnx.reference: the ONNX spec's own pure-Python evaluator, slow but independent of every optimizing runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.core.specs import RuntimeSpec
from rnnzoo.runtimes._common import GraphRunner, availability, distribution_version, plain


def reference_rnn() -> type:
    """onnx.reference's RNN op with the spec's Relu activation added.

    The ONNX spec allows Relu for RNN (PyTorch's ``nonlinearity="relu"``
    exports it), but the reference implementation only knows Tanh and
    Affine and would crash instead of checking the model.
    """
    from onnx.reference.ops.op_rnn import RNN_14

    class RNN(RNN_14):
        op_domain = ""

        def choose_act(self, name: str, alpha: Any, beta: Any) -> Any:
            if name.lower() == "relu":
                return lambda v: np.maximum(v, 0)
            return super().choose_act(name, alpha, beta)

    return RNN


def reference_gather_elements() -> type:
    """onnx.reference's GatherElements without its limit of 64 positions on the gathered axis.

    The stock op goes through ``np.choose``, which takes at most 64 choices, so
    the last-valid-step readout of any sequence longer than 64 steps (most real
    datasets) raised ``ValueError`` instead of being checked.
    """
    from onnx.reference.ops.op_gather_elements import GatherElements as Stock

    class GatherElements(Stock):
        op_domain = ""

        def _run(self, data: np.ndarray, indices: np.ndarray, axis: int = 0) -> tuple[np.ndarray]:
            wrapped = np.where(indices < 0, indices + data.shape[axis], indices)
            return (np.take_along_axis(data, wrapped, axis=axis),)

    return GatherElements


def evaluator(model: Any) -> Any:
    """A ReferenceEvaluator for a path or ModelProto, with rnnzoo's two fixes to the evaluator's own ops."""
    from onnx.reference import ReferenceEvaluator

    source = str(model) if isinstance(model, Path) else model
    return ReferenceEvaluator(source, new_ops=[reference_rnn(), reference_gather_elements()])


def load_graph(path: Path, threads: int | None = None) -> GraphRunner:
    """``threads`` is ignored: the evaluator is single-threaded Python."""
    ref = evaluator(Path(path))
    return lambda feeds: [np.asarray(out) for out in ref.run(None, feeds)]


SPEC = RuntimeSpec(
    name="reference",
    description="onnx.reference.ReferenceEvaluator, the ONNX spec in pure Python (slow, independent)",
    load=plain(load_graph),
    load_graph=load_graph,
    version=distribution_version("onnx", None),
    available=availability("onnx", None),
    limitations="single-threaded Python: seconds per long batch",
)
