"""Intel OpenVINO on CPU, forced to float32 inference (optional extra ``rnnzoo[openvino]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.core.specs import RuntimeSpec
from rnnzoo.runtimes._common import GraphRunner, availability, distribution_version, plain

# What the model means, not OpenVINO's CPU defaults: on CPUs with AVX-512 BF16 or AMX it computes in bfloat16
# (8-bit mantissa: 1e-3 to 1e-2 from PyTorch), and it quantizes the activations of an int8 file's MatMuls on
# the fly (7e-4 from onnxruntime on the same file). `openvino_default` below measures what the defaults give.
EXACT_CONFIG: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0}


def _loader(config: dict[str, Any]) -> Any:
    def load_graph(path: Path, threads: int | None = None) -> GraphRunner:
        import openvino

        settings = {**config, "INFERENCE_NUM_THREADS": threads} if threads else dict(config)
        compiled = openvino.Core().compile_model(str(path), "CPU", settings)
        outputs = list(compiled.outputs)

        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            result = compiled(feeds)
            return [np.asarray(result[out]) for out in outputs]

        return run

    return load_graph


load_graph = _loader(EXACT_CONFIG)
_default_graph = _loader({})

SPEC = RuntimeSpec(
    name="openvino",
    description="Intel OpenVINO on CPU with float32 inference precision",
    load=plain(load_graph),
    load_graph=load_graph,
    version=distribution_version("openvino", "openvino"),
    available=availability("openvino", "openvino"),
)

DEFAULT_SPEC = RuntimeSpec(
    name="openvino_default",
    description="Intel OpenVINO on CPU with its default settings: what a user who sets nothing gets",
    load=plain(_default_graph),
    load_graph=_default_graph,
    version=distribution_version("openvino", "openvino"),
    available=availability("openvino", "openvino"),
    gate=False,
    limitations="bfloat16 compute on CPUs with AVX-512 BF16/AMX, dynamic int8 activations: outside fp32 tolerances "
                "there by design; reported, never a gate",
)
