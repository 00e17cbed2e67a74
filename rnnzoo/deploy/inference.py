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

from rnnzoo.core.atomic import atomic_write
from rnnzoo.deploy.runtime import MODEL_FILE, check_hashes, hash_problems, make_session, read_card, run_session
from rnnzoo.errors import DataError, ExportError


def _read_inputs(path: Path, card: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Features and lengths from .npz (X, optional lengths), .csv (features only) or .ts; labels not needed."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    names = card["source_metadata"].get("feature_names")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path)
    if suffix == ".csv":
        from rnnzoo.data.loaders import read_csv_features

        try:
            x, lengths, _ = read_csv_features(path, names)
        except DataError as exc:
            raise DataError(f"{exc}; the model was trained on feature columns {names}") from exc
        return x, lengths
    from rnnzoo.data.loaders import load_file

    ds = load_file(path, task=card["rnnzoo.task"])
    if names and ds.feature_names and list(ds.feature_names) != list(names):
        raise DataError(f"{path}: features {ds.feature_names} differ from the model's {names}")
    return ds.x, ds.lengths


def _checked_model(folder: Path, card: dict[str, Any], variant: str) -> Path:
    """The ONNX file to run, only after its hash matches the card and onnx.checker accepts it."""
    if variant not in card["files"] or not variant.endswith(".onnx"):
        onnx_files = sorted(f for f in card["files"] if f.endswith(".onnx"))
        raise ExportError(f"{folder} has no model file {variant!r}; available: {onnx_files}")
    bad = hash_problems(folder, {variant: card["files"][variant]})  # only the file that will run
    if bad:
        raise ExportError(f"{folder}: {bad[0]}; re-export, or run `rnnzoo verify {folder}`")
    _onnx_check(folder / variant)
    return folder / variant


def _onnx_check(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # onnx raises ValidationError, DecodeError, ...
        raise ExportError(f"{path} fails onnx.checker ({exc}); re-export the model") from exc


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            x = np.asarray(z["X"], dtype=np.float32)
            lengths = z["lengths"] if "lengths" in z else np.full(len(x), x.shape[1] if x.ndim > 1 else 0)
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(f"{path}: needs a numeric array 'X' [N, T, F] (and optional 'lengths'): {exc}") from exc
    if x.ndim == 2:
        x = x[:, :, None]
    return x, np.asarray(lengths)


def _checked(data: Path, x: np.ndarray, lengths: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs the graph can run: right shape, integer lengths in range, finite valid steps, zeroed padding."""
    if x.ndim != 3 or x.shape[2] != n_features or len(x) == 0:
        raise DataError(f"{data}: the model expects [N >= 1, T, {n_features}] features, got shape {x.shape}")
    if (lengths.shape != (len(x),) or not np.issubdtype(lengths.dtype, np.integer)
            or lengths.min() < 1 or lengths.max() > x.shape[1]):
        raise DataError(f"{data}: lengths must be [N] integers within [1, {x.shape[1]}]")
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    if not np.isfinite(x[valid]).all():
        raise DataError(f"{data}: features contain NaN or inf within the sequences' lengths")
    return np.where(valid[..., None], x, 0).astype(np.float32), lengths.astype(np.int64)


def predict(folder: str | Path, data: str | Path, out: str | Path | None = None,
            variant: str = MODEL_FILE) -> dict[str, Any]:
    """Run an exported model on a data file; write predictions as CSV (or .npy/.json by suffix).

    Padding past each length may hold anything (NaN included): it is zeroed,
    since the model never looks at it.
    """
    folder, data = Path(folder), Path(data)
    card = read_card(folder)
    x, lengths = _checked(data, *_read_inputs(data, card), card["source_metadata"]["input_size"])
    session = make_session(_checked_model(folder, card, variant))
    if [i.name for i in session.get_inputs()] != ["x", "lengths"]:
        raise ExportError(f"{variant} takes inputs {[i.name for i in session.get_inputs()]}, not (x, lengths): "
                          "it is the streaming graph; predict runs model.onnx or its int8/fp16 variants")
    y = run_session(session, x, lengths)
    result = {"task": card["rnnzoo.task"], "outputs": y, "labels": card.get("rnnzoo.label_names")}
    if out is not None:
        _write_predictions(Path(out), result, lengths)
    return result


def _write_predictions(out: Path, result: dict[str, Any], lengths: np.ndarray) -> None:
    """Written atomically: a reader never sees half a predictions file."""
    y, labels = result["outputs"], result["labels"]
    if out.suffix == ".npy":
        atomic_write(out, lambda p: _write_npy(p, y))
        return
    if out.suffix == ".json":
        text = json.dumps({"task": result["task"], "labels": labels, "outputs": y.tolist()})
        atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
        return
    atomic_write(out, lambda p: _write_csv(p, result, lengths))


def _write_npy(path: Path, y: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save would append .npy to the temp name
        np.save(fh, y)


def _write_csv(path: Path, result: dict[str, Any], lengths: np.ndarray) -> None:
    y, labels = result["outputs"], result["labels"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
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
    problems += [f"export check: {p}" for p in card.get("checks", {}).get("problems", [])]
    for name in sorted(f for f in card["files"] if f.endswith(".onnx")):
        _onnx_check(folder / name)
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
        from rnnzoo.exporting.parity import check_parity

        rep = check_parity(folder, card=card, raise_on_fail=False)
        report["parity"] = rep.as_dict()
        if not rep.passed:
            problems.append(rep.summary)
    report["passed"] = not problems
    return report
