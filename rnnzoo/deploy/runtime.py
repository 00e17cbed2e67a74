"""onnxruntime sessions and export-folder hashes: numpy and onnxruntime only, never torch.

Everything an edge/CPU deployment needs (``predict``, ``verify``) goes
through here, so it must import without torch installed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.deploy.card import CARD_FILE, MODEL_FILE, ExportCard
from rnnzoo.errors import ExportError

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


def feeds(x: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
    """The plain graph's inputs by name, in the dtypes it declares, for any runtime."""
    return {"x": np.ascontiguousarray(x, dtype=np.float32), "lengths": np.asarray(lengths).astype(np.int64)}


def run_session(session: Any, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The graph's first output; an onnxruntime failure is an ``ExportError`` naming the input shapes."""
    try:
        return session.run(None, feeds(x, lengths))[0]
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime failed to run the model on x {list(x.shape)}, lengths {list(lengths.shape)}: "
                          f"{str(exc).splitlines()[0][:300]}") from exc


def check_hashes(folder: str | Path, card: ExportCard) -> list[str]:
    """Problems with the folder's files: hash differs from the card, missing, or not in the card at all."""
    bad = [] if card.digest_ok else [f"{CARD_FILE}: its content differs from its digest (edited after export?)"]
    listed = set(card.files)
    if MODEL_FILE not in listed:
        bad.append(f"{MODEL_FILE}: not listed in {CARD_FILE} (edited card?)")
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder).as_posix()
        hidden = any(part.startswith(".") for part in Path(rel).parts)
        if path.is_file() and path.suffix in _USED_SUFFIXES and not hidden and rel not in listed:
            bad.append(f"{rel}: not listed in {CARD_FILE} (added after export?)")
    return bad + hash_problems(folder, card.files)


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
