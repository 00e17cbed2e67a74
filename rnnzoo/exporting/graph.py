"""ONNX graph walking, written once: subgraphs, nodes, names and attributes.

Why a module of its own: the lowering wraps RNN nodes in ``If`` branches and
``Scan`` bodies, so every pass over an exported graph (dropping unused
initializers, finding a weight's consumers, renaming values, counting
recurrent ops) must look inside subgraphs; three hand-written walkers used
to do that slightly differently. onnx is imported lazily, like the passes
that use this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx


def subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graphs a node holds as attributes (``If`` branches, ``Loop``/``Scan`` bodies)."""
    out: list[onnx.GraphProto] = []
    for attr in node.attribute:
        if attr.HasField("g"):
            out.append(attr.g)
        out.extend(attr.graphs)
    return out


def all_graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    """``graph`` and every graph nested in it, depth first."""
    out = [graph]
    for node in graph.node:
        for sub in subgraphs(node):
            out += all_graphs(sub)
    return out


def all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Nodes of ``graph`` and of every subgraph, depth first (a node before the nodes of its subgraphs)."""
    out = []
    for node in graph.node:
        out.append(node)
        for sub in subgraphs(node):
            out += all_nodes(sub)
    return out


def used_names(graph: onnx.GraphProto) -> set[str]:
    """Every value name some node reads, subgraphs included (outer-scope references count)."""
    return {name for node in all_nodes(graph) for name in node.input}


def attribute(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    """The Python value of a node's attribute, or ``default`` when the node does not set it."""
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def branch(node: onnx.NodeProto, name: str) -> onnx.GraphProto:
    """A graph attribute by name, e.g. an ``If`` node's ``then_branch``."""
    graph = next((a.g for a in node.attribute if a.name == name and a.HasField("g")), None)
    if graph is None:
        raise KeyError(f"{node.op_type} node {node.name!r} has no graph attribute {name!r}")
    return graph


def local_names(graph: onnx.GraphProto) -> set[str]:
    """Names a graph defines itself: its inputs, initializers and node outputs (not its subgraphs')."""
    names = {v.name for v in graph.input} | {i.name for i in graph.initializer}
    names |= {i.values.name for i in graph.sparse_initializer}
    return names | {name for node in graph.node for name in node.output if name}


def outer_reads(graph: onnx.GraphProto) -> set[str]:
    """Names ``graph`` (or a graph nested in it) reads from an enclosing scope: its outer-scope captures.

    Why: a ``Scan``/``Loop`` body that reads a value it was not handed is
    legal ONNX, but OpenVINO 2026.4 cannot convert it (``Number of Scan node
    inputs is less than required``); the portability check lists these names.
    A nested graph's captures that ``graph`` defines are resolved here, not counted.
    """
    reads = {name for node in graph.node for name in node.input if name}
    reads |= {v.name for v in graph.output if v.name}  # a branch may return an outer value as is
    for node in graph.node:
        for sub in subgraphs(node):
            reads |= outer_reads(sub)
    return reads - local_names(graph)


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """The node of ``graph`` (not of its subgraphs) that outputs each value name."""
    return {name: node for node in graph.node for name in node.output if name}
