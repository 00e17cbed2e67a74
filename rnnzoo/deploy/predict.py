"""``predict``: run an export folder's model on a data file with onnxruntime + numpy only, never torch.

Edge and CPU deployments install rnnzoo without the ``torch`` extra; this
module must never import torch (a test runs it with torch unimportable).
Data files are read by :func:`rnnzoo.data.loaders.read_features`, the same
code ``train`` reads them with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.data.loaders import read_features
from rnnzoo.deploy.card import CARD_FILE, MODEL_FILE, read_card
from rnnzoo.deploy.predictions import check_output_path, write_predictions
from rnnzoo.deploy.runtime import hash_problems, make_session, run_session
from rnnzoo.deploy.verify import check_onnx
from rnnzoo.errors import DataError, ExportError


def predict(folder: str | Path, data: str | Path, out: str | Path | None = None,
            variant: str = MODEL_FILE) -> dict[str, Any]:
    """Run an exported model on a data file; write predictions as CSV (or .npy/.json by suffix).

    Padding past each length may hold anything (NaN included): it is zeroed,
    since the model never looks at it.
    """
    folder, data = Path(folder), Path(data)
    if out is not None:
        check_output_path(Path(out), [data, folder])
    card = read_card(folder)
    if not card.digest_ok:
        raise ExportError(f"{folder}: {CARD_FILE} differs from its digest (edited after export?); re-export, "
                          f"or run `rnnzoo verify {folder}`")
    if card.recorded_failures:
        raise ExportError(f"{folder} is a failed export ({card.recorded_failures[0]}); it is not served")
    meta = card.meta
    names = list(meta.feature_names) if meta.feature_names else None
    input_size, files = meta.input_size, card.files
    labels = list(meta.label_names) if meta.label_names else None
    result: dict[str, Any] = {"task": meta.task, "labels": labels}
    x, lengths = _checked(data, *_read_inputs(data, names), input_size)
    session = make_session(_checked_model(folder, files, variant))
    if [i.name for i in session.get_inputs()] != ["x", "lengths"]:
        raise ExportError(f"{variant} takes inputs {[i.name for i in session.get_inputs()]}, not (x, lengths): "
                          "it is the streaming graph; predict runs model.onnx or its portable/int8/fp16 variants")
    result["outputs"] = _checked_outputs(folder, run_session(session, x, lengths), meta.output_size)
    if out is not None:
        write_predictions(Path(out), result, lengths)
    return result


def _checked_outputs(folder: Path, y: np.ndarray, output_size: int) -> np.ndarray:
    """A model that emits the wrong width or NaN gives no predictions at all, never a silently wrong file."""
    if y.ndim < 2 or y.shape[-1] != output_size:
        raise ExportError(f"{folder}: the model returned shape {list(y.shape)} but its card says {output_size} "
                          "outputs; the plugin's model breaks its contract")
    bad = np.flatnonzero(~np.isfinite(y.reshape(len(y), -1)).all(axis=1))
    if bad.size:
        rows = ", ".join(map(str, bad[:10])) + (f" and {bad.size - 10} more" if bad.size > 10 else "")
        raise ExportError(f"{folder}: the model produced NaN or inf for rows {rows}; no predictions written")
    return y


def _read_inputs(data: Path, names: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Features and lengths; a CSV's columns are picked by the names the model was trained on."""
    try:
        x, lengths, found = read_features(data, names)
    except DataError as exc:
        if names and data.suffix.lower() == ".csv":
            raise DataError(f"{exc}; the model was trained on feature columns {names}") from exc
        raise
    if names and found and list(found) != list(names):
        raise DataError(f"{data}: features {found} differ from the model's {names}")
    return x, lengths


def _checked_model(folder: Path, files: dict[str, str], variant: str) -> Path:
    """The ONNX file to run, only after its hash matches the card and onnx.checker accepts it."""
    if variant not in files or not variant.endswith(".onnx"):
        onnx_files = sorted(f for f in files if f.endswith(".onnx"))
        raise ExportError(f"{folder} has no model file {variant!r}; available: {onnx_files}")
    bad = hash_problems(folder, {variant: files[variant]})  # only the file that will run
    if bad:
        raise ExportError(f"{folder}: {bad[0]}; re-export, or run `rnnzoo verify {folder}`")
    check_onnx(folder / variant)
    return folder / variant


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
