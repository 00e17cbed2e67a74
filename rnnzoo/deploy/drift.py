"""Drift gates: does a new export still give the outputs a previous one gave (``rnnzoo verify NEW --baseline OLD``)?

A team that ships exports wants a red CI run, not silence, when a new
torch / onnxruntime / rnnzoo release or a retraining changes what the model
answers. The new ``model.onnx`` runs on the old export's stored inputs
(``test_data_set_*``) and is compared with the old stored outputs; where
the old export still has its ``model.onnx``, the old model also runs on the
new export's stored inputs. Per set: the largest output change, the argmax
agreement (classifiers), and the change of each recorded metric.

The baseline is either a whole export folder or a *baseline folder* (what
:func:`save_baseline` writes: the stored test data and the metrics, a few
KB, no model), small enough to commit. Torch-free (onnxruntime only).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.core.atomic import atomic_write
from rnnzoo.deploy.card import CARD_FILE, MODEL_FILE, read_card
from rnnzoo.deploy.compare import compare
from rnnzoo.deploy.runtime import check_hashes, hash_problems, make_session, run_session, sha256
from rnnzoo.deploy.verify import read_tensor
from rnnzoo.errors import ExportError

BASELINE_FILE = "baseline.json"
_SET_FILES = ("input_0.pb", "input_1.pb", "output_0.pb")


@dataclass(frozen=True)
class DriftThresholds:
    """When a new export has drifted too far. ``None``: the default named on each field.

    ``max_abs``: largest allowed |new - old| output change; None gates with
    the model's parity tolerance instead (|new - old| <= atol + rtol * |old|,
    element-wise: "the same model", what an exporter or runtime upgrade must
    keep). ``min_agreement``: least share of equal argmax (classifiers);
    None reports it without gating. ``max_metric_change``: largest |change|
    of each recorded validation/test metric; None reports without gating.
    """

    max_abs: float | None = None
    min_agreement: float | None = None
    max_metric_change: float | None = None


@dataclass
class Baseline:
    """What a drift check needs from the old side: its stored test data, its metrics, its model if any."""

    folder: Path
    model: str
    task: str
    metrics: dict[str, float]
    sets: list[str]
    model_file: Path | None = None
    problems: list[str] = field(default_factory=list)


def read_baseline(folder: str | Path) -> Baseline:
    """An export folder (card.json) or a baseline folder (baseline.json); hashes are checked either way."""
    folder = Path(folder)
    if (folder / CARD_FILE).is_file():
        card = read_card(folder)
        sets = _set_names(card.files)
        return Baseline(folder, card.meta.model, card.meta.task, _metrics(card.meta.metrics), sets,
                        folder / MODEL_FILE, check_hashes(folder, card))
    path = folder / BASELINE_FILE
    if not path.is_file():
        raise ExportError(f"{folder} is neither an export folder ({CARD_FILE}) nor a baseline folder "
                          f"({BASELINE_FILE}); make one with `rnnzoo verify EXPORT --save-baseline {folder}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = {str(k): str(v) for k, v in data["files"].items()}
        base = Baseline(folder, str(data["model"]), str(data["task"]), _metrics(data["metrics"]), _set_names(files))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExportError(f"{path} is malformed ({exc!r}); write it again with --save-baseline") from exc
    base.problems = hash_problems(folder, files)
    return base


def _set_names(files: dict[str, str]) -> list[str]:
    return sorted({rel.split("/")[0] for rel in files if rel.startswith("test_data_set_") and "/" in rel})


def _metrics(metrics: Any) -> dict[str, float]:
    """The validation/test metrics worth comparing (not epochs, not losses, which depend on the loss scale)."""
    return {k: float(v) for k, v in dict(metrics).items() if k.startswith(("val_", "test_")) and "loss" not in k
            and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def save_baseline(export: str | Path, dest: str | Path) -> Path:
    """Copy an export's stored test data and metrics into ``dest`` (a baseline folder, a few KB, no model)."""
    export, dest = Path(export), Path(dest)
    card = read_card(export)
    problems = check_hashes(export, card)
    if problems:
        raise ExportError(f"{export} fails its hash check ({problems[0]}); re-export before taking a baseline")
    sets = _set_names(card.files)
    if not sets:
        raise ExportError(f"{export} has no test_data_set_*: export it with data to take a baseline")
    dest.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in sets:
        (dest / name).mkdir(exist_ok=True)
        for f in _SET_FILES:
            shutil.copyfile(export / name / f, dest / name / f)
            files[f"{name}/{f}"] = sha256(dest / name / f)
    info = {"model": card.meta.model, "task": card.meta.task, "metrics": _metrics(card.meta.metrics),
            "versions": dict(card.meta.versions), "export": export.name, "files": files}
    atomic_write(dest / BASELINE_FILE, lambda p: p.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8"))
    return dest


def drift(new: str | Path, old: str | Path, thresholds: DriftThresholds, tolerance: Any = None) -> dict[str, Any]:
    """Compare export ``new`` with baseline ``old``; ``report["passed"]`` is False when a threshold is exceeded.

    ``tolerance`` (atol/rtol; the registered model's, else the new card's
    parity tolerance) is the default output gate, see :class:`DriftThresholds`.
    """
    new = Path(new)
    card = read_card(new)
    base = read_baseline(old)
    tol = tolerance if tolerance is not None else card.parity
    atol, rtol = (tol.atol, tol.rtol) if tol is not None else (1e-4, 1e-3)
    problems = [f"baseline {p}" for p in base.problems]
    if base.model != card.meta.model:
        problems.append(f"baseline is of model {base.model!r}, the export of {card.meta.model!r}")
    rows = []
    if not base.problems:
        session = make_session(new / MODEL_FILE)
        rows += [_row(f"baseline:{s}", session, base.folder / s, base.task, thresholds, atol, rtol) for s in base.sets]
        if base.model_file is not None:
            old_session = make_session(base.model_file)
            rows += [_row(f"new:{s}", old_session, new / s, base.task, thresholds, atol, rtol, swap=True)
                     for s in _set_names(card.files)]
        if not rows:
            problems.append(f"baseline {base.folder} has no test_data_set_* to compare on")
    metrics = _metric_rows(_metrics(card.meta.metrics), base.metrics, thresholds.max_metric_change)
    problems += [f"drift: {r['data']}: {r['message']}" for r in rows if not r["passed"]]
    problems += [f"drift: metric {m['metric']}: {m['message']}" for m in metrics if not m["passed"]]
    return {"baseline": str(base.folder), "thresholds": vars(thresholds) | {"atol": atol, "rtol": rtol},
            "rows": rows, "metrics": metrics, "problems": problems, "passed": not problems}


def _row(data: str, session: Any, folder: Path, task: str, th: DriftThresholds, atol: float, rtol: float,
         swap: bool = False) -> dict[str, Any]:
    """One stored set: run ``session`` on its inputs, compare with its stored output (``swap``: the stored is new)."""
    x, lengths, stored = (read_tensor(folder / f) for f in _SET_FILES)
    got = run_session(session, x, lengths)
    new, old = (stored, got) if swap else (got, stored)
    case = compare(data, "onnxruntime", new, old, atol, rtol)
    agree = _agreement(new, old) if task == "classification" and new.shape == old.shape else None
    gates = []
    if th.max_abs is not None:
        ok_abs = new.shape == old.shape and case.max_abs <= th.max_abs
        gates.append((ok_abs, f"max abs change {case.max_abs:.3g} (limit {th.max_abs:g})"))
    else:
        gates.append((case.passed, f"max abs change {case.max_abs:.3g} (parity tolerance atol {atol:g}, "
                                   f"rtol {rtol:g})"))
    if agree is not None:
        limit = f"limit {th.min_agreement:g}" if th.min_agreement is not None else "not gated"
        gates.append((th.min_agreement is None or agree >= th.min_agreement, f"argmax agreement {agree:.4f} ({limit})"))
    passed = all(ok for ok, _ in gates)
    return {"data": data, "runtime": "onnxruntime", "samples": int(old.shape[0]) if old.ndim else 0,
            "max_abs": case.max_abs if math.isfinite(case.max_abs) else None, "agreement": agree,
            "passed": passed, "message": "; ".join(m for _, m in gates)}


def _agreement(new: np.ndarray, old: np.ndarray) -> float:
    return float(np.mean(np.argmax(new, axis=-1) == np.argmax(old, axis=-1))) if new.size else 1.0


def _metric_rows(new: dict[str, float], old: dict[str, float], limit: float | None) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(set(new) & set(old)):
        change = new[name] - old[name]
        ok = limit is None or abs(change) <= limit
        gate = f"limit {limit:g}" if limit is not None else "not gated"
        rows.append({"metric": name, "old": old[name], "new": new[name], "change": change, "passed": ok,
                     "message": f"{old[name]:.4g} -> {new[name]:.4g} (change {change:+.3g}, {gate})"})
    return rows


def drift_table(report: dict[str, Any]) -> str:
    """The drift report as a text table (what ``rnnzoo verify --baseline`` prints)."""
    lines = [f"{'compared on':<28} {'max abs change':>15} {'agreement':>10}  result"]
    for r in report["rows"]:
        agree = f"{r['agreement']:.4f}" if r["agreement"] is not None else "-"
        diff = f"{r['max_abs']:.3g}" if r["max_abs"] is not None else "shape differs"
        lines.append(f"{r['data']:<28} {diff:>15} {agree:>10}  {'ok' if r['passed'] else 'DRIFT'}")
    for m in report["metrics"]:
        lines.append(f"{'metric ' + m['metric']:<28} {m['change']:>+15.3g} {'':>10}  "
                     f"{'ok' if m['passed'] else 'DRIFT'} ({m['old']:.4g} -> {m['new']:.4g})")
    return "\n".join(lines)
