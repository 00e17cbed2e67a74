"""One recurrent layer as standard ops: an input projection for all steps, then a ``Scan`` over time.

Why: the projection ``X . W^T + b`` of every step is one large GEMM
([batch*time, features] x [features, gates*hidden]), which runs near the
matmul peak, and what is left per step is the recurrent product
``h . R^T`` and the gate arithmetic, each a vectorised onnxruntime kernel.
rnnzoo.exporting.lowering decides where this form replaces the fused
``RNN``/``LSTM``/``GRU`` node (by measurement); this module only builds it.

The math is ONNX's own (gate orders ``i o f c`` for LSTM, ``z r h`` for GRU
with ``linear_before_reset=1``, PyTorch's formulation), so the outputs keep
the fused node's names and shapes: ``Y`` [T, 1, B, H], ``Y_h`` and ``Y_c``
[1, B, H]. Each ``Scan`` body holds the weights it reads as its own
initializers (``R^T``, and the GRU's recurrent candidate bias): OpenVINO
cannot convert a body that captures an outer-scope value (see
rnnzoo.exporting.graph_checks.portability_problems). ``W`` and ``B`` are read
from the node's own initializers by ``Squeeze``/``Transpose``/``Split``
nodes that onnxruntime folds at load, so the file does not grow for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnzoo.exporting.graph import attribute

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


@dataclass(frozen=True)
class Layer:
    """One fused recurrent node being rewritten: its op, sizes, inputs and the prefix of every new name."""

    op: str
    hidden: int
    inputs: list[str]  # X, W, R, B, sequence_lens, initial_h[, initial_c, P], padded with ""
    activation: str  # the plain RNN's (Tanh/Relu); LSTM/GRU use the ONNX defaults
    prefix: str

    @property
    def gates(self) -> int:
        return GATES[self.op]

    def name(self, n: str) -> str:
        return f"{self.prefix}/{n}"


def layer_of(node: Any, prefix: str) -> Layer:
    """The :class:`Layer` of a lowerable fused node (see rnnzoo.exporting.lowering.lowerable)."""
    acts = [a.decode() if isinstance(a, bytes) else a for a in attribute(node, "activations", [])]
    inputs = [*node.input, *[""] * (8 - len(node.input))]
    return Layer(str(node.op_type), int(attribute(node, "hidden_size", 0)), inputs, acts[0] if acts else "Tanh", prefix)


def node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> Any:
    """A node named after its first output (unique in the model): runtime errors and profiles can name it."""
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=f"{outputs[0]}/{op}", **attrs)


def _int64(values: list[int], name: str) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array(values, np.int64), name)


# ---------------------------------------------------------------- outside the Scan: projection and initial state


def scan_nodes(layer: Layer, outs: list[str], graph: Any, inits: dict[str, np.ndarray],
               project: str = "step") -> list[Any]:
    """Nodes computing the fused node's outputs (named ``outs``): initial states, Scan, reshapes.

    ``project``: where ``x_t . W^T + b`` is computed. ``"all"``: one MatMul
    over every step before the Scan ([batch*time, features] GEMM), which
    writes a [time, batch, gates*hidden] buffer (131 MB at batch 64, length
    500, LSTM hidden 256) and reads it back; ``"step"``: inside the Scan body,
    a small MatMul per step whose output stays in cache. Measured with
    benchmarks/bench_lowering.py: "step" was faster in every cell on a
    Sapphire Rapids VM, where writing the big buffer cost as much as the
    recurrence (its page faults and memory traffic, not its FLOPs).

    Constants the nodes need go into ``graph``'s initializers (the main graph:
    an ``If`` branch may read it, a Scan body never does).
    """
    if project not in ("all", "step"):
        raise ValueError(f"project must be 'all' or 'step', got {project!r}")
    n = layer.name
    graph.initializer.extend([_int64([0], n("axes0")), _int64([1], n("axes1"))])
    nodes: list[Any] = []
    if project == "all":
        nodes += [node("Squeeze", [layer.inputs[1], n("axes0")], [n("W")]),
                  node("Transpose", [n("W")], [n("WT")]),
                  node("MatMul", [layer.inputs[0], n("WT")], [n("xw0")])]
        if layer.inputs[3]:
            nodes += _bias_nodes(layer, graph)
            nodes.append(node("Add", [n("xw0"), n("bx")], [n("xw")]))
        else:
            nodes.append(node("Identity", [n("xw0")], [n("xw")]))
    states = ["h0", "c0"] if layer.op == "LSTM" else ["h0"]
    for k, state in enumerate(states):
        nodes += _initial_state(layer, layer.inputs[5 + k], n(state), graph)
    carried = [n(s) for s in states]
    final = [n(f"{s[0]}T") for s in states]
    body = _BODIES[layer.op](layer, inits, project)
    scanned = n("xw") if project == "all" else layer.inputs[0]
    nodes.append(node("Scan", [*carried, scanned], [*final, n("y")], num_scan_inputs=1, body=body))
    if outs[0]:  # Y [T, 1, B, H]
        nodes.append(node("Unsqueeze", [n("y"), n("axes1")], [outs[0]]))
    for out, last in zip(outs[1:], final, strict=False):  # Y_h (and Y_c) [1, B, H]
        if out:
            nodes.append(node("Unsqueeze", [last, n("axes0")], [out]))
    return nodes


def _bias_nodes(layer: Layer, graph: Any) -> list[Any]:
    """``bx`` [gates*hidden], the bias added to the projection: ``Wb + Rb`` per gate.

    GRU's candidate gate is the exception (``linear_before_reset``: its ``Rbh``
    is added to ``h . Rh^T`` before the reset gate multiplies it), so ``bx``
    holds ``Wbz+Rbz, Wbr+Rbr, Wbh`` and ``Rbh`` goes into the Scan body.
    """
    h, g, n = layer.hidden, layer.gates, layer.name
    graph.initializer.append(_int64([g * h, g * h], n("split_b")))
    nodes = [node("Squeeze", [layer.inputs[3], n("axes0")], [n("B")]),
             node("Split", [n("B"), n("split_b")], [n("Wb"), n("Rb")], axis=0)]
    if layer.op != "GRU":
        return [*nodes, node("Add", [n("Wb"), n("Rb")], [n("bx")])]
    graph.initializer.append(_int64([2 * h, h], n("split_zr")))
    return [*nodes,
            node("Split", [n("Wb"), n("split_zr")], [n("Wb_zr"), n("Wb_h")], axis=0),
            node("Split", [n("Rb"), n("split_zr")], [n("Rb_zr"), n("Rb_h")], axis=0),
            node("Add", [n("Wb_zr"), n("Rb_zr")], [n("b_zr")]),
            node("Concat", [n("b_zr"), n("Wb_h")], [n("bx")], axis=0)]


def _initial_state(layer: Layer, given: str, out: str, graph: Any) -> list[Any]:
    """``[B, H]`` initial state: the node's own input squeezed, or zeros shaped from ``X``."""
    from onnx import TensorProto, helper

    n = layer.name
    if given:
        return [node("Squeeze", [given, n("axes0")], [out])]
    if not any(i.name == n("H") for i in graph.initializer):
        graph.initializer.append(_int64([layer.hidden], n("H")))
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    return [node("Shape", [layer.inputs[0]], [f"{out}_batch"], start=1, end=2),
            node("Concat", [f"{out}_batch", n("H")], [f"{out}_shape"], axis=0),
            node("ConstantOfShape", [f"{out}_shape"], [out], value=zero)]


# ---------------------------------------------------------------- the Scan bodies


def recurrent_weight_t(layer: Layer, inits: dict[str, np.ndarray]) -> np.ndarray:
    """``R^T`` [hidden, gates*hidden] of a forward node (``R`` is [1, gates*hidden, hidden]): exact, a transpose."""
    return np.ascontiguousarray(inits[layer.inputs[2]][0].T)


def _graph(layer: Layer, nodes: list[Any], inputs: list[str], outputs: list[str], inits: list[Any]) -> Any:
    """A Scan body; inputs and outputs are float32 [batch, width] with the batch left symbolic."""
    from onnx import TensorProto, helper

    def info(name: str) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)

    return helper.make_graph(nodes, f"{layer.prefix}_step".lstrip("/"), [info(i) for i in inputs],
                             [info(o) for o in outputs], inits)


def _pre_gates(layer: Layer, h: str, inits: dict[str, np.ndarray], project: str) -> tuple[list[Any], list[Any], str]:
    """(nodes, body initializers, scanned input) computing ``pre`` = ``x_t . W^T + h . R^T + bx``, [B, gates*H].

    ``project="all"``: the body scans ``xw_t`` (projected outside), one
    MatMul by ``R^T`` per step. ``"step"``: it scans ``x_t`` and multiplies
    ``[x_t, h]`` by ``[W^T; R^T]``: one GEMM per step, no big buffer outside.
    ``W^T`` and ``R^T`` stay two initializers joined by a constant ``Concat``
    (folded at load): the int8 variant then scales each like the fused
    node's ``W`` and ``R``, so both branches of the batch switch dequantize to
    the same weights. Not for GRU, whose candidate gate needs the two
    products apart.
    """
    from onnx import numpy_helper

    s = layer.name
    r_t = recurrent_weight_t(layer, inits)
    if project == "all":
        nodes = [node("MatMul", [h, s("RT")], [s("step/hr")]),
                 node("Add", [s("step/hr"), s("step/xw_t")], [s("step/pre")])]
        return nodes, [numpy_helper.from_array(r_t, s("RT"))], s("step/xw_t")
    w_t = np.ascontiguousarray(inits[layer.inputs[1]][0].T)
    bias_nodes, bias_weights = body_biases(layer, inits)
    nodes = [*bias_nodes,
             node("Concat", [s("WT"), s("RT")], [s("WRT")], axis=0),  # constant: folded when a runtime loads it
             node("Concat", [s("step/x_t"), h], [s("step/xh")], axis=1),
             node("MatMul", [s("step/xh"), s("WRT")], [s("step/xhr")]),
             node("Add", [s("step/xhr"), s("step/bx")], [s("step/pre")])]
    weights = [numpy_helper.from_array(w_t, s("WT")), numpy_helper.from_array(r_t, s("RT")), *bias_weights]
    return nodes, weights, s("step/x_t")


def body_biases(layer: Layer, inits: dict[str, np.ndarray]) -> tuple[list[Any], list[Any]]:
    """(nodes, body initializers) giving ``bx`` (see :func:`_bias_nodes`) and, for GRU, ``Rb_h3`` in a Scan body.

    Why from the body's own copy of the node's ``B`` [1, 2*gates*hidden] and
    not ``bx`` precomputed: the int8 variant scales that copy exactly as the
    fused node's ``B`` (one scale per direction), so both branches of the
    batch switch add the same dequantized biases. The nodes read only
    constants, so runtimes fold them when they load the model.
    """
    from onnx import numpy_helper

    h, g, s = layer.hidden, layer.gates, layer.name
    gru = layer.op == "GRU"
    if not layer.inputs[3]:
        zeros = [numpy_helper.from_array(np.zeros(g * h, np.float32), s(n)) for n in ("step/bx", "Rb_h3")[:1 + gru]]
        return [], zeros
    weights = [numpy_helper.from_array(inits[layer.inputs[3]], s("step/B0")), _int64([0], s("step/axes0")),
               _int64([g * h, g * h], s("step/split_b"))]
    nodes = [node("Squeeze", [s("step/B0"), s("step/axes0")], [s("step/B")]),
             node("Split", [s("step/B"), s("step/split_b")], [s("step/Wb"), s("step/Rb")], axis=0)]
    if not gru:
        return [*nodes, node("Add", [s("step/Wb"), s("step/Rb")], [s("step/bx")])], weights
    weights += [_int64([2 * h, h], s("step/split_zr_b")),
                numpy_helper.from_array(np.zeros(2 * h, np.float32), s("zeros_zr"))]
    nodes += [node("Split", [s("step/Wb"), s("step/split_zr_b")], [s("step/Wb_zr"), s("step/Wb_h")], axis=0),
              node("Split", [s("step/Rb"), s("step/split_zr_b")], [s("step/Rb_zr"), s("step/Rb_h")], axis=0),
              node("Add", [s("step/Wb_zr"), s("step/Rb_zr")], [s("step/b_zr")]),
              node("Concat", [s("step/b_zr"), s("step/Wb_h")], [s("step/bx")], axis=0),
              node("Concat", [s("zeros_zr"), s("step/Rb_h")], [s("Rb_h3")], axis=0)]
    return nodes, weights


def _rnn_body(layer: Layer, inits: dict[str, np.ndarray], project: str) -> Any:
    """(h_prev, x_t or xw_t) -> (h_new, y_t), ``h_new = act(pre)`` (see :func:`_pre_gates`).

    Why the weights as body initializers and not loop-carried inputs: carried,
    they would be copied every step and, no longer constant, not pre-packed
    by onnxruntime's MatMul: measured 18-280% slower steps at hidden 256.
    """
    s = layer.name
    pre, weights, scanned = _pre_gates(layer, s("step/h_prev"), inits, project)
    nodes = [*pre,
             node(layer.activation, [s("step/pre")], [s("step/h_new")]),
             node("Identity", [s("step/h_new")], [s("step/y_t")])]
    return _graph(layer, nodes, [s("step/h_prev"), scanned], [s("step/h_new"), s("step/y_t")], weights)


def _lstm_body(layer: Layer, inits: dict[str, np.ndarray], project: str) -> Any:
    """(h, c, x_t or xw_t) -> (h', c', y_t): ONNX LSTM gates ``i o f c``, no peepholes, default activations.

    ``i``, ``o`` and ``f`` are contiguous, so one ``Sigmoid`` covers all three.
    """
    h, s = layer.hidden, layer.name
    st = [s(f"step/{v}") for v in ("h", "c", "h_new", "c_new", "y_t")]
    pre, weights, scanned = _pre_gates(layer, st[0], inits, project)
    nodes = [*pre,
             node("Split", [s("step/pre"), s("step/split_sc")], [s("step/iof_pre"), s("step/c_pre")], axis=1),
             node("Sigmoid", [s("step/iof_pre")], [s("step/iof")]),
             node("Tanh", [s("step/c_pre")], [s("step/cand")]),
             node("Split", [s("step/iof"), s("step/split_iof")], [s("step/i"), s("step/o"), s("step/f")], axis=1),
             node("Mul", [s("step/f"), st[1]], [s("step/fc")]),
             node("Mul", [s("step/i"), s("step/cand")], [s("step/ic")]),
             node("Add", [s("step/fc"), s("step/ic")], [st[3]]),
             node("Tanh", [st[3]], [s("step/tc")]),
             node("Mul", [s("step/o"), s("step/tc")], [st[2]]),
             node("Identity", [st[2]], [st[4]])]
    weights += [_int64([3 * h, h], s("step/split_sc")), _int64([h, h, h], s("step/split_iof"))]
    return _graph(layer, nodes, [*st[:2], scanned], st[2:], weights)


def _gru_body(layer: Layer, inits: dict[str, np.ndarray], project: str) -> Any:
    """(h, x_t or xw_t) -> (h', y_t): ONNX GRU gates ``z r h``, ``linear_before_reset=1`` (PyTorch's GRU).

    ``r`` multiplies ``h . Rh^T + Rbh``, so ``Rbh`` (zero for ``z``/``r``) is
    added to the recurrent product here, and the input product stays apart
    (``project="step"``: its own MatMul per step); ``h' = n + z * (h - n)`` is
    ``(1 - z) * n + z * h`` with one fewer op.
    """
    from onnx import numpy_helper

    h, s = layer.hidden, layer.name
    st = [s(f"step/{v}") for v in ("h", "h_new", "y_t")]
    nodes, weights = body_biases(layer, inits)  # bx (used with project="step") and Rb_h3
    weights += [numpy_helper.from_array(recurrent_weight_t(layer, inits), s("RT")),
                _int64([2 * h, h], s("step/split_zr")), _int64([h, h], s("step/split_hh"))]
    scanned = s("step/xw_t")
    if project == "step":
        scanned = s("step/x_t")
        w_t = np.ascontiguousarray(inits[layer.inputs[1]][0].T)
        weights.append(numpy_helper.from_array(w_t, s("WT")))
        nodes += [node("MatMul", [scanned, s("WT")], [s("step/xw0_t")]),
                  node("Add", [s("step/xw0_t"), s("step/bx")], [s("step/xw_t")])]
    nodes += [node("MatMul", [st[0], s("RT")], [s("step/hr0")]),
              node("Add", [s("step/hr0"), s("Rb_h3")], [s("step/hr")]),
              node("Split", [s("step/hr"), s("step/split_zr")], [s("step/hr_zr"), s("step/hr_h")], axis=1),
              node("Split", [s("step/xw_t"), s("step/split_zr")], [s("step/xw_zr"), s("step/xw_h")], axis=1),
              node("Add", [s("step/xw_zr"), s("step/hr_zr")], [s("step/zr_pre")]),
              node("Sigmoid", [s("step/zr_pre")], [s("step/zr")]),
              node("Split", [s("step/zr"), s("step/split_hh")], [s("step/z"), s("step/r")], axis=1),
              node("Mul", [s("step/r"), s("step/hr_h")], [s("step/rh")]),
              node("Add", [s("step/xw_h"), s("step/rh")], [s("step/n_pre")]),
              node("Tanh", [s("step/n_pre")], [s("step/n")]),
              node("Sub", [st[0], s("step/n")], [s("step/h_minus_n")]),
              node("Mul", [s("step/z"), s("step/h_minus_n")], [s("step/zd")]),
              node("Add", [s("step/n"), s("step/zd")], [st[1]]),
              node("Identity", [st[1]], [st[2]])]
    return _graph(layer, nodes, [st[0], scanned], st[1:], weights)


_BODIES = {"RNN": _rnn_body, "LSTM": _lstm_body, "GRU": _gru_body}
