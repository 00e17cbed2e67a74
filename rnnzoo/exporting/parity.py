"""Parity: PyTorch eager vs onnxruntime vs onnx.reference, on inputs the export never saw.

Two independent runtimes so a bug in one cannot hide. Every mismatch is
collected before deciding; beyond the model's declared tolerance the check
FAILS (``ParityError``), it never just warns.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.deploy.runtime import MODEL_FILE, make_session, read_card, run_session
from rnnzoo.errors import ParityError

LONG = 500  # longer than any built-in training sequence


@dataclass
class Case:
    name: str
    runtime: str
    shape: list[int]
    max_abs: float
    max_rel: float
    passed: bool


@dataclass
class ParityReport:
    model: str
    atol: float
    rtol: float
    cases: list[Case] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c.passed for c in self.cases)

    def max_abs(self, runtime: str) -> float:
        return max((c.max_abs for c in self.cases if c.runtime == runtime), default=float("nan"))

    @property
    def summary(self) -> str:
        failed = [f"{c.runtime}/{c.name} (max abs {c.max_abs:.3g})" for c in self.cases if not c.passed]
        n = len(self.cases)
        if not failed:
            return (f"parity ok: {n} cases, max abs diff onnxruntime {self.max_abs('onnxruntime'):.2e}, "
                    f"reference {self.max_abs('reference'):.2e} (atol {self.atol}, rtol {self.rtol})")
        return f"parity FAILED in {len(failed)}/{n} cases beyond atol {self.atol}, rtol {self.rtol}: " + \
            ", ".join(failed)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "atol": self.atol, "rtol": self.rtol, "passed": self.passed,
                "summary": self.summary, "seconds": round(self.seconds, 3),
                "max_abs_onnxruntime": self.max_abs("onnxruntime"),
                "max_abs_reference": self.max_abs("reference"),
                "cases": [asdict(c) for c in self.cases]}


def compare(name: str, runtime: str, got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> Case:
    """Element-wise |got - want| <= atol + rtol * |want|; NaN anywhere fails."""
    if got.shape != want.shape:
        return Case(name, runtime, list(want.shape), float("inf"), float("inf"), False)
    same = got == want  # covers equal infinities
    diff = np.where(same, 0.0, np.abs(got.astype(np.float64) - want))
    bad_nan = np.isnan(got).any() or np.isnan(want).any()
    big = np.abs(want) > atol
    max_rel = float(np.max(diff[big] / np.abs(want[big]))) if big.any() else 0.0
    ok = not bad_nan and bool(np.all(diff <= atol + rtol * np.abs(want)))
    return Case(name, runtime, list(want.shape), float(np.max(diff)) if diff.size else 0.0, max_rel, ok)


def parity_inputs(
    input_size: int, data: SequenceDataset | None, seed: int = 0, small: bool = False
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Named (x, lengths) cases at batch sizes and lengths unlike the export's trace."""
    rng = np.random.default_rng(seed)

    def rand(b: int, t: int, lengths: np.ndarray | None = None, scale: float = 1.0):
        x = (rng.normal(size=(b, t, input_size)) * scale).astype(np.float32)
        return x, np.full(b, t, dtype=np.int64) if lengths is None else lengths.astype(np.int64)

    cases = [("batch1_len1", *rand(1, 1)), ("batch2_len5", *rand(2, 5)),
             ("batch7_ragged", *rand(7, 20, np.array([20, 1, 7, 13, 2, 20, 9]))),
             # wide enough for rnnzoo.exporting.lowering's Scan branch (batch * hidden >= 512) in every runtime
             ("batch40_ragged_len6", *rand(40, 6, rng.integers(1, 7, 40)))]
    if not small:
        cases += [
            ("batch64_ragged", *rand(64, 50, rng.integers(1, 51, 64))),
            (f"batch2_len{LONG}", *rand(2, LONG)),
            (f"batch7_ragged_len{LONG}", *rand(7, LONG, np.array([LONG, 1, 250, 499, 3, 120, 64]))),
            ("batch4_extreme_values", *rand(4, 30, np.array([30, 5, 17, 1]), scale=1e3)),
        ]
    if data is not None and len(data):
        sub = data.subset(np.arange(min(len(data), 4 if small else 64)))
        cases.append(("validation_samples", sub.x, sub.lengths))
    return cases


def _reference_runner(path: Path) -> Any:
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(str(path), new_ops=[_reference_rnn()])
    return lambda x, lengths: ref.run(None, {"x": x, "lengths": lengths})[0]  # type: ignore[index]


def _reference_rnn() -> type:
    """onnx.reference's RNN op with the spec's Relu activation added.

    The ONNX spec allows Relu for RNN (PyTorch's ``nonlinearity="relu"``
    exports it), but the reference implementation only knows Tanh and
    Affine and would crash instead of checking the model.
    """
    from onnx.reference.ops.op_rnn import RNN_14

    class RNN(RNN_14):
        op_domain = ""

        def choose_act(self, name: str, alpha: Any, beta: Any) -> Any:
            if name.lower() == "relu":
                return lambda v: np.maximum(v, 0)
            return super().choose_act(name, alpha, beta)

    return RNN


def check_parity(
    export: Any,
    *,
    net: Any = None,
    data: SequenceDataset | None = None,
    runtimes: tuple[str, ...] = ("onnxruntime", "reference"),
    raise_on_fail: bool = True,
    card: dict[str, Any] | None = None,
) -> ParityReport:
    """Compare an export folder's ``model.onnx`` with its PyTorch model on unseen inputs.

    ``net`` defaults to the folder's ``checkpoint.safetensors``. Tolerance is
    the model's declared ``ModelSpec.tolerance``.
    """
    import torch

    from rnnzoo.core.registry import get_spec
    from rnnzoo.training.checkpoint import load_checkpoint

    folder = Path(getattr(export, "folder", export))
    card = card if card is not None else read_card(folder)
    if net is None:
        net = load_checkpoint(folder / "checkpoint.safetensors").model
    meta = card["source_metadata"]
    if data is None:
        from rnnzoo.data.split import validation_data

        data = validation_data(meta)
    tol = get_spec(meta["model"]).tolerance
    report = ParityReport(meta["model"], tol.atol, tol.rtol)
    start = time.perf_counter()
    runners = {"onnxruntime": lambda: _ort_runner(folder / MODEL_FILE), "reference":
               lambda: _reference_runner(folder / MODEL_FILE)}
    for runtime in runtimes:
        run = runners[runtime]()
        for name, x, lengths in parity_inputs(meta["input_size"], data, small=runtime == "reference"):
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
