"""Writing ``predict``'s outputs: CSV (default), ``.npy`` or ``.json``, chosen by the file's suffix."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.core.atomic import atomic_write
from rnnzoo.errors import DataError

SUFFIXES = (".csv", ".npy", ".json")


def check_output_path(out: Path, protected: list[Path]) -> None:
    """Refuse before any work: an unknown suffix, or a path that is the input data or a file of the export.

    ``--out EXPORT/model.onnx`` or ``--out`` equal to the input used to be written as CSV over it.
    """
    if out.suffix.lower() not in SUFFIXES:
        raise DataError(f"--out {out}: predictions are written as {', '.join(SUFFIXES)}; name the file with one "
                        "of these suffixes")
    target = out.resolve()
    for path in protected:
        if target == path.resolve() or path.resolve() in target.parents:
            raise DataError(f"--out {out} would overwrite {path}; write predictions elsewhere")


def write_predictions(out: Path, result: dict[str, Any], lengths: np.ndarray) -> None:
    """Written atomically: a reader never sees half a predictions file."""
    y, labels = result["outputs"], result["labels"]
    if out.suffix.lower() == ".npy":
        atomic_write(out, lambda p: _write_npy(p, y))
        return
    if out.suffix.lower() == ".json":
        text = json.dumps({"task": result["task"], "labels": labels, "outputs": y.tolist()})
        atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
        return
    atomic_write(out, lambda p: _write_csv(p, result, lengths))


def _write_npy(path: Path, y: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save would append .npy to the temp name
        np.save(fh, y)


def _write_csv(path: Path, result: dict[str, Any], lengths: np.ndarray) -> None:
    """Classes as label and probabilities; per-step outputs one row per valid step; else one row per sample."""
    y = result["outputs"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if result["task"] == "classification":
            _class_rows(w, y, result["labels"])
        elif y.ndim == 3:
            w.writerow(["index", "step", *[f"y{j}" for j in range(y.shape[2])]])
            for i, n in enumerate(lengths):
                for t in range(int(n)):
                    w.writerow([i, t, *[f"{v:.6g}" for v in y[i, t]]])
        else:
            w.writerow(["index", *[f"y{j}" for j in range(y.shape[1])]])
            for i, row in enumerate(y):
                w.writerow([i, *[f"{v:.6g}" for v in row]])


def _class_rows(w: Any, logits: np.ndarray, labels: list[str] | None) -> None:
    """Softmax of the logits, so each row's probabilities sum to 1."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    names = labels or [str(i) for i in range(logits.shape[1])]
    w.writerow(["index", "prediction", *[f"p_{n}" for n in names]])
    for i, row in enumerate(probs):
        w.writerow([i, names[int(row.argmax())], *[f"{p:.6f}" for p in row]])
