"""Edge variants of an export: int8 weight storage and float16 weights, each checked.

int8 (``model.int8.onnx``) is *weight-only* quantization: every float32
initializer of 16 or more elements (the recurrent ``W``/``R``/``B`` of every
RNN/LSTM/GRU layer, the linear head, attention projections) is stored as int8
codes (symmetric, zero point 0, -127..127) with float32 scales, one per output
row, or one per tensor where row scales would take the file over 0.3x of
float32 (``scales="auto"``, small models), and turned back into float32 by
``Cast -> Mul``. Compute stays float32. Subgraphs are converted too: the
``Scan`` body of a lowered plain RNN (rnnzoo.exporting.lowering) holds its
own ``R^T``, and it gets its own codes, scales and ``Cast -> Mul`` at the
start of the body, so the body still reads nothing from an outer scope; the
fp16 file does the same with its ``Cast``. Why this and not onnxruntime's
``quantize_dynamic`` (measured with ``benchmarks/bench_int8.py``):

* onnxruntime has an int8 recurrent kernel for ``LSTM`` only
  (``DynamicQuantizeLSTM``); ``GRU`` and ``RNN`` stayed float32 and the file
  grew. Weight-only storage treats all three alike: 0.26-0.29x for every
  built-in at hidden 64 and 256.
* onnxruntime folds ``Cast``/``Mul`` on constants when the session is
  created, so the session runs the float32 graph with the dequantized
  weights: latency equals float32. ``DequantizeLinear`` on the weights would
  be the standard spelling, but onnxruntime 1.32 keeps those nodes (its QDQ
  transformers skip them in constant folding), so they would run every call.
* Only standard ONNX ops: ``onnx.reference`` runs the file (it cannot run
  ``com.microsoft.DynamicQuantizeLSTM``), and the error is smaller than with
  dynamic activation quantization, which re-quantizes the inputs and hidden
  state at every step (relative error ~1e-3 vs ~1e-2 on trained regressors).
* What it costs: the dynamic LSTM kernel is faster at hidden 256 (int8 GEMMs);
  weight-only is never slower than float32, never faster. So an LSTM of
  hidden >= 128 also gets ``model.int8_compute.onnx`` (onnxruntime's
  ``DynamicQuantizeLSTM``, onnxruntime only; see ``quantize_int8_compute``),
  checked for agreement like this file.

Value and node names are also shortened in the int8 file (graph inputs and
outputs, and ``metadata_props``, are kept), and the exporter's ``Constant``
nodes become initializers: at hidden 64 the names were a quarter of the
bytes. The card says what was done (``method``, ``scales``, ``compute``,
``quantized`` with names as in ``model.onnx``, ``kept_float``) and which
recurrent ops the file runs (``recurrent_ops``: always float32 kernels).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.core.atomic import atomic_write
from rnnzoo.core.meta import ModelMeta
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.deploy.card import FP16_FILE, INT8_FILE, MODEL_FILE
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.exporting.graph import all_graphs, all_nodes
from rnnzoo.exporting.iospec import IoSpec

INT8_METHOD = "weight_only_int8"
INT8_SIZE_TARGET = 0.3  # "auto" scales: per row unless the file would exceed this x float32
INT8_MIN_ELEMENTS = 16  # smaller float tensors (normalization stats, tiny biases) stay float32
_RECURRENT = frozenset({"LSTM", "GRU", "RNN"})
_RESHAPING = frozenset({"Squeeze", "Transpose", "Split"})


def make_variants(
    folder: Path, meta: ModelMeta, data: SequenceDataset | None, *, int8: bool, fp16: bool
) -> dict[str, dict[str, Any]]:
    """Write the int8/fp16 files beside ``model.onnx``; the card entry of each says how it compares."""
    base = folder / MODEL_FILE
    task = meta.task
    sample = IoSpec.from_meta(meta).sample_inputs("variants", data)[0]
    x, lengths, y = sample.feeds["x"], sample.feeds["lengths"], sample.target
    ref = run_session(make_session(base), x, lengths)
    out: dict[str, Any] = {}
    if int8:
        quant = quantize_int8_weights(base, folder / INT8_FILE)
        out["int8"] = {**_describe(base, folder / INT8_FILE, task, ref, x, lengths, y), **quant}
    if fp16:
        _to_fp16_weights(base, folder / FP16_FILE)
        out["fp16"] = _describe(base, folder / FP16_FILE, task, ref, x, lengths, y)
    if int8 and offers_int8_compute(base):
        compute = quantize_int8_compute(base, folder / INT8_COMPUTE_FILE)
        out["int8_compute"] = {**_describe(base, folder / INT8_COMPUTE_FILE, task, ref, x, lengths, y), **compute}
    return out


# ---------------------------------------------------------------- int8 compute (LSTM)

INT8_COMPUTE_FILE = "model.int8_compute.onnx"
INT8_COMPUTE_METHOD = "onnxruntime_dynamic_quantize_lstm"
# From this LSTM hidden size the int8 kernel is faster than float32 (benchmarks/bench_lowering.py): at batch 1,
# hidden 256 the step reads the 1 MiB float32 recurrent weight, a quarter of that as int8; at hidden 64 the
# weights sit in L1/L2 either way and quantizing h every step costs more than it saves.
INT8_COMPUTE_MIN_HIDDEN = 128


def lstm_hidden_sizes(proto: Any) -> list[int]:
    """Hidden size of every float32 LSTM node of a model, fused or in a lowering ``If`` branch."""
    from rnnzoo.exporting.graph import attribute

    return [int(attribute(n, "hidden_size", 0)) for n in all_nodes(proto.graph) if n.op_type == "LSTM"]


def offers_int8_compute(path: Path) -> bool:
    """Whether an export gets ``model.int8_compute.onnx``: it has an LSTM layer of hidden >= INT8_COMPUTE_MIN_HIDDEN."""
    import onnx

    return any(h >= INT8_COMPUTE_MIN_HIDDEN for h in lstm_hidden_sizes(onnx.load(str(path))))


def fused_lstm_model(proto: Any) -> Any:
    """A copy where the lowering's batch-size ``If`` is replaced by its fused branch (every layer one node).

    Why: onnxruntime's quantizer rewrites top-level ``LSTM`` nodes into its
    int8 ``DynamicQuantizeLSTM``; the Scan branch (rnnzoo.exporting.lowering)
    has no int8 form, and the int8 kernel needs no batch switch.
    """
    import onnx

    from rnnzoo.exporting.lowering import FUSED_BRANCH

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    g = model.graph
    switch = next((n for n in g.node if n.op_type == "If"
                   and any(a.name == "then_branch" and a.g.name == FUSED_BRANCH for a in n.attribute)), None)
    if switch is None:
        return model
    then = next(a.g for a in switch.attribute if a.name == "then_branch")
    final = {v.name: out for v, out in zip(then.output, switch.output, strict=True)}
    nodes = []
    for n in then.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(n)
        for i, name in enumerate(copy.output):
            copy.output[i] = final.get(name, name)
        for i, name in enumerate(copy.input):
            copy.input[i] = final.get(name, name)
        nodes.append(copy)
    del g.node[:]
    g.node.extend(nodes)
    used = {name for node in all_nodes(g) for name in node.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    return model


def quantize_int8_compute(src: Path, dst: Path) -> dict[str, Any]:
    """Write ``dst``: ``src`` with its LSTM layers as onnxruntime's int8 ``DynamicQuantizeLSTM``; card fields.

    Weights int8 (per tensor, symmetric), the input and hidden state quantized
    to uint8 at every step, int8 GEMMs (VNNI/AMX where the CPU has them).
    onnxruntime only: ``onnx.reference`` and the other runtimes have no such op,
    so the card's parity and runtime matrix stay on ``model.onnx``; the
    agreement with float32 is checked like the int8 storage file's.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fused = fused_lstm_model(onnx.load(str(src)))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a pre-processing hint to the root logger on every call
    try:
        atomic_write(dst, lambda p: quantize_dynamic(fused, p, op_types_to_quantize=["LSTM"],
                                                     weight_type=QuantType.QInt8))
    finally:
        root.setLevel(level)
    return {"method": INT8_COMPUTE_METHOD, "compute": "int8 LSTM GEMMs (com.microsoft.DynamicQuantizeLSTM), "
            "activations quantized per step; onnxruntime only",
            "runtimes": ["onnxruntime"], "lstm_hidden": lstm_hidden_sizes(fused)}


# ---------------------------------------------------------------- int8 weight-only


def quantize_rows(arr: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per index of ``axis``: ``arr ~= q * scale``.

    Codes are in [-127, 127] (never -128, so the grid is symmetric); an
    all-zero row gets scale 1 and stays exactly zero. ``scale`` keeps ``arr``'s
    rank (size 1 on every other axis) so it broadcasts in ONNX ``Mul``.
    """
    others = tuple(i for i in range(arr.ndim) if i != axis)
    peak = np.max(np.abs(arr), axis=others, keepdims=True).astype(np.float32)
    scale = np.where(peak > 0, peak / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    q = np.clip(np.rint(arr / scale), -127, 127).astype(np.int8)
    return q, scale


def dequantize_rows(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Exactly what the int8 graph computes: float32(q) * scale, in float32."""
    return q.astype(np.float32) * scale


def _row_axis(arr: np.ndarray, consumers: list[tuple[str, int]]) -> int:
    """The output-channel axis of a weight, from how the graph uses it.

    ONNX RNN/LSTM/GRU ``W``/``R`` are [dirs, gates*hidden, in]: per gate row
    (axis 1); ``B`` is [dirs, 2*gates*hidden]: per direction (axis 0). A ``Gemm``
    ``B`` with ``transB=1`` (PyTorch's Linear) is [out, in] (axis 0); a
    ``MatMul`` right operand is [.., in, out] (last axis). Anything else: axis 0.
    The ``R^T`` [in, out] a lowered RNN's ``Scan`` body multiplies by is such
    a right operand: its columns are the rows of ``R``, so its scales are
    exactly ``R``'s and both ``If`` branches dequantize to the same weights.
    """
    if arr.ndim == 1:
        return 0
    consumers = [(op, i) for op, i in consumers if op not in _RESHAPING]  # rnnzoo.exporting.lowering's view of W/R/B
    ops = {op for op, _ in consumers}
    if consumers and ops <= _RECURRENT:
        return 1 if all(i in (1, 2) for _, i in consumers) else 0  # W/R per gate row, B per direction
    if ops == {"MatMul"} and all(i == 1 for _, i in consumers):
        return arr.ndim - 1
    return 0


def quantize_int8_weights(
    src: Path, dst: Path, *, scales: str = "auto", size_target: float = INT8_SIZE_TARGET,
    min_elements: int = INT8_MIN_ELEMENTS, compact: bool = True,
) -> dict[str, Any]:
    """Write ``dst``: ``src`` with float32 initializers of ``min_elements`` or more stored as int8.

    ``scales``: ``"row"`` (one scale per output row, the most accurate),
    ``"tensor"`` (one per tensor, the smallest) or ``"auto"``: per row unless
    that file would exceed ``size_target`` times ``src``'s size, then per
    tensor (small models, where the row scales are a visible share of the bytes).
    Returns the card fields that say what was done.
    """
    if scales not in ("auto", "row", "tensor"):
        raise ValueError(f"scales must be 'auto', 'row' or 'tensor', got {scales!r}")
    limit = size_target * src.stat().st_size
    blob, info = _int8_weights_blob(src, scales != "tensor", min_elements, compact)
    if scales == "auto" and len(blob) > limit:
        smaller, small_info = _int8_weights_blob(src, False, min_elements, compact)
        if len(smaller) < len(blob):
            blob, info = smaller, small_info
            info["scales_note"] = f"per-row scales would exceed {size_target}x the float32 file"
    atomic_write(dst, lambda p: p.write_bytes(blob))
    return info


def _int8_weights_blob(src: Path, per_row: bool, min_elements: int, compact: bool) -> tuple[bytes, dict[str, Any]]:
    import onnx

    proto = onnx.load(str(src))
    quantized: list[dict[str, Any]] = []
    kept_float: list[dict[str, Any]] = []
    for graph in reversed(all_graphs(proto.graph)):  # deepest subgraphs first, the main graph last
        done, kept = _int8_graph(graph, per_row, min_elements)
        quantized[:0], kept_float[:0] = done, kept  # the card lists them main graph first, as all_graphs does
    if compact:
        constants_to_initializers(proto.graph)
        compact_names(proto)
    onnx.checker.check_model(proto)
    info = {
        "method": INT8_METHOD,
        "weights": "int8 symmetric (zero point 0, codes -127..127), Cast -> Mul by a float32 scale",
        "scales": "per_row" if per_row else "per_tensor",
        "compute": "float32: onnxruntime folds Cast -> Mul into float32 constants when the session is created",
        "quantized": quantized,
        "kept_float": kept_float,
        "names_compacted": compact,
    }
    return proto.SerializeToString(), info


def _int8_graph(graph: Any, per_row: bool, min_elements: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Quantize ``graph``'s own float32 initializers in place; returns its card entries (quantized, kept float).

    The codes, the scales and the ``Cast -> Mul`` that rebuilds each weight
    go into the graph that held it, ahead of its nodes: a ``Scan`` body keeps
    reading only what it holds (see rnnzoo.exporting.lowering), so it still
    converts in runtimes that refuse outer-scope captures. A weight's
    consumers are the nodes of ``graph`` and of the graphs nested in it.
    """
    from onnx import TensorProto, helper, numpy_helper

    consumers: dict[str, list[tuple[str, int]]] = {}
    for node in all_nodes(graph):
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node.op_type, i))
    _see_through_weight_concats(graph, consumers)
    graph_inputs = {i.name for i in graph.input}  # an initializer a caller may override stays as it is
    keep, dequant, quantized, kept_float = [], [], [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype != np.float32 or arr.size < min_elements or init.name in graph_inputs:
            keep.append(init)
            if arr.dtype == np.float32:
                kept_float.append({"name": init.name, "shape": list(arr.shape), "graph": graph.name})
            continue
        used_by = consumers.get(init.name, [])
        axis = _row_axis(arr, used_by) if per_row else None
        if axis is None:
            q, scale = quantize_rows(arr[None], 0)
            q, scale = q[0], scale[0]
        else:
            q, scale = quantize_rows(arr, axis)
        keep += [numpy_helper.from_array(q, f"{init.name}__q"), numpy_helper.from_array(scale, f"{init.name}__s")]
        dequant += [
            helper.make_node("Cast", [f"{init.name}__q"], [f"{init.name}__f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{init.name}__f", f"{init.name}__s"], [init.name]),
        ]
        quantized.append({"name": init.name, "shape": list(arr.shape), "scale_axis": axis,
                          "used_by": sorted({op for op, _ in used_by}), "graph": graph.name})
    _replace(graph, keep, dequant + list(graph.node))
    return quantized, kept_float


def _see_through_weight_concats(graph: Any, consumers: dict[str, list[tuple[str, int]]]) -> None:
    """A weight stacked by a row ``Concat`` into a ``MatMul`` right operand counts as that operand.

    The lowered LSTM/RNN step multiplies ``[x_t, h]`` by ``Concat(W^T, R^T)``
    (rnnzoo.exporting.scan_cells): ``W^T`` and ``R^T`` then get per-column
    scales, the fused node's per-gate-row scales, as if each were multiplied alone.
    """
    from rnnzoo.exporting.graph import attribute

    for node in all_nodes(graph):
        if node.op_type != "Concat" or attribute(node, "axis", None) != 0:
            continue
        if consumers.get(node.output[0]) and all(c == ("MatMul", 1) for c in consumers[node.output[0]]):
            for name in node.input:
                consumers[name] = [("MatMul", 1) if c[0] == "Concat" else c for c in consumers.get(name, [])]


def _replace(graph: Any, initializers: list[Any], nodes: list[Any]) -> None:
    """Set ``graph``'s initializer and node lists (protobuf repeated fields have no plain assignment)."""
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.node[:]
    graph.node.extend(nodes)


def compact_names(proto: Any) -> None:
    """Rename every value except the main graph's inputs and outputs to a short unique name.

    One injective mapping for the whole model (subgraphs included), so outer
    scope references inside ``If`` branches stay consistent; node names and
    doc strings, which are optional, are cleared. Semantics are unchanged.
    """
    main = proto.graph
    fixed = {v.name for v in [*main.input, *main.output]}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in fixed:
            return name
        if name not in names:
            names[name] = _base36(len(names))
            while names[name] in fixed:  # never collide with an input/output name
                names[name] = "_" + names[name]
        return names[name]

    for graph in all_graphs(main):
        for init in graph.initializer:
            init.name = short(init.name)
        for vi in [*graph.input, *graph.output, *graph.value_info]:
            vi.name = short(vi.name)
        for node in graph.node:
            node.ClearField("name")
            node.ClearField("doc_string")
            for seq in (node.input, node.output):
                for i, name in enumerate(seq):
                    seq[i] = short(name)
        graph.ClearField("doc_string")


def constants_to_initializers(graph: Any) -> None:
    """Main-graph ``Constant`` nodes holding a tensor become initializers of the same name.

    Same values, same names; an initializer is the smaller encoding (no node,
    op type or attribute around the tensor). Subgraphs are left alone.
    """
    keep = []
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            tensor = node.attribute[0].t
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def dequantized_float_model(int8_path: Path) -> Any:
    """The int8 model with its weights dequantized in numpy (float32 initializers, no Cast/Mul).

    Used to check that the int8 file computes exactly float32(q) * scale: the
    two must give the same outputs in any runtime. Every graph is rewritten,
    subgraphs included; each dequantized weight stays in the graph that holds
    its codes (a ``Scan`` body keeps its own weights).
    """
    import onnx

    proto = onnx.load(str(int8_path))
    for graph in reversed(all_graphs(proto.graph)):  # deepest subgraphs first, as the int8 file was written
        _dequantize_graph(graph)
    return proto


def _dequantize_graph(graph: Any) -> None:
    """Replace ``graph``'s own ``Cast(int8 initializer) -> Mul(scale initializer)`` pairs by float32 initializers."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    casts = {n.output[0]: n for n in graph.node if n.op_type == "Cast" and n.input[0] in inits
             and inits[n.input[0]].dtype == np.int8}
    muls = [n for n in graph.node if n.op_type == "Mul" and n.input[0] in casts and n.input[1] in inits]
    drop_inits, drop_nodes, new = set(), set(), []
    for mul in muls:
        cast = casts[mul.input[0]]
        q, scale = inits[cast.input[0]], inits[mul.input[1]]
        new.append(numpy_helper.from_array(dequantize_rows(q, scale), mul.output[0]))
        drop_inits |= {cast.input[0], mul.input[1]}
        drop_nodes |= {id(cast), id(mul)}
    _replace(graph, [i for i in graph.initializer if i.name not in drop_inits] + new,
             [n for n in graph.node if id(n) not in drop_nodes])


# ---------------------------------------------------------------- fp16


def _to_fp16_weights(src: Path, dst: Path) -> None:
    """Store float32 weights as float16 with a Cast back: half the size, float32 compute.

    onnxruntime's CPU kernels for LSTM/GRU/RNN are float32 only, so casting
    the compute to float16 would not run; storage is where the edge win is.
    Subgraph weights (a ``Scan`` body's ``R^T``) too, each with its ``Cast``
    at the start of its own graph, so a body still reads nothing from outside.
    """
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(src))
    for graph in reversed(all_graphs(proto.graph)):  # deepest subgraphs first
        casts, keep = [], []
        for init in graph.initializer:
            arr = numpy_helper.to_array(init)
            if arr.dtype != np.float32 or arr.size < 16:
                keep.append(init)
                continue
            keep.append(numpy_helper.from_array(arr.astype(np.float16), f"{init.name}__fp16"))
            casts.append(helper.make_node("Cast", [f"{init.name}__fp16"], [init.name], to=onnx.TensorProto.FLOAT,
                                          name=f"{init.name}__cast"))
        _replace(graph, keep, casts + list(graph.node))
    onnx.checker.check_model(proto)
    atomic_write(dst, lambda p: p.write_bytes(proto.SerializeToString()))


def _describe(
    base: Path, variant: Path, task: str, ref: np.ndarray,
    x: np.ndarray, lengths: np.ndarray, y: np.ndarray | None,
) -> dict[str, Any]:
    import onnx

    out = run_session(make_session(variant), x, lengths)
    ops = [n.op_type for n in all_nodes(onnx.load(str(variant)).graph)]  # If branches included
    info: dict[str, Any] = {
        "file": variant.name,
        "size_bytes": variant.stat().st_size,
        "size_ratio": round(variant.stat().st_size / base.stat().st_size, 4),
        "max_abs_diff_vs_fp32": float(np.max(np.abs(out - ref))),
        "recurrent_ops": sorted({o for o in ops if o.endswith(("LSTM", "GRU", "RNN"))}),
    }
    if task == "classification":
        info["argmax_agreement"] = float(np.mean(out.argmax(1) == ref.argmax(1)))
    else:
        info["rel_error_vs_fp32"] = float(np.linalg.norm(out - ref) / max(float(np.linalg.norm(ref)), 1e-12))
    if task != "classification" and y is not None:
        info["rmse_fp32"], info["rmse_variant"] = _rmse(ref, y, lengths), _rmse(out, y, lengths)
        info["rmse_increase"] = info["rmse_variant"] - info["rmse_fp32"]
    return info


def _rmse(out: np.ndarray, y: np.ndarray, lengths: np.ndarray) -> float:
    if out.ndim == 3:
        mask = np.arange(out.shape[1])[None, :] < lengths[:, None]
        out, y = out[mask], y[mask]
    return float(np.sqrt(np.mean((out - y) ** 2)))
