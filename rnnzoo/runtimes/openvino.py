"""Intel OpenVINO on CPU, forced to float32 inference (optional extra ``rnnzoo[openvino]``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.core.specs import RuntimeSpec
from rnnzoo.deploy.runtime import feeds
from rnnzoo.runtimes._common import availability, distribution_version


def load(path: Path, threads: int | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    import openvino

    # OpenVINO's default on bf16-capable CPUs (AVX-512 BF16, AMX) computes in bfloat16, whose 8-bit mantissa
    # is far outside any export's tolerance; f32 makes it compute what the model means.
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = openvino.Core().compile_model(str(path), "CPU", config)
    output = compiled.output(0)

    def run(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return np.asarray(compiled(feeds(x, lengths))[output])

    return run


SPEC = RuntimeSpec(
    name="openvino",
    description="Intel OpenVINO on CPU with float32 inference precision",
    load=load,
    version=distribution_version("openvino", "openvino"),
    available=availability("openvino", "openvino"),
)
