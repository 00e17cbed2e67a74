"""Static checks of an exported graph: facts for the card and problems that fail the export.

Why static checks besides parity: parity runs the graph on a few shapes,
while a frozen dynamic axis, a recurrent layer unrolled into hundreds of
nodes or a GRU with the wrong reset formulation can pass those shapes and
still be wrong or slow elsewhere. Names and axes come from the
:class:`~rnnzoo.exporting.iospec.IoSpec` the graph was traced with.
"""

from __future__ import annotations

from typing import Any

import onnx
from torch import nn

from rnnzoo.deploy.card import GraphChecks
from rnnzoo.exporting.graph import attribute, branch
from rnnzoo.exporting.iospec import IoSpec

RECURRENT_OPS = ("RNN", "LSTM", "GRU")


def _recurrent_modules(net: nn.Module) -> int:
    """Fused nodes we expect: one per layer of every nn.RNN/LSTM/GRU module."""
    return sum(m.num_layers for m in net.modules() if isinstance(m, nn.RNNBase))


def _recurrent_unit(node: onnx.NodeProto) -> str | None:
    """The recurrent op a top-level node computes: fused, or an RNN rewritten by rnnzoo.exporting.lowering."""
    if node.op_type in RECURRENT_OPS:
        return str(node.op_type)
    if node.op_type == "Scan":
        return "RNN"
    if node.op_type == "If":
        return next((str(m.op_type) for m in branch(node, "then_branch").node if m.op_type in RECURRENT_OPS), None)
    return None


def static_checks(proto: onnx.ModelProto, net: nn.Module, io: IoSpec) -> GraphChecks:
    """Graph facts and problems (the card's ``checks`` section): fused recurrent nodes, GRU formulation, axes."""
    nodes = proto.graph.node
    units = [_recurrent_unit(n) for n in nodes]
    fused = {op: units.count(op) for op in RECURRENT_OPS}
    expected = _recurrent_modules(net)
    problems = []
    if sum(fused.values()) < expected:
        problems.append(f"{expected} recurrent layers but only {sum(fused.values())} recurrent ONNX nodes")
    dims = io_shapes(proto)
    problems += _gru_problems(nodes) + _axis_problems(dims, io)
    return GraphChecks(fused_nodes=fused, lowered_rnn_nodes=sum(n.op_type in ("If", "Scan") for n in nodes),
                       expected_recurrent_layers=expected, io_shapes=dims, node_count=len(nodes), problems=problems)


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
