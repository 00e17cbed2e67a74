"""``rnnzoo verify FOLDER...``: several export folders (or a glob) in one call, each optionally against a baseline.

Why a layer over :func:`rnnzoo.exporting.verify.verify`: CI verifies every
export of a run at once and wants every folder's result, so one folder that
cannot be read becomes a failed report (an ``error``) instead of ending the
call, and a baseline folder can hold one baseline per export.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rnnzoo.deploy.card import CARD_FILE
from rnnzoo.deploy.drift import BASELINE_FILE, DriftThresholds, drift, save_baseline
from rnnzoo.errors import ExportError, RnnzooError
from rnnzoo.exporting.verify import _spec_tolerance, verify


def expand(folders: Iterable[str]) -> list[Path]:
    """Folders as given; a pattern (``exports/*``) becomes the folders it matches, sorted.

    A pattern that matches no folder is the user's mistake; a plain path
    that is not an export is left in, so its report says what is wrong.
    """
    out: list[Path] = []
    for text in folders:
        if glob.has_magic(text):
            matched = sorted(Path(p) for p in glob.glob(text) if Path(p).is_dir())
            if not matched:
                raise RnnzooError(f"no folder matches {text!r}; give export folders (e.g. exports/*)")
            out += matched
        else:
            out.append(Path(text))
    return list(dict.fromkeys(out))


def baseline_for(export: Path, baseline: Path) -> Path:
    """``baseline`` itself when it is one export or baseline folder, else its subfolder named like ``export``."""
    if (baseline / CARD_FILE).is_file() or (baseline / BASELINE_FILE).is_file():
        return baseline
    return baseline / export.name


def verify_all(
    folders: Iterable[str | Path], parity: bool | None = None, runtimes: str | None = None,
    baseline: str | Path | None = None, thresholds: DriftThresholds | None = None,
) -> list[dict[str, Any]]:
    """One report per folder (see ``verify``), plus ``report["drift"]`` when a baseline is given."""
    reports = []
    for folder in (Path(f) for f in folders):
        try:
            report = verify(folder, parity=parity, runtimes=runtimes)
            too_old = runtime_too_old(folder) if "test_data_sets" in report else None
            if too_old:
                report["problems"].insert(0, too_old)
                report["passed"] = False
            if baseline is not None and "test_data_sets" in report:
                _add_drift(report, folder, baseline_for(folder, Path(baseline)), thresholds or DriftThresholds())
        except ExportError as exc:  # this folder only; the others are still verified
            report = {"folder": str(folder), "model": "?", "error": str(exc), "problems": [str(exc)], "passed": False}
        reports.append(report)
    return reports


def _installed_onnxruntime() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def runtime_too_old(folder: Path) -> str | None:
    """A problem line when the installed onnxruntime is older than the card's ``rnnzoo.min_onnxruntime``."""
    from rnnzoo.deploy.card import read_card
    from rnnzoo.exporting.min_runtime import version_key

    header = read_card(folder).header
    need, installed = header.get("rnnzoo.min_onnxruntime"), _installed_onnxruntime()
    if not isinstance(need, str) or version_key(installed) >= version_key(need):
        return None
    why = "; ".join(header.get("rnnzoo.min_onnxruntime_why") or []) or "see the card"
    return (f"onnxruntime {installed} is older than {need}, the oldest release that runs this export ({why}); "
            f"pip install 'onnxruntime>={need}'")


def _add_drift(report: dict[str, Any], folder: Path, baseline: Path, thresholds: DriftThresholds) -> None:
    result = drift(folder, baseline, thresholds, _spec_tolerance(str(report["model"])))
    report["drift"] = result
    report["problems"] += result["problems"]
    report["passed"] = report["passed"] and result["passed"]


def save_baselines(folders: list[Path], dest: str | Path) -> list[Path]:
    """``dest`` is the baseline of a single folder; with several, ``dest/<folder name>`` each."""
    dest = Path(dest)
    if len(folders) == 1:
        return [save_baseline(folders[0], dest)]
    return [save_baseline(f, dest / f.name) for f in folders]


def zoo_reports(out: str | Path, models: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """Reports for the zoo's ``exports/junit.xml``: ``(model, error)`` pairs of one run, folders ``out/<model>``.

    Torch is not rerun: the export has just checked parity, and the card's
    numbers are the report's ``parity`` (the same testcases ``rnnzoo verify``
    would write). A model that failed before its export has a failed report
    carrying the zoo's error.
    """
    from rnnzoo.deploy.card import read_card

    reports = []
    for model, error in models:
        folder = Path(out) / model
        if error or not (folder / CARD_FILE).is_file():
            why = error or f"no export in {folder}"
            reports.append({"folder": str(folder), "model": model, "error": why, "problems": [why], "passed": False})
            continue
        [report] = verify_all([folder], parity=False)
        card = read_card(folder) if "error" not in report else None
        if card is not None and card.parity is not None:
            report["parity"] = card.parity.as_dict()
        reports.append(report)
    return reports
