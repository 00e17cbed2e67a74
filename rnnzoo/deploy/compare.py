"""Output comparison within a tolerance: numpy only, so torch-free ``verify`` and PyTorch parity share one rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Case:
    """One comparison: which input (``name``), which runtime, and how far it was from the expected output."""

    name: str
    runtime: str
    shape: list[int]
    max_abs: float
    max_rel: float
    passed: bool


def _case(data: dict[str, Any]) -> Case:
    """A case read back from a card; wrong types (``"passed": "no"``) are refused, not taken as truthy."""
    case = Case(**data)
    if not isinstance(case.passed, bool) or not isinstance(case.name, str) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in (case.max_abs, case.max_rel)):
        raise TypeError(f"case {data!r} has fields of the wrong type")
    return case


def compare(name: str, runtime: str, got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> Case:
    """Element-wise |got - want| <= atol + rtol * |want|.

    NaN anywhere fails, even NaN where NaN is expected: a model that emits
    NaN is broken, not matching. Equal infinities match. A shape mismatch
    fails with infinite differences.
    """
    if got.shape != want.shape:
        return Case(name, runtime, list(want.shape), float("inf"), float("inf"), False)
    same = got == want  # covers equal infinities
    diff = np.where(same, 0.0, np.abs(got.astype(np.float64) - want))
    bad_nan = np.isnan(got).any() or np.isnan(want).any()
    big = np.abs(want) > atol
    max_rel = float(np.max(diff[big] / np.abs(want[big]))) if big.any() else 0.0
    ok = not bad_nan and bool(np.all(diff <= atol + rtol * np.abs(want)))
    return Case(name, runtime, list(want.shape), float(np.max(diff)) if diff.size else 0.0, max_rel, ok)


@dataclass
class ParityReport:
    """Every comparison of one parity check; the card's ``parity`` section."""

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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParityReport:
        """The report back from a card's ``parity`` section (``passed`` and ``summary`` are recomputed)."""
        cases = [_case(c) for c in data["cases"]]
        return cls(str(data["model"]), float(data["atol"]), float(data["rtol"]), cases, float(data["seconds"]))
