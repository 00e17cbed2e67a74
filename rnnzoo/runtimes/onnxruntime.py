"""onnxruntime, CPU execution provider: what ``rnnzoo predict`` and the default ``verify`` use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnzoo.core.specs import RuntimeSpec
from rnnzoo.runtimes._common import GraphRunner, availability, distribution_version


def load(path: Path, threads: int | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from rnnzoo.deploy.runtime import make_session, run_session

    session = make_session(path, threads)
    return lambda x, lengths: run_session(session, x, lengths)


def load_graph(path: Path, threads: int | None = None) -> GraphRunner:
    from rnnzoo.deploy.runtime import make_session

    session = make_session(path, threads)
    return lambda feeds: [np.asarray(out) for out in session.run(None, feeds)]


SPEC = RuntimeSpec(
    name="onnxruntime",
    description="onnxruntime on CPU with all graph optimizations (what predict and verify use)",
    load=load,  # not derived from load_graph: run_session's errors name the input shapes
    load_graph=load_graph,
    version=distribution_version("onnxruntime", None),
    available=availability("onnxruntime", None),
)
