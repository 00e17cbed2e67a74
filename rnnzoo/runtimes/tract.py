"""Sonos tract, a pure-Rust ONNX runtime for small devices (optional extra ``rnnzoo[tract]``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnzoo.core.specs import RuntimeSpec
from rnnzoo.deploy.runtime import feeds
from rnnzoo.runtimes._common import availability, distribution_version


def load(path: Path, threads: int | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``threads`` is ignored: tract's Python API has no thread setting.

    tract 0.23's Python API has no ``into_optimized``: ``into_runnable`` optimizes; the file's own input
    facts keep batch and time symbolic.
    """
    import tract

    runnable = tract.onnx().load(str(path)).into_model().into_runnable()

    def run(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        outputs = runnable.run(list(feeds(x, lengths).values()))  # tract takes the inputs in graph order
        return np.asarray(outputs[0].to_numpy())

    return run


SPEC = RuntimeSpec(
    name="tract",
    description="Sonos tract, a pure-Rust ONNX runtime for small devices",
    load=load,
    version=distribution_version("tract", "tract"),
    available=availability("tract", "tract"),
    limitations="no thread setting",
)
