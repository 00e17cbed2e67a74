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

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

ONNXRUNTIME_FLOOR = "1.18.0"  # the floor in pyproject.toml; keep them equal (tests/test_version_matrix.py)


def _graphs(graph: Any) -> Iterator[Any]:
    """The graph and every subgraph in it."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _graphs(sub)


_PASS_THROUGH = {"Transpose", "Squeeze", "Unsqueeze", "Identity", "Reshape"}


def _scan_on_gathered_sequence(graph: Any) -> bool:
    """A ``Scan`` recurrence over a sequence built by ``GatherElements``: the backward direction of a bidirectional
    layer, which runs over each sample's steps reversed (the gather), whatever the cell."""
    for g in _graphs(graph):
        producer = {out: node for node in g.node for out in node.output}
        for scan in (n for n in g.node if n.op_type == "Scan"):
            for name in scan.input:
                node = producer.get(name)
                while node is not None and node.op_type in _PASS_THROUGH:
                    node = producer.get(node.input[0])
                if node is not None and node.op_type == "GatherElements":
                    return True
    return False


@dataclass(frozen=True)
class Floor:
    """A graph feature, the oldest onnxruntime that runs it, and what older releases do."""

    matches: Callable[[Any], bool]
    version: str
    why: str


KNOWN_FLOORS = (
    # measured with benchmarks/min_onnxruntime.py (every built-in model: one layer, two layers, bidirectional;
    # batch 1 to 256): the bidirectional ones fail on 1.18.0 and 1.23.2 and run on 1.24.1; the others run on 1.18.0
    Floor(_scan_on_gathered_sequence, "1.24.1",
          "onnxruntime before 1.24.1 cannot run the Scan form of a backward (reversed-sequence) recurrence: "
          "\"Subgraph must have the shape set for all outputs\""),
)


def version_key(version: str) -> tuple[int, ...]:
    """(major, minor, patch) of "1.24.1", "1.25.0.dev20260101" or "2.13.0+cpu": only the leading digits count."""
    return tuple(int(re.match(r"\d*", part).group() or 0) for part in version.split(".")[:3])  # type: ignore[union-attr]


def min_onnxruntime(proto: Any) -> tuple[str, list[str]]:
    """(oldest onnxruntime release that runs ``proto``, why it is above the floor: one line per reason)."""
    hits = [f for f in KNOWN_FLOORS if f.matches(proto.graph)]
    version = max([ONNXRUNTIME_FLOOR, *(f.version for f in hits)], key=version_key)
    return version, [f.why for f in hits]
