"""``rnnzoo verify``: the torch-free file checks, plus parity with the checkpoint where torch is installed.

Why in exporting and not deploy: parity reruns the PyTorch model, which
deploy may never import. Importing this module does not import torch
either; only ``parity=True`` (or the default, with torch installed) does.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.deploy.card import LITERT_FILE, MODEL_FILE, PORTABLE_FILE, ExportCard, read_card
from rnnzoo.deploy.compare import Case, compare
from rnnzoo.deploy.verify import finite_or_none, read_tensor, verify_files
from rnnzoo.runtimes._common import first_line, installed_version, unavailable


def verify(
    folder: str | Path, parity: bool | None = None, runtimes: str | Iterable[str] | None = None
) -> dict[str, Any]:
    """Re-check an export: file hashes, onnx.checker, every test_data_set_*, and (with torch) parity.

    Returns a report; ``report["passed"]`` is False on any problem.
    ``parity=None`` compares with the checkpoint when torch is importable.
    Nothing is compared once a hash differs: an edited folder is not trusted.

    ``runtimes`` ("all", "openvino,tract" or a list of registered runtime
    names) also runs ``model.onnx`` (and ``model.portable.onnx`` where the
    export has one) in each of those runtimes on the stored test_data_set_*
    inputs, compared with the stored outputs at the same tolerance; one row
    per runtime and file under ``report["runtimes"]``. Under "all" a
    runtime that is not installed is skipped with its reason; one named
    explicitly fails instead. ``None``: onnxruntime only, as always.
    """
    folder = Path(folder)
    card = read_card(folder)
    parity = importlib.util.find_spec("torch") is not None if parity is None else parity
    tolerance = _spec_tolerance(card.meta.model)  # None where the model is not registered here: the card's serves
    report = verify_files(folder, card, tolerance)
    if "test_data_sets" not in report:  # the hashes failed: see verify_files
        return report
    if runtimes is not None:
        rows = check_runtimes(folder, card, runtimes, tolerance if tolerance is not None else card.parity)
        report["runtimes"] = rows
        report["problems"] += [p for row in rows for p in row.pop("problems")]
        report["passed"] = report["passed"] and all(row["passed"] is not False for row in rows)
    if parity:
        from rnnzoo.exporting.parity import check_parity

        rep = check_parity(folder, card=card, raise_on_fail=False)
        report["parity"] = rep.as_dict()
        if not rep.passed:
            report["problems"].append(rep.summary)
            report["passed"] = False
    return report


def _spec_tolerance(model: str) -> Any:
    """The registered model's own tolerance: a card's is never trusted beyond it. None when not registered here.

    The registry loads without torch (the built-in plugin imports it only to build); a third-party plugin
    that needs torch at import is skipped with a warning, which verify on an edge box need not show.
    """
    import warnings

    from rnnzoo.core.registry import get_spec
    from rnnzoo.errors import UnknownModelError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return get_spec(model).tolerance
        except UnknownModelError:
            return None


def _selected(runtimes: str | Iterable[str]) -> tuple[list[str], set[str]]:
    """The runtime names to run and those named explicitly (a missing one fails rather than being skipped)."""
    from rnnzoo.core.registry import get_runtime, list_runtimes

    names = [n.strip() for n in (runtimes.split(",") if isinstance(runtimes, str) else runtimes) if n.strip()]
    explicit = [n for n in names if n != "all"]
    for name in explicit:
        get_runtime(name)  # an unknown or duplicated name is the user's mistake: UnknownRuntimeError now
    gating = [n for n in list_runtimes(model_format=None) if get_runtime(n).gate]  # "all": every gate, LiteRT too
    chosen = [*gating, *explicit] if "all" in names else explicit
    return list(dict.fromkeys(chosen)), set(explicit)


def check_runtimes(
    folder: Path, card: ExportCard, runtimes: str | Iterable[str], tolerance: Any
) -> list[dict[str, Any]]:
    """Rows per runtime: ``model.onnx`` in it on every stored test_data_set_*, vs the stored output.

    A runtime that can run gets a second row for ``model.portable.onnx``
    when the card lists one (the same model: same stored outputs, same
    tolerance); one that is not available gets only the first. A ``.tflite``
    runtime (LiteRT) gets one row for the export's ``model.tflite`` instead.
    Each row: runtime, file, version, loads, max_abs, max_rel, passed (None
    when skipped), skipped (the reason, or None), error, cases, and
    ``problems`` (strings for the report's problem list, which the caller pops).
    """
    from rnnzoo.core.registry import get_runtime

    atol, rtol = (tolerance.atol, tolerance.rtol) if tolerance is not None else (1e-4, 1e-3)
    names, explicit = _selected(runtimes)
    sets = sorted({rel.split("/")[0] for rel in card.files if rel.startswith("test_data_set_") and "/" in rel})
    data = [(name, read_tensor(folder / name / "input_0.pb"), read_tensor(folder / name / "input_1.pb"),
             read_tensor(folder / name / "output_0.pb")) for name in sets]
    onnx_files = [MODEL_FILE, *([PORTABLE_FILE] if PORTABLE_FILE in card.files else [])]
    rows = []
    for name in names:
        spec = get_runtime(name)
        if spec.model_format == "tflite":  # LiteRT runs the export's own model.tflite, not an ONNX graph
            rows.append(_tflite_row(spec, name in explicit, folder, card, data, atol, rtol))
            continue
        for file in onnx_files if unavailable(spec) is None else onnx_files[:1]:
            rows.append(_runtime_row(spec, name in explicit, folder / file, data, atol, rtol))
    return rows


StoredCases = list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]  # (test_data_set name, x, lengths, stored output)


def _tflite_row(
    spec: Any, explicit: bool, folder: Path, card: ExportCard, data: StoredCases, atol: float, rtol: float,
) -> dict[str, Any]:
    """``model.tflite`` on the stored test data; an export without one, or data longer than its fixed time, skips.

    The file was unrolled for the fixed ``--litert BATCHxTIME``: a stored case
    with more steps cannot run in it, which says nothing about the file's
    correctness, so such cases are left out (the row names them) rather than failed.
    """
    if LITERT_FILE not in card.files:
        row = _empty_row(spec, LITERT_FILE)
        reason = f"the export has no {LITERT_FILE} (export with --litert BATCHxTIME)"
        return _fail(row, f"runtime {spec.name}: {reason}", reason) if explicit else {**row, "skipped": reason}
    if unavailable(spec) is not None:
        return _runtime_row(spec, explicit, folder / LITERT_FILE, data, atol, rtol)
    from rnnzoo.runtimes.litert import fixed_shape

    steps = fixed_shape(folder / LITERT_FILE)[1]
    fits = [case for case in data if case[1].shape[1] <= steps]
    left_out = [case[0] for case in data if case[1].shape[1] > steps]
    why = f"{', '.join(left_out)}: more than the file's fixed {steps} steps"
    if not fits:  # nothing it can run: skipped, without loading the file
        return {**_empty_row(spec, LITERT_FILE), "skipped": why}
    row = _runtime_row(spec, explicit, folder / LITERT_FILE, fits, atol, rtol)
    return {**row, "left_out": why} if left_out else row


def _runtime_row(spec: Any, explicit: bool, model: Path, data: StoredCases, atol: float, rtol: float) -> dict[str, Any]:
    row = _empty_row(spec, model.name)
    where = "" if model.name == MODEL_FILE else f" ({model.name})"  # a problem names a file other than model.onnx
    reason = unavailable(spec)
    if reason is not None:
        if not explicit:
            row["skipped"] = str(reason)
            return row
        return _fail(row, f"runtime {spec.name}: not available: {reason}", str(reason))
    try:
        run = spec.load(model, None)
    except Exception as exc:  # each runtime raises its own types
        failed = _fail(row, f"runtime {spec.name}: cannot load {model.name}: {first_line(exc)}", first_line(exc))
        return failed if spec.gate else _informational(failed)
    row["loads"] = True
    cases = []
    for name, x, lengths, want in data:
        try:
            got = np.asarray(run(x, lengths))
        except Exception as exc:  # each runtime raises its own types
            cases.append(Case(name, spec.name, list(want.shape), float("inf"), float("inf"), False))
            row["error"] = row["error"] or f"{name}: {first_line(exc)}"
            row["problems"].append(f"runtime {spec.name}: {name}{where}: failed to run: {first_line(exc)}")
            continue
        case = compare(name, spec.name, got, want, atol, rtol)
        cases.append(case)
        if not case.passed:
            row["problems"].append(f"runtime {spec.name}: {name}{where}: output differs from the stored output "
                                   f"(max abs {case.max_abs:.3g}, atol {atol}, rtol {rtol})")
    row["cases"] = [{"name": c.name, "passed": c.passed, "max_abs": finite_or_none(c.max_abs),
                     "max_rel": finite_or_none(c.max_rel)} for c in cases]
    if cases:
        row["max_abs"] = finite_or_none(max(c.max_abs for c in cases))
        row["max_rel"] = finite_or_none(max(c.max_rel for c in cases))
    if not cases:
        row["problems"].append(f"runtime {spec.name}: the export has no test_data_set_* to run")
    row["passed"] = not row["problems"]
    return row if spec.gate else _informational(row)


def _empty_row(spec: Any, file: str) -> dict[str, Any]:
    return {"runtime": spec.name, "file": file, "version": installed_version(spec), "loads": False, "max_abs": None,
            "max_rel": None, "passed": None, "skipped": None, "error": None, "cases": [], "problems": []}


def _informational(row: dict[str, Any]) -> dict[str, Any]:
    """A ``gate=False`` runtime's row: the differences stay, the verdict and the problems go."""
    row["error"] = row["error"] or ("; ".join(row["problems"]) or None)
    row.update(passed=None, problems=[], gate=False)
    return row


def _fail(row: dict[str, Any], problem: str, error: str) -> dict[str, Any]:
    row.update(passed=False, error=error)
    row["problems"].append(problem)
    return row

