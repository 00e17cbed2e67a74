"""The oldest onnxruntime release an export runs on: the card's ``rnnzoo.min_onnxruntime``.

Found by trying, not by reading release notes: ``nox -s onnxruntime`` runs
the export and parity tests of every built-in model against the oldest
onnxruntime rnnzoo supports (pyproject.toml) and the newest; a graph that
failed on older releases was then run on each release in between until it
passed. Every graph rnnzoo writes runs on ``ONNXRUNTIME_FLOOR`` except those
matched by ``KNOWN_FLOORS``, whose oldest working release is recorded there
with what older ones do, so a deployment learns it from the card rather
than from an error in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

ONNXRUNTIME_FLOOR = "1.18.0"  # the floor in pyproject.toml; keep them equal (tests/test_version_matrix.py)


def _nodes(graph: Any) -> Iterator[Any]:
    """Every node, subgraphs (If branches, Scan bodies) included."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _nodes(sub)


def _reverse_plain_rnn(graph: Any) -> bool:
    """The fused-or-Scan dispatch (``If``) of an ONNX ``RNN`` op on the reversed sequence (a backward direction)."""
    return any(node.op_type == "If" and "/bwd." in node.name
               and any(n.op_type == "RNN" for attr in node.attribute if attr.HasField("g") for n in _nodes(attr.g))
               for node in _nodes(graph))


@dataclass(frozen=True)
class Floor:
    """A graph feature, the oldest onnxruntime that runs it, and what older releases do."""

    matches: Callable[[Any], bool]
    version: str
    why: str


KNOWN_FLOORS = (
    # bidirectional plain RNN (any layer count): measured failing on 1.18.0, 1.19.2, 1.20.1, 1.21.1, 1.22.1 and
    # 1.23.2, passing on 1.24.1 and every later release tried
    Floor(_reverse_plain_rnn, "1.24.1",
          "onnxruntime before 1.24.1 refuses to run the backward plain-RNN recurrence: \"Subgraph must have the "
          "shape set for all outputs\" (Scan inside If)"),
)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:3])


def min_onnxruntime(proto: Any) -> tuple[str, list[str]]:
    """(oldest onnxruntime release that runs ``proto``, why it is above the floor: one line per reason)."""
    hits = [f for f in KNOWN_FLOORS if f.matches(proto.graph)]
    version = max([ONNXRUNTIME_FLOOR, *(f.version for f in hits)], key=_key)
    return version, [f.why for f in hits]
