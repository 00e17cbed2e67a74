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


def load_graph(path: Path, threads: int | None = None) -> GraphRunner:
    """``threads`` is ignored: the evaluator is single-threaded Python."""
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(str(path), new_ops=[reference_rnn()])
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
