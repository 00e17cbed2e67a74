"""Rewrite fused ONNX ``RNN`` nodes that onnxruntime runs slowly into MatMul + Scan.

Why: onnxruntime's CPU ``RNN`` kernel applies its activation one element at
a time through a ``std::function`` (``ApplyActivationToBatches`` in rnn.cc),
about 30 ns per element; at batch 64 that, not the matrix products, is the
run time, and it made the plain-RNN export 2-4x slower than PyTorch. The
same math written with standard ops goes through onnxruntime's vectorised
kernels: the input projection ``X . W^T + Wb + Rb`` for all steps as one
MatMul, then a ``Scan`` over time whose body is ``tanh(h . R^T + xw_t)``.

At small batches the fused node is faster (Scan pays a fixed cost per step),
so the rewrite sits behind an ``If`` on ``batch * hidden >= 512``, measured
in ``benchmarks/bench_lowering.py``. LSTM and GRU stay fused: onnxruntime's
kernels for them are already efficient (55-90% of the matmul peak at batch
64) and a Scan version measured slower. A Relu RNN is always rewritten,
because ``onnx.reference`` cannot run a fused Relu RNN.

Only the exact form rnnzoo's exporter produces is rewritten (forward, no
clip, no ``sequence_lens``, ``layout=0``); the outputs keep their names, so
the rest of the graph is untouched.

The Scan body holds ``R^T`` as its own initializer rather than reading it
from the enclosing graph, so every runtime can convert it (OpenVINO cannot
convert a body that captures an outer value); the cost is one more
hidden x hidden matrix in the file per rewritten layer (the fused branch
keeps ``R``). See :func:`_body` for why not a loop-carried input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnzoo.exporting.graph import attribute, used_names

MIN_ELEMS = 512  # batch * hidden from which the Scan form wins (benchmarks/bench_lowering.py)


def _activation(node: Any) -> str:
    acts = [a.decode() if isinstance(a, bytes) else a for a in attribute(node, "activations", [])]
    return acts[0] if acts else "Tanh"


def lowerable(node: Any, inits: dict[str, np.ndarray]) -> bool:
    """A forward RNN node in exactly the form rnnzoo exports; anything else stays as it is."""
    if node.op_type != "RNN":
        return False
    ins = [*node.input, *[""] * (6 - len(node.input))]
    return (
        attribute(node, "direction", b"forward") in (b"forward", "forward")
        and attribute(node, "layout", 0) == 0
        and attribute(node, "clip", None) is None
        and _activation(node) in ("Tanh", "Relu")
        and ins[1] in inits and ins[2] in inits and (not ins[3] or ins[3] in inits)
        and ins[4] == ""  # sequence_lens: rnnzoo handles ragged batches itself
    )


def _node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> Any:
    """A node named after its first output (unique in the model): runtime errors and profiles can name it."""
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=f"{outputs[0]}/{op}", **attrs)


def _body(p: str, rt: np.ndarray, act: str) -> Any:
    """One step: (h_prev, xw_t) -> (h_new, y_t) with h_new = act(h_prev . R^T + xw_t).

    ``R^T`` is an initializer of the body itself, not a value read from the
    enclosing graph: OpenVINO cannot convert a ``Scan`` whose body captures an
    outer-scope value (``Number of Scan node inputs (2) is less than required
    (3)``). Passing it as a loop-carried state instead would copy it every step
    and, being no longer constant, stop onnxruntime from pre-packing it for the
    MatMul: measured 18-280% slower Scan steps and ~2e-6 different outputs at hidden 256.
    """
    from onnx import TensorProto, helper, numpy_helper

    f = TensorProto.FLOAT
    h_prev, xw_t, h_new, y_t = (f"{p}/step/{n}" for n in ("h_prev", "xw_t", "h_new", "y_t"))
    nodes = [_node("MatMul", [h_prev, f"{p}/RT"], [f"{p}/step/hr"]),
             _node("Add", [f"{p}/step/hr", xw_t], [f"{p}/step/pre"]),
             _node(act, [f"{p}/step/pre"], [h_new]),
             _node("Identity", [h_new], [y_t])]
    inputs = [helper.make_tensor_value_info(n, f, None) for n in (h_prev, xw_t)]
    outputs = [helper.make_tensor_value_info(n, f, None) for n in (h_new, y_t)]
    return helper.make_graph(nodes, f"{p}_step", inputs, outputs, [numpy_helper.from_array(rt, f"{p}/RT")])


def _recurrent_weight_t(node: Any, inits: dict[str, np.ndarray]) -> np.ndarray:
    """``R^T`` [hidden, hidden] of a forward RNN node (``R`` is [1, hidden, hidden]): exact, a transpose."""
    return np.ascontiguousarray(inits[node.input[2]][0].T)


def _scan_nodes(node: Any, p: str, outs: list[str], graph: Any, inits: dict[str, np.ndarray]) -> list[Any]:
    """Nodes computing ``node``'s outputs (named ``outs``) as one MatMul plus a Scan over time."""
    from onnx import TensorProto, helper, numpy_helper

    hidden = int(attribute(node, "hidden_size", 0))
    ins = [*node.input, *[""] * (6 - len(node.input))]
    graph.initializer.extend([
        numpy_helper.from_array(np.array([hidden, hidden], np.int64), f"{p}/HH"),
        numpy_helper.from_array(np.array([0], np.int64), f"{p}/axes0"),
        numpy_helper.from_array(np.array([1], np.int64), f"{p}/axes1"),
    ])
    if not ins[3]:
        graph.initializer.append(numpy_helper.from_array(np.zeros((1, 2 * hidden), np.float32), f"{p}/B0"))
    # W^T and Wb + Rb are computed from the node's own initializers, not stored again: the file does not
    # grow for them, the int8/fp16 variants still reach the weights, and onnxruntime folds these at load.
    # R^T is stored in the Scan body (see _body): a body must not read it from the enclosing graph.
    nodes = [_node("Squeeze", [ins[1], f"{p}/axes0"], [f"{p}/W"]),
             _node("Transpose", [f"{p}/W"], [f"{p}/WT"]),
             _node("Split", [ins[3] or f"{p}/B0", f"{p}/HH"], [f"{p}/Wb", f"{p}/Rb"], axis=1),
             _node("Add", [f"{p}/Wb", f"{p}/Rb"], [f"{p}/B"]),
             _node("MatMul", [ins[0], f"{p}/WT"], [f"{p}/xw0"]),
             _node("Add", [f"{p}/xw0", f"{p}/B"], [f"{p}/xw"])]
    if ins[5]:  # initial_h [1, B, H] -> [B, H]
        nodes.append(_node("Squeeze", [ins[5], f"{p}/axes0"], [f"{p}/h0"]))
    else:
        graph.initializer.append(numpy_helper.from_array(np.array([hidden], np.int64), f"{p}/H"))
        zero = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
        nodes += [_node("Shape", [ins[0]], [f"{p}/batch_dim"], start=1, end=2),
                  _node("Concat", [f"{p}/batch_dim", f"{p}/H"], [f"{p}/h0_shape"], axis=0),
                  _node("ConstantOfShape", [f"{p}/h0_shape"], [f"{p}/h0"], value=zero)]
    nodes.append(_node("Scan", [f"{p}/h0", f"{p}/xw"], [f"{p}/hT", f"{p}/y"], num_scan_inputs=1,
                       body=_body(p, _recurrent_weight_t(node, inits), _activation(node))))
    if outs[0]:  # Y [T, 1, B, H]
        nodes.append(_node("Unsqueeze", [f"{p}/y", f"{p}/axes1"], [outs[0]]))
    if len(outs) > 1 and outs[1]:  # Y_h [1, B, H]
        nodes.append(_node("Unsqueeze", [f"{p}/hT", f"{p}/axes0"], [outs[1]]))
    return nodes


def _switch(node: Any, p: str, outs: list[str], graph: Any, inits: dict[str, np.ndarray]) -> list[Any]:
    """``If batch < MIN_ELEMS / hidden``: the fused node, else the Scan form.

    The branches read the node's inputs from the enclosing graph, which ONNX
    allows for ``If`` and every runtime we check accepts; only the ``Scan``
    body inside must not (see :func:`_body`).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    f = TensorProto.FLOAT
    fused = onnx.NodeProto()
    fused.CopyFrom(node)
    del fused.output[:]
    fused.output.extend([f"{p}/fused_{o}" if o else "" for o in outs])
    then_g = helper.make_graph([fused], f"{p}_fused", [],
                               [helper.make_tensor_value_info(f"{p}/fused_{o}", f, None) for o in outs if o])
    scan_outs = [f"{p}/scan_{o}" if o else "" for o in outs]
    else_g = helper.make_graph(_scan_nodes(node, p, scan_outs, graph, inits), f"{p}_scan", [],
                               [helper.make_tensor_value_info(o, f, None) for o in scan_outs if o])
    hidden = int(attribute(node, "hidden_size", 0))
    graph.initializer.append(numpy_helper.from_array(np.array([-(-MIN_ELEMS // hidden)], np.int64), f"{p}/min_batch"))
    return [_node("Shape", [node.input[0]], [f"{p}/batch"], start=1, end=2),
            _node("Less", [f"{p}/batch", f"{p}/min_batch"], [f"{p}/small"]),
            _node("If", [f"{p}/small"], [o for o in outs if o], then_branch=then_g, else_branch=else_g)]


def lower_recurrent(proto: Any) -> Any:
    """A copy of ``proto`` with every lowerable RNN node rewritten; unused initializers dropped."""
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    new_nodes: list[Any] = []
    for k, node in enumerate(g.node):
        if not lowerable(node, inits):
            new_nodes.append(node)
            continue
        p, outs = f"/lowered{k}_rnn", list(node.output)
        rewrite = _scan_nodes if _activation(node) == "Relu" else _switch
        new_nodes += rewrite(node, p, outs, g, inits)
    del g.node[:]
    g.node.extend(new_nodes)
    used = used_names(g)
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    return model
