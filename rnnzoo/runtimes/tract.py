"""Sonos tract, a pure-Rust ONNX runtime for small devices (optional extra ``rnnzoo[tract]``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnzoo.core.specs import RuntimeSpec
from rnnzoo.runtimes._common import GraphRunner, availability, distribution_version, plain


def load_graph(path: Path, threads: int | None = None) -> GraphRunner:
    """``threads`` is ignored: tract's Python API has no thread setting.

    tract 0.23's Python API has no ``into_optimized``: ``into_runnable`` optimizes; the file's own input
    facts keep batch and time symbolic. It takes the inputs as a list in graph order.
    """
    import onnx
    import tract

    names = [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]
    runnable = tract.onnx().load(str(path)).into_model().into_runnable()

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = runnable.run([feeds[name] for name in names])
        return [np.asarray(out.to_numpy()) for out in outputs]

    return run


SPEC = RuntimeSpec(
    name="tract",
    description="Sonos tract, a pure-Rust ONNX runtime for small devices",
    load=plain(load_graph),
    load_graph=load_graph,
    version=distribution_version("tract", "tract"),
    available=availability("tract", "tract"),
    limitations="no thread setting",
)
