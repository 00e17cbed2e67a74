"""A verify report flattened into outcomes: one per export x check x runtime, with the measured difference.

Why flat: CI dashboards (JUnit XML) and scripts (``--json``) want one row
per thing that passed or failed, while ``rnnzoo verify``'s report is nested
by stage (files, stored test data, runtimes, parity, drift). This module is
the one place that walks that nesting; :mod:`rnnzoo.deploy.junit` only
renders what it returns. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rnnzoo.deploy.card import MODEL_FILE

Status = Literal["passed", "failed", "skipped", "error"]


@dataclass(frozen=True)
class Outcome:
    """One check of one export in one runtime (``runtime`` "-" where no runtime is involved)."""

    export: str
    model: str
    check: str
    runtime: str
    status: Status
    message: str


def outcomes(report: dict[str, Any]) -> list[Outcome]:
    """Every outcome of one folder's report (as returned by ``rnnzoo.exporting.verify.verify``)."""
    folder, model = str(report.get("folder", "?")), str(report.get("model", "?"))

    def out(check: str, runtime: str, status: Status, message: str) -> Outcome:
        return Outcome(folder, model, check, runtime, status, message)

    if "error" in report:  # the folder could not be verified at all (no card, unreadable ONNX, ...)
        return [out("verify", "-", "error", str(report["error"]))]
    problems = [str(p) for p in report.get("problems", [])]
    if "test_data_sets" not in report:  # hashes failed: nothing else was looked at
        return [out("files", "-", "failed", "; ".join(problems) or "file hashes differ from card.json")]
    rows = [out("files", "-", "passed", "sha256 of every file matches card.json; onnx.checker (full) passes")]
    card_problems = [p for p in problems if p.startswith("export check:") or "not written by the export" in p]
    rows.append(out("card", "-", "failed" if card_problems else "passed",
                    "; ".join(card_problems) or "the export recorded no failed check"))
    rows += [out(c["name"], "onnxruntime", _status(c["passed"]), _diff(c)) for c in report["test_data_sets"]]
    rows += [o for r in report.get("runtimes", []) for o in _runtime(out, r)]
    if "parity" in report:
        p = report["parity"]
        rows += [out(f"parity:{c['name']}", c["runtime"], _status(c["passed"]), _diff(c, p["atol"], p["rtol"]))
                 for c in p["cases"]]
    if "drift" in report:
        rows += _drift(out, report["drift"])
    return rows


def _status(passed: bool | None) -> Status:
    return "skipped" if passed is None else "passed" if passed else "failed"


def _num(value: Any) -> str:
    return "n/a (shape mismatch, NaN or no output)" if value is None or value != value else f"{value:.3g}"


def _diff(case: dict[str, Any], atol: float | None = None, rtol: float | None = None) -> str:
    text = f"max abs diff {_num(case.get('max_abs'))}, max rel diff {_num(case.get('max_rel'))}"
    return text + (f" (atol {atol}, rtol {rtol})" if atol is not None else "")


def _runtime(out: Any, row: dict[str, Any]) -> list[Outcome]:
    name = f"{row['runtime']} {row.get('version') or ''}".strip()
    file = row.get("file", MODEL_FILE)
    where = "" if file == MODEL_FILE else f" ({file})"  # model.portable.onnx's rows: their own check names
    if row.get("skipped"):
        return [out(f"test_data_sets{where}", row["runtime"], "skipped", f"{name}: {row['skipped']}")]
    if not row.get("loads"):
        return [out(f"load{where}", row["runtime"], "failed", f"{name}: {row.get('error')}")]
    return [out(f"{c['name']}{where}", row["runtime"], _status(c["passed"]), f"{name}: {_diff(c)}")
            for c in row["cases"]]


def _drift(out: Any, drift: dict[str, Any]) -> list[Outcome]:
    rows = [out(f"drift:{r['data']}", r["runtime"], "passed" if r["passed"] else "failed", r["message"])
            for r in drift["rows"]]
    rows += [out(f"drift:metric:{m['metric']}", "-", "passed" if m["passed"] else "failed", m["message"])
             for m in drift["metrics"]]
    return rows
