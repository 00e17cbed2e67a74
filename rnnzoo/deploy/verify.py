"""Torch-free checks of an export folder: file hashes, ``onnx.checker``, and every ``test_data_set_*``.

The part of ``rnnzoo verify`` a deployment without torch can run; the
comparison with the PyTorch checkpoint is added on top of it by
:func:`rnnzoo.exporting.verify.verify`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.deploy.card import CARD_FILE, MODEL_FILE, ExportCard, read_card
from rnnzoo.deploy.compare import Case, compare
from rnnzoo.deploy.runtime import check_hashes, make_session, run_session
from rnnzoo.errors import ExportError


def check_onnx(path: Path) -> None:
    """``onnx.checker`` with full checks: a file whose hash matches may still have been written broken."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError, ...
        raise ExportError(f"{path} fails onnx.checker ({exc}); re-export the model") from exc
    if _has_external_data(proto.graph):  # first: the checker cannot infer shapes through such tensors
        raise ExportError(f"{path} reads weights from external data files, which its card's hashes do not cover; "
                          "rnnzoo never writes them: re-export the model")
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # onnx raises ValidationError, InferenceError, ...
        raise ExportError(f"{path} fails onnx.checker ({exc}); re-export the model") from exc


def _has_external_data(graph: Any) -> bool:
    """Whether any tensor, in the graph or its subgraphs (If/Scan/Loop bodies), lives in another file."""
    import onnx

    tensors = [*graph.initializer, *(s.values for s in graph.sparse_initializer),
               *(a.t for n in graph.node for a in n.attribute if a.HasField("t")),
               *(t for n in graph.node for a in n.attribute for t in a.tensors)]
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in tensors):
        return True
    subgraphs = [g for n in graph.node for a in n.attribute for g in (*([a.g] if a.HasField("g") else []), *a.graphs)]
    return any(_has_external_data(g) for g in subgraphs)


def verify_files(folder: str | Path, card: ExportCard | None = None, tolerance: Any = None) -> dict[str, Any]:
    """Re-check an export's files; ``report["passed"]`` is False on any problem.

    Hash mismatches are checked first and end the check: an edited folder
    is never trusted further (the report then has no ``test_data_sets``).
    ``card`` saves a second read when the caller has it already.
    ``tolerance`` (the model spec's, where the registry has it) is used for
    the stored test data; without it, the card's, which its digest protects.
    """
    folder = Path(folder)
    card = card if card is not None else read_card(folder)
    problems = check_hashes(folder, card)
    report: dict[str, Any] = {"folder": str(folder), "model": card.meta.model, "problems": problems}
    if problems:
        report["passed"] = False
        return report
    problems += [f"export check: {f}" for f in card.recorded_failures]
    for name in sorted(f for f in card.files if f.endswith(".onnx")):
        check_onnx(folder / name)
    tol = tolerance if tolerance is not None else card.parity
    listed = sorted({rel.split("/")[0] for rel in card.files if rel.startswith("test_data_set_") and "/" in rel})
    stray = sorted(p.name for p in folder.glob("test_data_set_*") if p.name not in listed)
    problems += [f"{name}: not written by the export (none of its files is in {CARD_FILE})" for name in stray]
    cases = _test_data_sets(folder, listed, tol.atol if tol else 1e-4, tol.rtol if tol else 1e-3)
    report["test_data_sets"] = [_row(c) for c in cases]
    problems += [f"{c.name}: onnxruntime output differs from the stored output" for c in cases if not c.passed]
    report["passed"] = not problems
    return report


def _test_data_sets(folder: Path, names: list[str], atol: float, rtol: float) -> list[Case]:
    """``model.onnx`` on each stored input (ONNX Model Zoo layout) against the stored output.

    A set that cannot be read or run fails as a case (infinite difference), it does not end the check.
    """
    session = make_session(folder / MODEL_FILE)
    cases = []
    for name in names:
        ds = folder / name
        try:
            got = run_session(session, read_tensor(ds / "input_0.pb"), read_tensor(ds / "input_1.pb"))
            cases.append(compare(name, "onnxruntime", got, read_tensor(ds / "output_0.pb"), atol, rtol))
        except ExportError:
            cases.append(Case(name, "onnxruntime", [], float("inf"), float("inf"), False))
    return cases


def read_tensor(path: Path) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(onnx.load_tensor(str(path)))
    except Exception as exc:  # OSError, protobuf DecodeError, unsupported types...
        raise ExportError(f"{path}: not a readable ONNX tensor ({type(exc).__name__})") from exc


def _row(case: Case) -> dict[str, Any]:
    """A report row for ``--json``, which must stay valid JSON: inf and NaN become None."""
    return {"name": case.name, "passed": case.passed, "max_abs": finite_or_none(case.max_abs),
            "max_rel": finite_or_none(case.max_rel)}


def finite_or_none(value: float) -> float | None:
    """None where there is no meaningful number (a shape mismatch, a NaN output)."""
    return value if math.isfinite(value) else None
