"""onnxruntime sessions and export-folder reading: numpy and onnxruntime only, never torch.

Everything an edge/CPU deployment needs (``predict``, ``verify``) goes
through here, so it must import without torch installed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.errors import ExportError

MODEL_FILE = "model.onnx"
CARD_FILE = "card.json"
_USED_SUFFIXES = (".onnx", ".pb", ".safetensors")  # what verify/predict would load; other files are the user's


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session with all graph optimizations; ``threads`` caps intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot load {path}: {exc}") from exc


def run_session(session: Any, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    feeds = {"x": np.ascontiguousarray(x, dtype=np.float32), "lengths": lengths.astype(np.int64)}
    return session.run(None, feeds)[0]


def read_card(folder: str | Path) -> dict[str, Any]:
    """The export's model card; a clear error when the folder is not an rnnzoo export."""
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise ExportError(f"{folder} is not an rnnzoo export folder: {CARD_FILE} is missing")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path} is not valid JSON ({exc}); re-export the model") from exc
    if not isinstance(card, dict) or not isinstance(card.get("files"), dict):
        raise ExportError(f"{path} has no 'files' section; re-export the model")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in card["files"].items()):
        raise ExportError(f"{path}: 'files' must map file names to sha256 strings; re-export the model")
    meta = card.get("source_metadata")
    if not isinstance(meta, dict) or not isinstance(card.get("rnnzoo.task"), str) or \
            not isinstance(meta.get("input_size"), int):
        raise ExportError(f"{path} lacks the model's task or input size; re-export the model")
    return card


def check_hashes(folder: str | Path, card: dict[str, Any]) -> list[str]:
    """Problems with the folder's files: hash differs from the card, missing, or not in the card at all."""
    bad = []
    listed = set(card["files"])
    if MODEL_FILE not in listed:
        bad.append(f"{MODEL_FILE}: not listed in {CARD_FILE} (edited card?)")
    for path in sorted(Path(folder).rglob("*")):
        rel = str(path.relative_to(folder))
        hidden = any(part.startswith(".") for part in Path(rel).parts)
        if path.is_file() and path.suffix in _USED_SUFFIXES and not hidden and rel not in listed:
            bad.append(f"{rel}: not listed in {CARD_FILE} (added after export?)")
    return bad + hash_problems(folder, card["files"])


def hash_problems(folder: str | Path, files: dict[str, str]) -> list[str]:
    """Listed files that escape the folder, are missing, or whose sha256 differs (edited after export)."""
    bad = []
    for rel, digest in files.items():
        path = Path(folder) / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            bad.append(f"{rel}: path escapes the export folder")
        elif not path.is_file():
            bad.append(f"{rel}: missing")
        elif sha256(path) != digest:
            bad.append(f"{rel}: sha256 differs from card.json (edited after export?)")
    return bad
