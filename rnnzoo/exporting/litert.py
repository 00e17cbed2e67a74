"""``model.tflite`` for LiteRT (TensorFlow Lite): builtin ops only, a fixed ``[batch, time]``, checked for parity.

The path (measured in benchmarks/litert/README.md): trace the model's
fused-RNN ONNX graph, pin ``x``/``lengths`` to a fixed shape, let
onnxruntime's basic graph optimizations fold the shape arithmetic that a
dynamic graph needs (Shape/ConstantOfShape/Expand), convert with onnx2tf,
then refuse the file if it has any Flex or custom op. Why fixed: with any
dynamic dimension onnx2tf lowers the recurrence through TensorFlow
TensorLists, which are Flex ops that plain LiteRT does not run; with a
fixed shape it is a builtin ``WHILE`` loop of FULLY_CONNECTED/LOGISTIC/TANH.

The converter needs TensorFlow and onnx2tf (extra ``rnnzoo[litert]``); it
runs in a child process (``onnx2tf_job.py``), under ``RNNZOO_LITERT_PYTHON``
when that names another Python whose environment has them. Checking the
file needs only ``ai-edge-litert`` here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time as clock
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from rnnzoo.core.atomic import atomic_write
from rnnzoo.core.meta import ModelMeta
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.deploy.card import LITERT_FILE, LITERT_VARIANT_FILES, MODEL_FILE
from rnnzoo.errors import ExportError, MissingDependencyError
from rnnzoo.runtimes import litert as runtime
from rnnzoo.training.normalize import NormalizedModel

PYTHON_ENV = "RNNZOO_LITERT_PYTHON"  # a Python with onnx2tf + TensorFlow, when rnnzoo's own has not
CONVERT_TIMEOUT_S = 900
JOB = Path(__file__).with_name("onnx2tf_job.py")
MAX_STEPS = 100_000
_SHAPE = re.compile(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*")


def parse_shape(text: str | Sequence[int]) -> tuple[int, int]:
    """``"1x128"`` or ``(1, 128)`` as ``(batch, time)``; a clear error for anything else."""
    if isinstance(text, str):
        match = _SHAPE.fullmatch(text)
        if not match:
            raise ExportError(f"--litert wants BATCHxTIME, e.g. 1x128, got {text!r}")
        values: Sequence[Any] = (int(match[1]), int(match[2]))
    else:
        values = tuple(text)
    if (len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
            or not (1 <= values[0] <= 4096 and 1 <= values[1] <= MAX_STEPS)):
        raise ExportError(f"litert shape must be (batch, time) with batch in 1..4096 and time in 1..{MAX_STEPS}, "
                          f"got {text!r}")
    return int(values[0]), int(values[1])


def converter_python() -> str:
    """The Python that runs onnx2tf: ``$RNNZOO_LITERT_PYTHON``, else this one if it has onnx2tf."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        if not (Path(named).is_file() and os.access(named, os.X_OK)):
            raise MissingDependencyError(f"{PYTHON_ENV}={named} is not an executable Python")
        return named
    if importlib.util.find_spec("onnx2tf") is None or importlib.util.find_spec("tensorflow") is None:
        raise MissingDependencyError(
            "converting to LiteRT needs onnx2tf and TensorFlow: pip install 'rnnzoo[litert]', or set "
            f"{PYTHON_ENV} to a Python whose environment has onnx2tf==1.28.8 and tensorflow")
    return sys.executable


def export_litert(
    folder: Path, net: NormalizedModel, meta: ModelMeta, shape: str | Sequence[int], opset: int,
    data: SequenceDataset | None,
) -> dict[str, Any]:
    """Write ``folder/model.tflite`` and return the card's ``litert`` section; ``ExportError`` if it cannot pass.

    Refused: Flex/custom ops, a converter failure, or a parity check outside
    the model's tolerance (vs PyTorch and vs onnxruntime on ``model.onnx``).
    """
    batch, steps = parse_shape(shape)
    if runtime.SPEC.available() is not None:
        raise MissingDependencyError(f"checking the .tflite needs LiteRT: {runtime.SPEC.available()}")
    python = converter_python()
    start = clock.perf_counter()
    proto = _fused_graph(net, meta, opset)
    file_batch, file_steps = collision_free_shape(proto, batch, steps)
    with tempfile.TemporaryDirectory(prefix="rnnzoo-litert-") as tmp:
        static = Path(tmp) / "model_static.onnx"
        pin_and_fold(proto, static, file_batch, file_steps)
        tflite, variant_files, versions = run_converter(python, static, Path(tmp) / "tflite")
        ops = runtime.check_builtin_only(tflite)
        atomic_write(folder / LITERT_FILE, lambda p: shutil.copyfile(tflite, p))
        variants = {name: _write_variant(folder, name, path) for name, path in variant_files.items()}
    parity = litert_parity(folder, net, meta, file_batch, file_steps, data)
    for entry in variants.values():
        if entry["written"]:
            entry.update(variant_agreement(folder, entry["file"], meta, file_batch, file_steps, data))
    section = {
        "file": LITERT_FILE, "shape": {"batch": file_batch, "time": file_steps, "features": meta.input_size},
        "requested": {"batch": batch, "time": steps},
        "bytes": (folder / LITERT_FILE).stat().st_size, "ops": ops, "non_builtin_ops": [],
        "converter": {"path": "onnx2tf (fixed shape, onnxruntime constant folding)", "versions": versions,
                      "separate_python": python != sys.executable},
        "runtime": {"ai-edge-litert": runtime.SPEC.version()},
        "parity": parity, "variants": variants, "seconds": round(clock.perf_counter() - start, 3),
    }
    if not parity["passed"]:
        worst = max(parity["cases"], key=lambda c: c["max_abs_vs_pytorch"])
        raise ExportError(f"model.tflite differs from PyTorch beyond atol={parity['atol']}/rtol={parity['rtol']}: "
                          f"case {worst['name']} max abs {worst['max_abs_vs_pytorch']:.3g}")
    return section


def collision_free_shape(proto: onnx.ModelProto, batch: int, steps: int) -> tuple[int, int]:
    """The smallest ``(batch', time') >= (batch, time)`` whose sizes differ from each other and the model's own.

    Why: onnx2tf decides how to lay out each tensor by matching dimension
    sizes, so a batch equal to the feature count, a time equal to the hidden
    size, or batch equal to time, gave a ``.tflite`` that computed the wrong
    thing (or failed to convert); see benchmarks/litert/README.md. The file
    is then a little larger than asked, and the runtime zero-pads up to it.
    The parity check stays the judge.
    """
    taken = model_sizes(proto)  # 1 only for a single-feature model: its batch-1 state [1, 1, hidden] was misread
    while batch in taken:
        batch += 1
    while steps in taken or (steps == batch and steps > 1):
        steps += 1
    return batch, steps


def model_sizes(proto: onnx.ModelProto) -> set[int]:
    """Sizes the model fixes: features, each recurrent layer's input and hidden size, 2 if bidirectional."""
    sizes = {d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim if d.dim_value}
    weights = {t.name: list(t.dims) for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type in ("RNN", "LSTM", "GRU"):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            hidden = int(attrs.get("hidden_size", 0))
            both = attrs.get("direction", b"forward") == b"bidirectional"
            layer_input = weights.get(node.input[1], [0, 0, 0])[-1]  # W [directions, gates*hidden, input]
            sizes |= {hidden, layer_input, *((2, 2 * hidden) if both else ())}
    return sizes - {0}


def _fused_graph(net: NormalizedModel, meta: ModelMeta, opset: int) -> onnx.ModelProto:
    """The graph before rnnzoo's onnxruntime-speed lowering: one fused RNN/LSTM/GRU node a layer, what onnx2tf maps."""
    from rnnzoo.exporting.exporter import to_onnx

    return to_onnx(net, meta, opset, lower=False)


def pin_and_fold(proto: onnx.ModelProto, dst: Path, batch: int, steps: int) -> None:
    """Fix the symbolic batch/time dims of inputs and outputs, then fold what they made constant.

    onnxruntime's basic level only folds constants and drops redundant nodes
    (standard ONNX ops in, standard ONNX ops out); it is what turns the
    Shape -> ConstantOfShape -> Expand chains and the ``If`` on the batch size
    into plain tensors, which onnx2tf needs to see a fixed-length loop.
    """
    import onnxruntime as ort

    pinned = onnx.ModelProto()
    pinned.CopyFrom(proto)
    sizes = {"batch": batch, "time": steps}
    for value in [*pinned.graph.input, *pinned.graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in sizes:
                size = sizes[dim.dim_param]
                dim.ClearField("dim_param")
                dim.dim_value = size
    src = dst.with_name("pinned.onnx")
    src.write_bytes(pinned.SerializeToString())
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
    folded = onnx.load(str(dst))
    drop_zero_initial_states(folded)
    dst.write_bytes(folded.SerializeToString())


def drop_zero_initial_states(proto: onnx.ModelProto) -> None:
    """Remove all-zero ``initial_h`` inputs of RNN/GRU nodes and ``initial_c`` of LSTM (absent means zeros in ONNX).

    Why: folding turns PyTorch's zero state into a ``[directions, batch,
    hidden]`` constant, and onnx2tf's channel-layout guessing transposes such
    a constant when its sizes look like channels (batch 3, hidden 8 became
    ``(8, 3)`` and the conversion failed); without the input there is nothing
    to guess.
    """
    from onnx import numpy_helper

    zeros = {t.name for t in proto.graph.initializer if not numpy_helper.to_array(t).any()}
    for node in proto.graph.node:
        if node.op_type not in ("RNN", "LSTM", "GRU"):
            continue
        inputs = list(node.input)
        for i in (6,) if node.op_type == "LSTM" else (5,):  # onnx2tf 1.28's LSTM fails without initial_h
            if i < len(inputs) and inputs[i] in zeros:
                inputs[i] = ""
        while inputs and not inputs[-1]:
            inputs.pop()
        del node.input[:]
        node.input.extend(inputs)
    used = {name for node in proto.graph.node for name in node.input}
    kept = [t for t in proto.graph.initializer if t.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)


def _write_variant(folder: Path, name: str, path: Path) -> dict[str, Any]:
    """Copy one converter variant in as ``model.<name>.tflite`` if plain LiteRT can run it; its card entry."""
    file = LITERT_VARIANT_FILES[name]
    try:
        ops = runtime.check_builtin_only(path)
    except ExportError as exc:  # e.g. a quantized op that needs Flex: the variant is left out, the export goes on
        return {"file": file, "written": False, "why": str(exc).splitlines()[0]}
    atomic_write(folder / file, lambda p: shutil.copyfile(path, p))
    return {"file": file, "written": True, "ops": ops, "bytes": (folder / file).stat().st_size,
            "size_ratio": round((folder / file).stat().st_size / (folder / LITERT_FILE).stat().st_size, 4)}


def variant_agreement(folder: Path, file: str, meta: ModelMeta, batch: int, steps: int,
                      data: SequenceDataset | None) -> dict[str, Any]:
    """How far a reduced-precision ``.tflite`` is from ``model.tflite`` on the parity cases (not a gate).

    Like the ONNX int8/fp16 files, these are not meant to equal PyTorch: the
    card says by how much they differ (max abs, relative error, and argmax
    agreement for a classifier), so a user can judge them for their task.
    """
    base, variant = runtime.load(folder / LITERT_FILE, 1), runtime.load(folder / file, 1)
    ref, out = [], []
    for _, x, lengths in parity_cases(meta, data, batch, steps):  # rows: samples, or valid steps per step
        ref.append(_valid(base(x, lengths), lengths).reshape(-1, meta.output_size))
        out.append(_valid(variant(x, lengths), lengths).reshape(-1, meta.output_size))
    r, o = np.concatenate(ref), np.concatenate(out)
    info: dict[str, Any] = {"max_abs_vs_fp32": float(np.abs(o - r).max()),
                            "rel_error_vs_fp32": float(np.linalg.norm(o - r) / max(float(np.linalg.norm(r)), 1e-12))}
    if meta.task == "classification":
        info["argmax_agreement"] = float(np.mean(o.argmax(1) == r.argmax(1)))
    if info["max_abs_vs_fp32"] == 0.0:  # seen with hidden 8: TFLite leaves weight tensors under 1,024 values alone
        info["note"] = f"the same outputs as {LITERT_FILE}: the converter kept this model's small weights float32"
    return info


def run_converter(python: str, static: Path, out_dir: Path) -> tuple[Path, dict[str, Path], dict[str, str]]:
    """onnx2tf in a child process; the float32 ``.tflite`` it wrote, its variants and the converter versions."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    try:
        done = subprocess.run([python, str(JOB), str(static), str(out_dir)], capture_output=True, text=True,
                              timeout=CONVERT_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise ExportError(f"onnx2tf did not finish in {CONVERT_TIMEOUT_S} s") from None
    except OSError as exc:
        raise MissingDependencyError(f"cannot run the converter Python {python}: {exc}") from exc
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise ExportError(f"onnx2tf failed (exit {done.returncode}): {_tail(done.stderr)}")
    report = json.loads(lines[-1])
    variants = {k: Path(v) for k, v in report.get("variants", {}).items() if k in LITERT_VARIANT_FILES}
    return Path(report["tflite"]), variants, dict(report["versions"])


def _tail(stderr: str, n: int = 3) -> str:
    """The last lines that say something: TensorFlow's start-up log lines (I0000/W0000 ...) are noise."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not re.match(r"^[IWE]\d{4} ", ln)
             and "absl::InitializeLog" not in ln]
    return " | ".join(lines[-n:]) or "no message"


def parity_cases(meta: ModelMeta, data: SequenceDataset | None, batch: int, steps: int
                 ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Ragged batches that fit the fixed shape: full, ragged (1 and ``time`` included), smaller, large values, data.

    ``smaller`` has fewer samples and steps than the file, so the runtime's
    zero-padding to the fixed shape is part of what is checked.
    """
    from rnnzoo.exporting.exporter import example_batch

    rng = np.random.default_rng(0)
    features = meta.input_size

    def ragged(n: int, t: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        lengths = rng.integers(1, t + 1, size=n).astype(np.int64)
        lengths[0] = t
        if n > 1:
            lengths[-1] = 1
        x = (rng.standard_normal((n, t, features)) * scale).astype(np.float32)
        x[np.arange(t)[None, :] >= lengths[:, None]] = 0.0
        return x, lengths

    full = (rng.standard_normal((batch, steps, features)).astype(np.float32), np.full(batch, steps, np.int64))
    real_x, real_len = example_batch(meta, data, n=batch)
    real = (np.ascontiguousarray(real_x[:, :steps], np.float32), np.minimum(real_len, steps).astype(np.int64))
    return [("full", *full), ("ragged", *ragged(batch, steps)),
            ("smaller", *ragged(max(1, batch // 2), max(1, steps // 2))),
            ("large_values", *ragged(batch, steps, 5.0)), ("data", *real)]


def litert_parity(folder: Path, net: NormalizedModel, meta: ModelMeta, batch: int, steps: int,
                  data: SequenceDataset | None) -> dict[str, Any]:
    """``model.tflite`` in plain LiteRT vs PyTorch and vs onnxruntime on ``model.onnx``, case by case."""
    import onnxruntime as ort

    atol, rtol = _tolerance(meta)
    run = runtime.load(folder / LITERT_FILE, 1)
    session = ort.InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"])
    cases = []
    for name, x, lengths in parity_cases(meta, data, batch, steps):
        got = _valid(run(x, lengths), lengths)
        with torch.no_grad():
            want = _valid(net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy(), lengths)
        ort_out = _valid(session.run(None, {"x": x, "lengths": lengths})[0], lengths)
        cases.append({
            "name": name, "batch": int(x.shape[0]), "time": int(x.shape[1]),
            "lengths": [int(lengths.min()), int(lengths.max())],
            "max_abs_vs_pytorch": float(np.abs(got - want).max()),
            "max_abs_vs_onnxruntime": float(np.abs(got - ort_out).max()),
            "passed": bool(np.all(np.abs(got - want) <= atol + rtol * np.abs(want))),
        })
    return {"atol": atol, "rtol": rtol, "passed": all(c["passed"] for c in cases), "cases": cases}


def _valid(y: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-step outputs with the padded steps zeroed: only valid steps are compared."""
    y = np.asarray(y, np.float32)
    if y.ndim == 3:
        y = np.where((np.arange(y.shape[1])[None, :] < lengths[:, None])[..., None], y, 0.0)
    return y


def _tolerance(meta: ModelMeta) -> tuple[float, float]:
    """The model's own parity tolerance (its ModelSpec), else the default one."""
    from rnnzoo.core.registry import get_spec
    from rnnzoo.errors import UnknownModelError

    try:
        tol = get_spec(meta.model).tolerance
    except UnknownModelError:
        return 1e-4, 1e-3
    return float(tol.atol), float(tol.rtol)
