"""Rewrite the traced graph into a form every edge runtime accepts: no rank-changing ``If``.

Why: the TorchScript exporter turns ``t.squeeze(k)`` on an axis whose size it
could not prove into ``If(Shape(t)[k] == 1) then Squeeze(t, [k]) else
Identity(t)``. The two branches have different ranks, which ONNX allows and
onnxruntime runs, but tract 0.23 refuses such an ``If`` when it types the
graph (``then_body output != else_body output``), so every export that reads
each sample's last valid step failed to load there. Measured: replacing that
node by its ``Squeeze`` makes the files load in tract and match onnxruntime.

The rewrite is exact wherever the ``If`` took its ``then`` branch; where it
would have taken ``else`` (size not 1), ``Squeeze`` raises instead of
returning a tensor of the other rank, which no graph with typed outputs can
use anyway, and export parity (run on many shapes) would report it. Only
that exact pattern is rewritten: the condition must be the exporter's own
size test on the same tensor and axis. Checked by
:func:`rnnzoo.exporting.graph_checks.portability_problems`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rnnzoo.exporting.graph import attribute, branch, local_names, producers, subgraphs, used_names

if TYPE_CHECKING:
    import onnx

Scopes = tuple["onnx.GraphProto", ...]  # a graph and the graphs enclosing it, innermost first


def make_portable(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` with every exporter squeeze-``If`` folded into its ``Squeeze``; dead nodes dropped."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    fold_squeeze_ifs(model.graph)
    prune_dead_nodes(model.graph)
    return model


def fold_squeeze_ifs(graph: onnx.GraphProto, enclosing: Scopes = ()) -> int:
    """Replace each squeeze-``If`` node of ``graph`` and its subgraphs in place; returns how many.

    Subgraphs first: rebuilding a node list copies its nodes, so a reference to
    a subgraph taken before its parent is rebuilt would edit a detached copy.
    """
    scopes = (graph, *enclosing)
    folded = sum(fold_squeeze_ifs(sub, scopes) for node in graph.node for sub in subgraphs(node))
    new_nodes: list[Any] = []
    here = 0
    for node in graph.node:
        squeeze = squeeze_if_replacement(node, scopes)
        new_nodes += [node] if squeeze is None else squeeze
        here += squeeze is not None
    if here:
        del graph.node[:]
        graph.node.extend(new_nodes)
    return folded + here


def squeeze_if_replacement(node: onnx.NodeProto, scopes: Scopes) -> list[Any] | None:
    """The nodes that replace ``node`` (in ``scopes[0]``) when it is the exporter's squeeze-``If``, else ``None``.

    Pattern: ``If(Equal(Gather(Shape(x), k), 1))``, ``then``: ``Squeeze(x, [k])``
    (its axes from a ``Constant`` in the branch or the opset<13 attribute),
    ``else``: ``Identity(x)``. The branch's constants move out with the ``Squeeze``.
    """
    import onnx

    then_g = branch(node, "then_branch") if is_squeeze_if(node) else None
    squeeze = _single_squeeze(then_g) if then_g is not None else None
    if then_g is None or squeeze is None:
        return None
    axes = _squeeze_axes(squeeze, (then_g, *scopes))
    if axes is None or len(axes) != 1 or _tested_axis(node.input[0], squeeze.input[0], scopes) != axes[0]:
        return None
    hoisted = [n for n in then_g.node if n.op_type == "Constant"]
    out = onnx.NodeProto()
    out.CopyFrom(squeeze)
    del out.output[:]
    out.output.append(node.output[0])
    out.name = node.name or f"{node.output[0]}/Squeeze"
    return [*hoisted, out]


def is_squeeze_if(node: onnx.NodeProto) -> bool:
    """``If`` whose ``then`` is ``Squeeze(x)`` and ``else`` is ``Identity(x)``: its branches differ in rank."""
    if node.op_type != "If" or len(node.output) != 1:
        return False
    x, squeeze = _identity_input(branch(node, "else_branch")), _single_squeeze(branch(node, "then_branch"))
    return x is not None and squeeze is not None and squeeze.input[0] == x


def _identity_input(g: onnx.GraphProto) -> str | None:
    """``x`` when ``g`` is just ``Identity(x)`` of an outer value, returned as its only output."""
    if len(g.node) != 1 or g.node[0].op_type != "Identity" or len(g.output) != 1:
        return None
    return str(g.node[0].input[0]) if g.output[0].name == g.node[0].output[0] else None


def _single_squeeze(g: onnx.GraphProto) -> onnx.NodeProto | None:
    """The one ``Squeeze`` of a branch made of that ``Squeeze`` and ``Constant`` nodes, returned as its output."""
    squeezes = [n for n in g.node if n.op_type == "Squeeze"]
    if len(squeezes) != 1 or len(g.output) != 1 or g.output[0].name != squeezes[0].output[0]:
        return None
    if any(n.op_type not in ("Squeeze", "Constant") for n in g.node):
        return None
    return squeezes[0]


def _squeeze_axes(squeeze: onnx.NodeProto, scopes: Scopes) -> list[int] | None:
    """The axes a ``Squeeze`` removes: its second input (opset 13+) or its ``axes`` attribute."""
    if len(squeeze.input) > 1 and squeeze.input[1]:
        value = constant_value(squeeze.input[1], scopes)
        return None if value is None else [int(v) for v in value.reshape(-1)]
    axes = attribute(squeeze, "axes", None)
    return None if axes is None else [int(a) for a in axes]


def _tested_axis(cond: str, x: str, scopes: Scopes) -> int | None:
    """``k`` when ``cond`` is ``Equal(Gather(Shape(x), k), 1)`` (either operand order) in ``scopes[0]``."""
    prod = producers(scopes[0])
    equal = prod.get(cond)
    if equal is None or equal.op_type != "Equal":
        return None
    for size, one in (equal.input, reversed(equal.input)):
        gather, const = prod.get(size), constant_value(one, scopes)
        if gather is None or gather.op_type != "Gather" or const is None or const.size != 1 or const.item() != 1:
            continue
        shape = prod.get(gather.input[0])
        index = constant_value(gather.input[1], scopes)
        if shape is not None and shape.op_type == "Shape" and shape.input[0] == x and not shape.attribute \
                and index is not None and index.size == 1:
            return int(index.item())
    return None


def constant_value(name: str, scopes: Scopes) -> np.ndarray | None:
    """The value of ``name`` when the innermost scope defining it does so with a ``Constant`` or an initializer."""
    from onnx import numpy_helper

    for graph in scopes:
        node = producers(graph).get(name)
        if node is not None:
            tensor = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
            return None if node.op_type != "Constant" or tensor is None else numpy_helper.to_array(tensor)
        init = next((i for i in graph.initializer if i.name == name), None)
        if init is not None:
            return numpy_helper.to_array(init)
        if name in local_names(graph):  # an input of this graph: not a constant
            return None
    return None


def prune_dead_nodes(graph: onnx.GraphProto) -> int:
    """Drop nodes of ``graph`` and its subgraphs none of whose outputs is read; returns how many.

    The squeeze-``If``'s size test is left unused by the fold. ONNX ops have no side effects, so an unread
    node changes nothing; runtimes drop them too, this keeps the file as small as what runs. Subgraphs
    first, for the reason given in :func:`fold_squeeze_ifs`.
    """
    dropped = sum(prune_dead_nodes(sub) for node in graph.node for sub in subgraphs(node))
    while True:
        read = used_names(graph) | {v.name for v in graph.output}
        keep = [n for n in graph.node if any(o in read for o in n.output if o) or not any(n.output)]
        if len(keep) == len(graph.node):
            return dropped
        dropped += len(graph.node) - len(keep)
        del graph.node[:]
        graph.node.extend(keep)
