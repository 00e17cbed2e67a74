"""The version matrix (noxfile.py) tests the edges of the ranges pyproject.toml claims, and README says so.

The sessions themselves are too slow for CI (each installs torch); what can
drift silently is the bookkeeping: a range widened in pyproject.toml without
a session at its new edge, or a card floor that no longer equals the package's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from rnnzoo.exporting.min_runtime import ONNXRUNTIME_FLOOR

ROOT = Path(__file__).parent.parent


def _nox_constant(name: str) -> list[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    [value] = [n.value for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == name]
    return list(ast.literal_eval(value))


def _range(requirement: str) -> tuple[str, str]:
    low = re.search(r">=\s*([\d.]+)", requirement)
    high = re.search(r"<\s*([\d.]+)", requirement)
    assert low and high, f"{requirement!r} must state both ends of the tested range"
    return low.group(1), high.group(1)


def _next_minor(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}"


def test_pyproject_ranges_are_the_tested_edges() -> None:
    text = (ROOT / "pyproject.toml").read_text()  # read as text: tomllib is not in Python 3.10
    ort, torch = (re.search(rf'"({name}[^"]*)"', text).group(1) for name in ("onnxruntime", "torch"))  # type: ignore[union-attr]
    for requirement, tested in ((ort, _nox_constant("ONNXRUNTIME")), (torch, _nox_constant("TORCH"))):
        low, high = _range(requirement)
        assert tested[0].startswith(low) and _next_minor(tested[-1]) == high, (requirement, tested)
    assert _range(ort)[0] == ".".join(ONNXRUNTIME_FLOOR.split(".")[:2])  # the card's floor is the package's


def test_readme_states_the_tested_range() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Tested versions"):]
    for version in (*_nox_constant("ONNXRUNTIME"), *_nox_constant("TORCH")):
        assert version in section, f"README 'Tested versions' does not name {version}"
