"""Torch-free use of an export folder: ``predict`` and ``verify`` with onnxruntime + numpy only.

Edge and CPU deployments install rnnzoo without the ``torch`` extra; this
module must never import torch (a test runs it with torch unimportable).
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.errors import DataError, ExportError
from rnnzoo.runtime import MODEL_FILE, check_hashes, make_session, read_card, run_session


def _read_inputs(path: Path, card: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Features (and lengths) from .npz (X, optional lengths: no labels needed) or .csv/.ts."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                x = np.asarray(z["X"], dtype=np.float32)
                lengths = z["lengths"] if "lengths" in z else np.full(len(x), x.shape[1])
        except (KeyError, ValueError, OSError) as exc:
            raise DataError(f"{path}: needs a numeric array 'X' [N, T, F] (and optional 'lengths'): {exc}") from exc
        if x.ndim == 2:
            x = x[:, :, None]
        return x, np.asarray(lengths, dtype=np.int64)
    from rnnzoo.data.loaders import load_file

    ds = load_file(path, task=card["rnnzoo.task"])
    return ds.x, ds.lengths


def predict(folder: str | Path, data: str | Path, out: str | Path | None = None,
            variant: str = MODEL_FILE) -> dict[str, Any]:
    """Run an exported model on a data file; write predictions as CSV (or .npy/.json by suffix)."""
    folder, data = Path(folder), Path(data)
    card = read_card(folder)
    x, lengths = _read_inputs(data, card)
    n_features = card["source_metadata"]["input_size"]
    if x.ndim != 3 or x.shape[2] != n_features:
        raise DataError(f"{data}: the model expects {n_features} features per step, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise DataError(f"{data}: features contain NaN or inf")
    if lengths.shape != (len(x),) or lengths.min(initial=1) < 1 or lengths.max(initial=1) > x.shape[1]:
        raise DataError(f"{data}: lengths must be [N] integers within [1, {x.shape[1]}]")
    y = run_session(make_session(folder / variant), x, lengths)
    result = {"task": card["rnnzoo.task"], "outputs": y, "labels": card.get("rnnzoo.label_names")}
    if out is not None:
        _write_predictions(Path(out), result, lengths)
    return result


def _write_predictions(out: Path, result: dict[str, Any], lengths: np.ndarray) -> None:
    y, labels = result["outputs"], result["labels"]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, y)
        return
    if out.suffix == ".json":
        out.write_text(json.dumps({"task": result["task"], "labels": labels, "outputs": y.tolist()}))
        return
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if result["task"] == "classification":
            e = np.exp(y - y.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
            names = labels or [str(i) for i in range(y.shape[1])]
            w.writerow(["index", "prediction", *[f"p_{n}" for n in names]])
            for i, row in enumerate(probs):
                w.writerow([i, names[int(row.argmax())], *[f"{p:.6f}" for p in row]])
        elif y.ndim == 3:
            w.writerow(["index", "step", *[f"y{j}" for j in range(y.shape[2])]])
            for i, n in enumerate(lengths):
                for t in range(int(n)):
                    w.writerow([i, t, *[f"{v:.6g}" for v in y[i, t]]])
        else:
            w.writerow(["index", *[f"y{j}" for j in range(y.shape[1])]])
            for i, row in enumerate(y):
                w.writerow([i, *[f"{v:.6g}" for v in row]])


def verify(folder: str | Path, parity: bool | None = None) -> dict[str, Any]:
    """Re-check an export: file hashes, onnx.checker, every test_data_set_*, and (with torch) parity.

    Returns a report; ``report["passed"]`` is False on any problem. Hash
    mismatches are checked first: an edited folder is never trusted further.
    """
    import onnx
    from onnx import numpy_helper

    folder = Path(folder)
    card = read_card(folder)
    problems = check_hashes(folder, card)
    report: dict[str, Any] = {"folder": str(folder), "model": card.get("rnnzoo.model"), "problems": problems}
    if problems:
        report["passed"] = False
        return report
    try:
        onnx.checker.check_model(str(folder / MODEL_FILE), full_check=True)
    except Exception as exc:
        raise ExportError(f"{folder / MODEL_FILE} fails onnx.checker: {exc}") from exc
    session = make_session(folder / MODEL_FILE)
    atol, rtol = card.get("parity", {}).get("atol", 1e-4), card.get("parity", {}).get("rtol", 1e-3)
    report["test_data_sets"] = []
    for ds in sorted(folder.glob("test_data_set_*")):
        load = lambda n, d=ds: numpy_helper.to_array(onnx.load_tensor(str(d / f"{n}.pb")))  # noqa: E731
        got = run_session(session, load("input_0"), load("input_1"))
        want = load("output_0")
        ok = got.shape == want.shape and bool(np.all(np.abs(got - want) <= atol + rtol * np.abs(want)))
        report["test_data_sets"].append({"name": ds.name, "passed": ok,
                                         "max_abs": float(np.max(np.abs(got - want))) if ok else None})
        if not ok:
            problems.append(f"{ds.name}: onnxruntime output differs from the stored output")
    if parity is None:
        parity = importlib.util.find_spec("torch") is not None
    if parity:
        from rnnzoo.parity import check_parity

        rep = check_parity(folder, card=card, raise_on_fail=False)
        report["parity"] = rep.as_dict()
        if not rep.passed:
            problems.append(rep.summary)
    report["passed"] = not problems
    return report
