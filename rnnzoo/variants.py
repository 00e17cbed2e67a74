"""Edge variants of an export: int8 dynamic quantization and float16 weights, each checked.

onnxruntime's dynamic quantizer has an int8 kernel for ``LSTM``
(``DynamicQuantizeLSTM``) but none for ``GRU`` or ``RNN``: for those only the
linear head is quantized. We report that plainly (``recurrent_quantized``)
instead of pretending; the size ratio shows the consequence.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.checkpoint import atomic_write
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.runtime import MODEL_FILE, make_session, run_session

INT8_FILE, FP16_FILE = "model.int8.onnx", "model.fp16.onnx"


def make_variants(
    folder: Path, meta: dict[str, Any], data: SequenceDataset | None, *, int8: bool, fp16: bool
) -> dict[str, Any]:
    base = folder / MODEL_FILE
    x, lengths, y = _eval_inputs(meta, data)
    ref = run_session(make_session(base), x, lengths)
    out: dict[str, Any] = {}
    if int8:
        _quantize_int8(base, folder / INT8_FILE)
        out["int8"] = _describe(base, folder / INT8_FILE, meta, ref, x, lengths, y)
    if fp16:
        _to_fp16_weights(base, folder / FP16_FILE)
        out["fp16"] = _describe(base, folder / FP16_FILE, meta, ref, x, lengths, y)
    return out


def _eval_inputs(
    meta: dict[str, Any], data: SequenceDataset | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if data is not None:
        sub = data.subset(np.arange(min(len(data), 512)))
        return sub.x, sub.lengths, sub.y
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 41, size=256)
    return rng.normal(size=(256, 40, meta["input_size"])).astype(np.float32), lengths, None


def _quantize_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger("root").setLevel(logging.ERROR)  # the quantizer's pre-processing advice
    atomic_write(dst, lambda p: quantize_dynamic(src, p, weight_type=QuantType.QInt8))


def _to_fp16_weights(src: Path, dst: Path) -> None:
    """Store float32 weights as float16 with a Cast back: half the size, float32 compute.

    onnxruntime's CPU kernels for LSTM/GRU/RNN are float32 only, so casting
    the compute to float16 would not run; storage is where the edge win is.
    """
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(src))
    graph, casts, keep = proto.graph, [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype != np.float32 or arr.size < 16:
            keep.append(init)
            continue
        keep.append(numpy_helper.from_array(arr.astype(np.float16), f"{init.name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{init.name}__fp16"], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=f"{init.name}__cast"))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(proto)
    atomic_write(dst, lambda p: p.write_bytes(proto.SerializeToString()))


def _describe(
    base: Path, variant: Path, meta: dict[str, Any], ref: np.ndarray,
    x: np.ndarray, lengths: np.ndarray, y: np.ndarray | None,
) -> dict[str, Any]:
    import onnx

    out = run_session(make_session(variant), x, lengths)
    ops = [n.op_type for n in onnx.load(str(variant)).graph.node]
    info: dict[str, Any] = {
        "file": variant.name,
        "size_bytes": variant.stat().st_size,
        "size_ratio": round(variant.stat().st_size / base.stat().st_size, 4),
        "max_abs_diff_vs_fp32": float(np.max(np.abs(out - ref))),
        "recurrent_quantized": "DynamicQuantizeLSTM" in ops,
        "recurrent_ops": sorted({o for o in ops if o.endswith(("LSTM", "GRU", "RNN"))}),
    }
    if meta["task"] == "classification":
        info["argmax_agreement"] = float(np.mean(out.argmax(1) == ref.argmax(1)))
    elif y is not None:
        info["rmse_fp32"], info["rmse_variant"] = _rmse(ref, y, lengths), _rmse(out, y, lengths)
        info["rmse_increase"] = info["rmse_variant"] - info["rmse_fp32"]
    return info


def _rmse(out: np.ndarray, y: np.ndarray, lengths: np.ndarray) -> float:
    if out.ndim == 3:
        mask = np.arange(out.shape[1])[None, :] < lengths[:, None]
        out, y = out[mask], y[mask]
    return float(np.sqrt(np.mean((out - y) ** 2)))
