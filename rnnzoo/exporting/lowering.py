"""Rewrite fused ONNX ``RNN``/``LSTM``/``GRU`` nodes into a Scan form where onnxruntime runs it faster.

Why: onnxruntime's fused kernels are not fast everywhere. Its ``RNN`` kernel
applies the activation one element at a time through a ``std::function``
(about 30 ns per element: 2-4x slower than PyTorch at batch 64), and on
AVX-512 CPUs its ``LSTM``/``GRU`` kernels reach 45-60% of the sgemm peak at
batch 64 while PyTorch's oneDNN LSTM reaches 60-95%. The Scan form
(rnnzoo.exporting.scan_cells) runs each step as one GEMM plus vectorised
gate kernels.

Which form, by measurement (``benchmarks/bench_lowering.py``, README
"Benchmarks"): a fixed cost per Scan step (about 15-30 us for an LSTM body of
14 nodes) makes the fused node faster for small batches and the Scan form
faster (or as fast) from batch 8 at hidden 64 and batch 2 at hidden 256. So
every op defaults to ``"switch"``: one ``If batch < MIN_ELEMS[op] / hidden``
around the whole graph, the fused graph on one side, the Scan graph on the
other. One ``If`` for the model and not one per layer: tract refuses a model
with two (``Duplicate node name: If``) and OpenVINO returned uninitialized
memory for two side by side (a bidirectional layer). A Relu RNN is always
rewritten, because ``onnx.reference`` cannot run a fused Relu RNN.

Only the exact form rnnzoo's exporter produces is rewritten (forward, no
clip, no ``sequence_lens``, ``layout=0``, default activations, no LSTM
peepholes, GRU ``linear_before_reset=1``); outputs keep their names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnzoo.exporting.graph import attribute, subgraphs, used_names
from rnnzoo.exporting.scan_cells import layer_of, node, scan_nodes

# batch * hidden from which the Scan form wins, per op (benchmarks/bench_lowering.py, 1 thread): the plain RNN's
# fused kernel is slow from hidden 256 even at batch 1; LSTM/GRU's fused kernels win below about 512.
MIN_ELEMS = {"RNN": 256, "LSTM": 512, "GRU": 512}
FORMS = ("fused", "scan", "switch")
FUSED_BRANCH, SCAN_BRANCH = "lowered_fused", "lowered_scan"  # the switch If's branch graphs, found by name
# The form each op gets by default, measured with benchmarks/bench_lowering.py (module docstring).
DEFAULT_FORMS: dict[str, str] = {"RNN": "switch", "LSTM": "switch", "GRU": "switch"}


def _activation(node: Any) -> str:
    acts = [a.decode() if isinstance(a, bytes) else a for a in attribute(node, "activations", [])]
    return acts[0] if acts else "Tanh"


def lowerable(node: Any, inits: dict[str, np.ndarray]) -> bool:
    """A forward RNN/LSTM/GRU node in exactly the form rnnzoo exports; anything else stays as it is."""
    if node.op_type not in ("RNN", "LSTM", "GRU"):
        return False
    ins = [*node.input, *[""] * (8 - len(node.input))]
    default_acts = not attribute(node, "activations", []) or node.op_type == "RNN"
    return (
        attribute(node, "direction", b"forward") in (b"forward", "forward")
        and attribute(node, "layout", 0) == 0
        and attribute(node, "clip", None) is None
        and (node.op_type != "RNN" or _activation(node) in ("Tanh", "Relu"))
        and default_acts
        and (node.op_type != "GRU" or attribute(node, "linear_before_reset", 0) == 1)
        and (node.op_type != "LSTM" or (attribute(node, "input_forget", 0) == 0 and ins[7] == ""))
        and ins[1] in inits and ins[2] in inits and (not ins[3] or ins[3] in inits)
        and ins[4] == ""  # sequence_lens: rnnzoo handles ragged batches itself
    )


def _form(node: Any, forms: dict[str, str]) -> str:
    """The form a lowerable node gets: a Relu RNN is always a Scan (onnx.reference cannot run a fused one)."""
    if node.op_type == "RNN" and _activation(node) == "Relu":
        return "scan"
    return forms.get(str(node.op_type), "fused")


def lower_recurrent(proto: Any, forms: dict[str, str] | None = None, project: str = "step") -> Any:
    """A copy of ``proto`` with lowerable recurrent nodes rewritten; unused initializers dropped.

    ``forms``: op -> ``"fused"`` (kept), ``"scan"`` (always the Scan form) or
    ``"switch"`` (fused below ``MIN_ELEMS[op] / hidden`` samples, Scan from there),
    updating :data:`DEFAULT_FORMS` (benchmarks pass it to time each form).
    ``project``: where the Scan form computes its input projection
    (rnnzoo.exporting.scan_cells.scan_nodes).
    """
    import onnx
    from onnx import numpy_helper

    chosen = {**DEFAULT_FORMS, **(forms or {})}
    bad = {op: f for op, f in chosen.items() if f not in FORMS}
    if bad:
        raise ValueError(f"unknown lowering form(s) {bad}; use one of {FORMS}")
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    forms_of = [_form(n, chosen) if lowerable(n, inits) else "fused" for n in g.node]
    if "switch" in forms_of:
        small = _rewritten(g, inits, [f if f != "switch" else "fused" for f in forms_of], project)
        large = _rewritten(g, inits, [f if f != "switch" else "scan" for f in forms_of], project)
        first = next(n for n, f in zip(g.node, forms_of, strict=True) if f == "switch")
        min_batch = -(-MIN_ELEMS[str(first.op_type)] // int(attribute(first, "hidden_size", 1)))  # ceil
        nodes = _one_switch(g, small, large, min_batch)
    else:
        nodes = _rewritten(g, inits, forms_of, project)
    del g.node[:]
    g.node.extend(nodes)
    used = used_names(g)
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    return model


def _rewritten(g: Any, inits: dict[str, np.ndarray], forms: list[str], project: str) -> list[Any]:
    """``g``'s nodes with each node of form "scan" replaced by its Scan form (new constants go into ``g``)."""
    import onnx

    nodes: list[Any] = []
    for k, (n, form) in enumerate(zip(g.node, forms, strict=True)):
        if form == "scan":
            nodes += scan_nodes(layer_of(n, f"/lowered{k}_{str(n.op_type).lower()}"), list(n.output), g, inits,
                                project)
        else:
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            nodes.append(copy)
    return nodes


def _one_switch(g: Any, small: list[Any], large: list[Any], min_batch: int) -> list[Any]:
    """One ``If batch < min_batch`` around the whole graph: ``small`` (fused) vs ``large`` (Scan) nodes.

    ``min_batch`` comes from the first switched layer (MIN_ELEMS of its op / its hidden size): rnnzoo's
    models use one cell and one hidden size for every layer.

    Why one ``If`` for the model and not one per layer: tract 0.23 refuses a
    model with two ``If`` nodes ("Duplicate node name: If") and OpenVINO
    2026.4 returns uninitialized memory when two run side by side (the two
    directions of a bidirectional layer); with one, both run every form.
    The branches read the graph's inputs and initializers from the enclosing
    graph (allowed for ``If``; no Scan body does). Values a branch computes
    are renamed with its own prefix: a subgraph may not redefine an outer name.
    """
    from onnx import TensorProto, helper, numpy_helper

    x = g.input[0].name
    outs = [v.name for v in g.output]
    branches = []
    for tag, nodes in (("fused", small), ("scan", large)):
        produced = {o for n in nodes for o in n.output if o}
        rename = {name: f"/switch_{tag}{name if name.startswith('/') else '/' + name}" for name in produced}
        for n in nodes:
            _rename(n, rename)
        infos = [helper.make_tensor_value_info(rename[o], TensorProto.FLOAT, None) for o in outs]
        for info, v in zip(infos, g.output, strict=True):
            info.type.CopyFrom(v.type)
        branches.append(helper.make_graph(nodes, FUSED_BRANCH if tag == "fused" else SCAN_BRANCH, [], infos))
    del g.value_info[:]  # they named values now inside the branches
    g.initializer.append(numpy_helper.from_array(np.array([min_batch], np.int64), "/lowered/min_batch"))
    return [node("Shape", [x], ["/lowered/batch"], start=0, end=1),
            node("Less", ["/lowered/batch", "/lowered/min_batch"], ["/lowered/small"]),
            node("If", ["/lowered/small"], outs, then_branch=branches[0], else_branch=branches[1])]


def _rename(n: Any, rename: dict[str, str]) -> None:
    """Apply ``rename`` to a node's inputs and outputs and to what its subgraphs read from outside."""
    for seq in (n.input, n.output):
        for i, name in enumerate(seq):
            seq[i] = rename.get(name, name)
    for sub in subgraphs(n):
        for inner in sub.node:
            _rename(inner, rename)
        for v in sub.output:
            v.name = rename.get(v.name, v.name)
