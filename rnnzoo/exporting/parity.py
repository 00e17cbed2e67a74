"""Parity: PyTorch eager vs onnxruntime vs onnx.reference, on inputs the export never saw.

Two independent runtimes so a bug in one cannot hide. Every mismatch is
collected before deciding; beyond the model's declared tolerance the check
FAILS (``ParityError``), it never just warns.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.deploy.card import CHECKPOINT_FILE, MODEL_FILE, ExportCard, read_card
from rnnzoo.deploy.compare import ParityReport, compare
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.errors import ParityError
from rnnzoo.exporting.iospec import LONG as LONG  # the long parity cases' length (tests read it here)
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.runtimes.reference import evaluator as _evaluator  # onnx.reference plus RNN Relu, long GatherElements


def parity_inputs(
    input_size: int, data: SequenceDataset | None, seed: int = 0, small: bool = False
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Named (x, lengths) cases at batch sizes and lengths unlike the export's trace (``IoSpec`` kind "parity")."""
    samples = IoSpec.for_model(input_size).sample_inputs("parity", data, seed=seed, small=small)
    return [(s.name, s.feeds["x"], s.feeds["lengths"]) for s in samples]


def _reference_runner(path: Path) -> Any:
    ref = _evaluator(Path(path))
    return lambda x, lengths: ref.run(None, {"x": x, "lengths": lengths})[0]


def check_parity(
    export: Any,
    *,
    net: Any = None,
    data: SequenceDataset | None = None,
    runtimes: tuple[str, ...] = ("onnxruntime", "reference"),
    raise_on_fail: bool = True,
    card: ExportCard | None = None,
    file: str = MODEL_FILE,
) -> ParityReport:
    """Compare an export folder's ``model.onnx`` (or ``file``) with its PyTorch model on unseen inputs.

    ``net`` defaults to the folder's ``checkpoint.safetensors``. Tolerance is
    the model's declared ``ModelSpec.tolerance``. ``file``: another float32
    graph of the same model (``model.portable.onnx``), held to the same tolerance.
    """
    import torch

    from rnnzoo.core.registry import get_spec
    from rnnzoo.training.checkpoint import load_checkpoint

    folder = Path(getattr(export, "folder", export))
    card = card if card is not None else read_card(folder)
    if net is None:
        net = load_checkpoint(folder / CHECKPOINT_FILE).model
    meta = card.meta
    if data is None:
        from rnnzoo.data.split import validation_data

        data = validation_data(meta)
    tol = get_spec(meta.model).tolerance
    report = ParityReport(meta.model, tol.atol, tol.rtol)
    start = time.perf_counter()
    runners = {"onnxruntime": lambda: _ort_runner(folder / file), "reference":
               lambda: _reference_runner(folder / file)}
    for runtime in runtimes:
        run = runners[runtime]()
        for name, x, lengths in parity_inputs(meta.input_size, data, small=runtime == "reference"):
            with torch.no_grad():
                want = net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
            report.cases.append(compare(name, runtime, run(x, lengths), want, tol.atol, tol.rtol))
    report.seconds = time.perf_counter() - start
    if raise_on_fail and not report.passed:
        raise ParityError(f"{folder}: {report.summary}", report)
    return report


def _ort_runner(path: Path) -> Any:
    session = make_session(path)
    return lambda x, lengths: run_session(session, x, lengths)
