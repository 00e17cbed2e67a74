"""Google LiteRT (TensorFlow Lite) on CPU: runs the ``model.tflite`` of ``rnnzoo export --litert`` (extra ``litert``).

A ``.tflite`` that plain LiteRT can run has a fixed ``[batch, time,
features]`` signature: any dynamic dimension makes the converter emit Flex
(TensorFlow "select") ops, which only a LiteRT build with the Flex delegate
runs, and no phone app ships that by default. So this runtime loads the
file in the plain ``ai_edge_litert`` interpreter, refuses a file with Flex
or custom ops, zero-pads a smaller batch or shorter time to the file's shape
(padding rows get length 1, and the exported graph reads each sample only up
to its own length), and refuses a larger batch or longer time by naming the
shape. Torch-free, like every runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.core.specs import RuntimeSpec
from rnnzoo.errors import DataError, ExportError
from rnnzoo.runtimes._common import availability, distribution_version

TFLITE_SUFFIX = ".tflite"


def tflite_ops(path: Path) -> list[str]:
    """Every op in the file, over all subgraphs (a ``WHILE`` loop's body too), read from the flatbuffer.

    Builtin ops by their LiteRT name (``FULLY_CONNECTED``, ``WHILE``); custom
    and Flex ops by their custom code (``FlexTensorListReserve``).
    """
    from ai_edge_litert import schema_py_generated as schema

    data = Path(path).read_bytes()
    try:
        if data[4:8] != b"TFL3":  # the flatbuffer identifier of every .tflite
            raise ValueError("no TFL3 identifier")
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as exc:  # a truncated or foreign flatbuffer fails anywhere inside the generated parser
        raise ExportError(f"{path} is not a readable .tflite file ({type(exc).__name__}: {exc}); "
                          "re-export it with `rnnzoo export MODEL --litert BATCHxTIME`") from exc
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops: set[str] = set()
    for subgraph in model.subgraphs or []:
        for op in subgraph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)  # codes > 127 live only in builtinCode
            if builtin == schema.BuiltinOperator.CUSTOM:
                ops.add(code.customCode.decode() if code.customCode else "CUSTOM")
            else:
                ops.add(names.get(builtin, f"BUILTIN_{builtin}"))
    return sorted(ops)


def non_builtin_ops(ops: list[str]) -> list[str]:
    """The ops plain LiteRT cannot run: Flex (TensorFlow select) and custom ops, i.e. anything not a builtin name."""
    return [op for op in ops if not (op.isupper() or op.startswith("BUILTIN_"))]


def check_builtin_only(path: Path) -> list[str]:
    """The file's op list; ``ExportError`` naming the Flex/custom ops when there are any."""
    ops = tflite_ops(path)
    bad = non_builtin_ops(ops)
    if bad:
        raise ExportError(
            f"{path} needs ops that plain LiteRT does not have: {', '.join(bad)} (Flex ops come from a dynamic "
            "batch or time dimension); re-export with a fixed shape: rnnzoo export MODEL --litert BATCHxTIME")
    return ops


def fixed_shape(path: Path) -> tuple[int, int, int]:
    """The file's ``(batch, time, features)``, read without running it."""
    interpreter = _interpreter(path, None)
    return _shape(_inputs(interpreter, path)[0])


def load(path: Path, threads: int | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``run(x, lengths)`` on a builtin-only ``.tflite``.

    Shorter batches and sequences are zero-padded to its fixed shape, and a
    larger batch runs in slices of the fixed batch; a longer sequence cannot
    run (``DataError``): the recurrence was unrolled for the fixed length.
    """
    path = Path(path)
    if path.suffix != TFLITE_SUFFIX:
        raise ExportError(f"the litert runtime runs .tflite files, not {path.name}: export with "
                          "`rnnzoo export MODEL --litert BATCHxTIME` and run its model.tflite")
    check_builtin_only(path)
    interpreter = _interpreter(path, threads)
    x_in, len_in = _inputs(interpreter, path)
    batch, time, features = _shape(x_in)
    output = interpreter.get_output_details()[0]

    def run(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        x, lengths = np.asarray(x), np.asarray(lengths)
        _check_fits(x, lengths, (batch, time, features), path)
        if x.shape[0] > batch:  # a larger batch runs in slices of the file's fixed batch
            return np.concatenate([run(x[i : i + batch], lengths[i : i + batch]) for i in range(0, len(x), batch)])
        n, t = x.shape[0], x.shape[1]
        padded_x = np.zeros((batch, time, features), np.float32)
        padded_x[:n, :t] = x
        padded_len = np.ones(batch, len_in["dtype"])  # a padding row: one valid (zero) step, output dropped
        padded_len[:n] = lengths
        interpreter.set_tensor(x_in["index"], padded_x)
        interpreter.set_tensor(len_in["index"], padded_len)
        interpreter.invoke()
        y = np.array(interpreter.get_tensor(output["index"]))  # a copy: the next invoke reuses the buffer
        return y[:n, :t] if y.ndim == 3 else y[:n]

    return run


def _interpreter(path: Path, threads: int | None) -> Any:
    """The plain interpreter (ai_edge_litert links no Flex delegate), tensors allocated."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"LiteRT cannot load {path}: {str(exc).strip().splitlines()[0]}") from exc
    return interpreter


def _inputs(interpreter: Any, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``x`` and ``lengths`` input details, by the names rnnzoo's converter keeps."""
    by_name = {d["name"]: d for d in interpreter.get_input_details()}
    if set(by_name) != {"x", "lengths"}:
        raise ExportError(f"{path} has inputs {sorted(by_name)}, not rnnzoo's x and lengths; "
                          "convert it with `rnnzoo export MODEL --litert BATCHxTIME`")
    return by_name["x"], by_name["lengths"]


def _shape(x_in: dict[str, Any]) -> tuple[int, int, int]:
    shape = [int(d) for d in x_in["shape"]]
    if len(shape) != 3 or min(shape) < 1:
        raise ExportError(f"the .tflite input x has shape {shape}, not a fixed [batch, time, features]")
    return shape[0], shape[1], shape[2]


def _check_fits(x: np.ndarray, lengths: np.ndarray, shape: tuple[int, int, int], path: Path) -> None:
    batch, time, features = shape
    if x.ndim != 3 or x.shape[2] != features or lengths.shape != (x.shape[0],):
        raise DataError(f"expected x [batch, time, {features}] and lengths [batch], got x {list(x.shape)} and "
                        f"lengths {list(lengths.shape)}")
    if x.shape[1] > time:
        raise DataError(
            f"{path.name} has the fixed shape [batch={batch}, time={time}, features={features}]: "
            f"{x.shape[1]} steps do not fit; re-export with a longer `--litert BATCHxTIME`")
    if lengths.size and (lengths.min() < 1 or lengths.max() > x.shape[1]):
        raise DataError(f"lengths must lie in 1..{x.shape[1]} (the batch's time), got {lengths.min()}..{lengths.max()}")


SPEC = RuntimeSpec(
    name="litert",
    description="Google LiteRT (TensorFlow Lite) CPU interpreter, builtin ops only, on model.tflite",
    load=load,
    version=distribution_version("ai-edge-litert", "litert"),
    available=availability("ai_edge_litert", "litert"),
    limitations="runs model.tflite (rnnzoo export --litert BATCHxTIME), not ONNX; fixed batch and time: "
                "smaller ones are padded, larger ones refused",
    model_format="tflite",
)
