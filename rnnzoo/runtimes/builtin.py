"""rnnzoo's own runtime plugin: onnxruntime, onnx.reference, OpenVINO (exact, defaults), tract, onnxruntime-web/-node.

And LiteRT (``litert``), which runs the ``model.tflite`` of ``rnnzoo export --litert``, not ONNX files.

Registered through the ``rnnzoo`` entry point ``builtin_runtimes`` in
rnnzoo's ``pyproject.toml``, the same way a third-party plugin is. No
runtime is imported here: OpenVINO and tract are optional extras, ``web`` and
``node`` need Node.js and ``make node-runtimes``, and a runtime that is not
installed is still listed with the reason it cannot run.
"""

from __future__ import annotations

from collections.abc import Callable

from rnnzoo.core.hookspecs import hookimpl
from rnnzoo.core.specs import RuntimeSpec


def builtin_specs() -> list[RuntimeSpec]:
    """The built-in runtime specs (``openvino_default`` measures OpenVINO's own defaults; never a gate)."""
    from rnnzoo.runtimes import litert, onnxruntime, openvino, reference, tract, web

    return [onnxruntime.SPEC, reference.SPEC, openvino.SPEC, openvino.DEFAULT_SPEC, tract.SPEC, web.WEB, web.NODE,
            litert.SPEC]


@hookimpl
def rnnzoo_register_runtimes(register: Callable[[RuntimeSpec], None]) -> None:
    for spec in builtin_specs():
        register(spec)
