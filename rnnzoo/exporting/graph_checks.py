"""Static checks of an exported graph: facts for the card and problems that fail the export.

Why static checks besides parity: parity runs the graph on a few shapes,
while a frozen dynamic axis, a recurrent layer unrolled into hundreds of
nodes or a GRU with the wrong reset formulation can pass those shapes and
still be wrong or slow elsewhere. Names and axes come from the
:class:`~rnnzoo.exporting.iospec.IoSpec` the graph was traced with.

Parity runs onnxruntime and onnx.reference only, which accept constructs
other runtimes refuse; :func:`portability_problems` names the two that made
exports fail in tract 0.23 and OpenVINO 2026.4 so they cannot come back.
"""

from __future__ import annotations

from typing import Any

import onnx
from torch import nn

from rnnzoo.deploy.card import GraphChecks
from rnnzoo.exporting.graph import all_nodes, attribute, branch, outer_reads
from rnnzoo.exporting.iospec import IoSpec

RECURRENT_OPS = ("RNN", "LSTM", "GRU")


def _recurrent_modules(net: nn.Module) -> int:
    """Fused nodes we expect: one per layer of every nn.RNN/LSTM/GRU module."""
    return sum(m.num_layers for m in net.modules() if isinstance(m, nn.RNNBase))


def _recurrent_unit(node: onnx.NodeProto) -> str | None:
    """The recurrent op a top-level node computes: fused, or an RNN rewritten by rnnzoo.exporting.lowering."""
    if node.op_type in RECURRENT_OPS:
        return str(node.op_type)
    if node.op_type == "Scan":  # named /lowered<k>_<op>/... by the lowering
        return next((op for op in RECURRENT_OPS if f"_{op.lower()}/" in node.name), "RNN")
    if node.op_type == "If":
        return next((str(m.op_type) for m in branch(node, "then_branch").node if m.op_type in RECURRENT_OPS), None)
    return None


def static_checks(proto: onnx.ModelProto, net: nn.Module, io: IoSpec) -> GraphChecks:
    """Graph facts and problems (the card's ``checks`` section): fused recurrent nodes, GRU formulation, axes."""
    nodes, lowered = _layer_nodes(proto.graph)
    units = [_recurrent_unit(n) for n in nodes]
    fused = {op: units.count(op) for op in RECURRENT_OPS}
    expected = _recurrent_modules(net)
    problems = []
    if sum(fused.values()) < expected:
        problems.append(f"{expected} recurrent layers but only {sum(fused.values())} recurrent ONNX nodes")
    dims = io_shapes(proto)
    problems += _gru_problems(nodes) + _axis_problems(dims, io) + portability_problems(proto)
    return GraphChecks(fused_nodes=fused, lowered_rnn_nodes=lowered, expected_recurrent_layers=expected,
                       io_shapes=dims, node_count=len(proto.graph.node), problems=problems)


def _layer_nodes(graph: onnx.GraphProto) -> tuple[list[onnx.NodeProto], int]:
    """The nodes to find recurrent layers in and how many layers have a Scan form.

    rnnzoo.exporting.lowering may put the whole graph in one batch-size ``If``:
    then its fused branch holds every layer once, and its Scan branch the Scans.
    """
    from rnnzoo.exporting.lowering import FUSED_BRANCH, SCAN_BRANCH

    switch = next((n for n in graph.node if n.op_type == "If" and branch(n, "then_branch").name == FUSED_BRANCH
                   and branch(n, "else_branch").name == SCAN_BRANCH), None)
    if switch is None:
        return list(graph.node), sum(n.op_type == "Scan" for n in graph.node)
    scans = sum(n.op_type == "Scan" for n in branch(switch, "else_branch").node)
    return list(branch(switch, "then_branch").node), scans


def io_shapes(proto: onnx.ModelProto) -> dict[str, list[int | str]]:
    """Each graph input's and output's dimensions: a name for a dynamic axis, a number for a fixed one."""
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*proto.graph.input, *proto.graph.output]}


def _gru_problems(nodes: Any) -> list[str]:
    """PyTorch's GRU applies the reset gate after the recurrent matmul: ONNX's linear_before_reset=1."""
    problems = []
    for n in nodes:
        if n.op_type == "GRU":
            lbr = attribute(n, "linear_before_reset", 0)
            if lbr != 1:
                problems.append(f"GRU node {n.name} has linear_before_reset={lbr}; PyTorch needs 1")
    return problems


def _axis_problems(dims: dict[str, list[int | str]], io: IoSpec) -> list[str]:
    """Every axis the IoSpec declares dynamic must have stayed symbolic in the graph."""
    problems = []
    for name, axes in io.dynamic_axes().items():
        for axis in axes:
            if not isinstance(dims[name][axis], str):
                problems.append(f"{name} axis {axis} is fixed to {dims[name][axis]} instead of dynamic")
    return problems


LOOP_OPS = ("Scan", "Loop")


def portability_problems(proto: onnx.ModelProto) -> list[str]:
    """Constructs onnxruntime runs but other runtimes refuse: rank-changing ``If``, loop bodies capturing values.

    * an ``If`` whose branches return tensors of different ranks: tract types
      both branches alike and refuses the graph (the exporter's squeeze-``If``;
      rnnzoo.exporting.portable folds it);
    * a ``Scan``/``Loop`` body (or a graph nested in it) that reads a value
      from an enclosing scope instead of taking it as an input or holding it
      as an initializer: OpenVINO cannot convert it. ``If`` branches may read
      the enclosing scope; every runtime checked accepts that.
    """
    problems = [f"If node {n.name or n.output[0]!r} changes rank: then-branch rank {a}, else-branch rank {b} "
                f"(tract cannot load it)" for n, a, b in _rank_changing_ifs(proto)]
    for node in all_nodes(proto.graph):
        if node.op_type in LOOP_OPS:
            captured = sorted(outer_reads(branch(node, "body")))
            if captured:
                problems.append(f"{node.op_type} node {node.name or node.output[0]!r} body reads {captured[:3]} "
                                f"from an outer scope; pass them in as inputs or body initializers "
                                f"(OpenVINO cannot convert it)")
    return problems


def _rank_changing_ifs(proto: onnx.ModelProto) -> list[tuple[onnx.NodeProto, int | str, int | str]]:
    """(node, then rank, else rank) of every ``If`` whose branch outputs differ in rank.

    Ranks come from ONNX shape inference; where it cannot tell, the exporter's
    squeeze-``If`` is still recognised by its form (``Squeeze`` vs ``Identity``).
    """
    from rnnzoo.exporting.portable import is_squeeze_if

    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # inference is best effort here; the form check below still applies
        inferred = proto
    found: list[tuple[onnx.NodeProto, int | str, int | str]] = []
    for node in all_nodes(inferred.graph):
        if node.op_type != "If":
            continue
        then_g, else_g = branch(node, "then_branch"), branch(node, "else_branch")
        for a, b in zip(_output_ranks(then_g), _output_ranks(else_g), strict=False):
            if a is not None and b is not None and a != b:
                found.append((node, a, b))
                break
        else:
            if is_squeeze_if(node):
                found.append((node, "rank - 1 (Squeeze)", "rank (Identity)"))
    return found


def _output_ranks(graph: onnx.GraphProto) -> list[int | None]:
    """Each output's rank where the graph (or shape inference) recorded a shape, else ``None``."""
    shaped = {v.name: len(v.type.tensor_type.shape.dim) for v in [*graph.value_info, *graph.output]
              if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")}
    return [shaped.get(out.name) for out in graph.output]
