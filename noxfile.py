"""Version matrix: the export and parity tests against the oldest and newest onnxruntime and torch rnnzoo supports.

Why a separate matrix: export compatibility across runtime and exporter
versions is what breaks in the field, and CI only ever sees the pinned
versions in constraints.txt. Each session builds its own virtual
environment with every other package at its pinned version and one package
moved to the edge of its supported range (pyproject.toml), then runs the
export + parity tests. Slow (each session installs torch), so CI does not
run it; run it before widening or narrowing a range:

    .venv/bin/nox                      # every session
    .venv/bin/nox -s onnxruntime       # only the onnxruntime ones
    .venv/bin/nox -l                   # list them

Results of the last run are in README.md ("Tested versions").
"""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
# The edges of the ranges in pyproject.toml; keep them equal (tests/test_version_matrix.py checks).
# 1.24.1: the oldest release that runs every graph rnnzoo writes (rnnzoo/exporting/min_runtime.py).
ONNXRUNTIME = ["1.18.0", "1.24.1", "1.32.0"]
TORCH = ["2.4.1", "2.14.1"]
# What a release of onnxruntime or torch changes: the export, its parity in every built-in model, the kit.
TESTS = ["tests/test_export.py", "tests/test_conformance.py"]
# Graphs whose card says they need a newer onnxruntime than the session's (card key rnnzoo.min_onnxruntime):
# measured failing there, so left out of that session rather than reported as a surprise.
# benchmarks/min_onnxruntime.py checks the card's rule release by release.
NEEDS_NEWER = {"1.18.0": "not bidirectional"}
# Built against numpy 1: onnxruntime 1.18.0 raises ImportError under numpy 2 (tried; torch 2.4.1 works with it).
NUMPY_1 = {"onnxruntime": ("1.18.0",)}


def _constraints(session: nox.Session, package: str, version: str) -> str:
    """constraints.txt less the pin of ``package`` (and of numpy where that version needs numpy 1)."""
    # ml_dtypes (an onnx dependency) is pinned at a numpy-2-only release: it moves with numpy
    drop = {package, "numpy", "ml_dtypes"} if version in NUMPY_1.get(package, ()) else {package}
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines()
             if re.split(r"[=<>!~ ]", line.strip(), maxsplit=1)[0].lower() not in drop]
    if "numpy" in drop:
        lines.append("numpy<2")
    path = Path(session.create_tmp()) / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _run(session: nox.Session, package: str, version: str) -> None:
    constraints = _constraints(session, package, version)
    session.install("-c", constraints, f"{package}=={version}", "-e", ".[torch,dev]")
    session.run("python", "-c", "import onnxruntime, torch, numpy; print('onnxruntime', onnxruntime.__version__, "
                "'torch', torch.__version__, 'numpy', numpy.__version__)")
    deselect = ["-k", NEEDS_NEWER[version]] if package == "onnxruntime" and version in NEEDS_NEWER else []
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, *deselect, *session.posargs)


@nox.session
@nox.parametrize("version", ONNXRUNTIME)
def onnxruntime(session: nox.Session, version: str) -> None:
    """The export + parity tests with onnxruntime at ``version``, everything else pinned."""
    _run(session, "onnxruntime", version)


@nox.session
@nox.parametrize("version", TORCH)
def torch(session: nox.Session, version: str) -> None:
    """The export + parity tests with torch at ``version``, everything else pinned."""
    _run(session, "torch", version)
