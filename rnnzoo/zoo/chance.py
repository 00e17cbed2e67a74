"""Is a classifier better than chance? One explicit rule, shared by the zoo report and the benchmarks.

Why a rule and not a glance at the accuracy: on real data a model can end
where a constant answer would be (0.5 on a balanced two-class set, 0.9 on a
set that is 90% one class), and a small test set makes a lucky few points
look like learning. The rule (:func:`chance_verdict`):

* The baseline is the **majority-class rate** ``p0`` of the evaluated set:
  the accuracy of always answering its most frequent class. It is the best
  any constant answer can do on that set, so it is the strictest baseline
  that needs no model.
* ``k`` of ``n`` samples are right (``k = round(accuracy * n)``). Under the
  hypothesis "the model is no better than chance", ``k`` is at most
  Binomial(``n``, ``p0``). The one-sided p-value is ``P(X >= k)`` for that
  binomial, computed exactly.
* The model is **above chance** when ``p < ALPHA`` (0.01): a majority-class
  guesser would score that well by luck less than 1% of the time. Otherwise
  it is **at chance**, whatever the raw number says.
* When even ``n/n`` right would not reach ``p < ALPHA`` (``p0 ** n >= ALPHA``,
  e.g. 6 samples of a two-class set), the set is **too small to tell**: the
  verdict says so instead of claiming either.

The zoo judges on the test split when the run has one (it played no part in
training or selection), else on the validation split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ALPHA = 0.01  # one-sided significance level of the binomial test


@dataclass(frozen=True)
class ChanceVerdict:
    """A classifier's accuracy on ``n`` samples against the majority-class rate, and what it means."""

    accuracy: float
    majority_rate: float
    n: int
    p_value: float
    split: str = ""  # which split was judged ("test" or "val"), for the report

    @property
    def decidable(self) -> bool:
        """False when even a perfect score on this few samples could be luck."""
        return self.majority_rate ** self.n < ALPHA

    @property
    def at_chance(self) -> bool:
        """Not distinguishable from always answering the majority class (``p >= ALPHA``), on enough samples."""
        return self.decidable and self.p_value >= ALPHA

    @property
    def label(self) -> str:
        """``above chance`` / ``at chance`` / ``too few samples to tell``."""
        if not self.decidable:
            return "too few samples to tell"
        return "at chance" if self.at_chance else "above chance"

    def describe(self) -> str:
        """One line for a report: the numbers behind the label."""
        where = f"{self.split} " if self.split else ""
        return (f"{self.label}: {where}accuracy {self.accuracy:.3f} vs majority-class rate {self.majority_rate:.3f} "
                f"on {self.n} samples (binomial p={self.p_value:.2g}, above chance needs p<{ALPHA:g})")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label, "at_chance": self.at_chance, "alpha": ALPHA}


def chance_verdict(accuracy: float, labels: Sequence[int] | np.ndarray, split: str = "") -> ChanceVerdict:
    """The verdict for ``accuracy`` measured on samples whose true classes are ``labels``.

    ``labels`` are the evaluated set's class indices (``SequenceDataset.y``);
    only their counts matter. Raises ValueError on an empty set or an
    accuracy outside [0, 1].
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64).ravel())
    n = int(counts.sum())
    if n == 0:
        raise ValueError("chance_verdict needs at least one evaluated sample")
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracy must be in [0, 1], got {accuracy}")
    p0 = float(counts.max()) / n
    k = round(accuracy * n)
    return ChanceVerdict(float(accuracy), p0, n, binomial_tail(k, n, p0), split)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact (summed in log space, so n in the millions is fine)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
             for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def judge_result(result: Any) -> ChanceVerdict | None:
    """The verdict for a classifier's ``rnnzoo.train`` result (None for a regressor or without held-out data).

    Judged on the test split when the run has one (it took no part in
    training or model selection), else on the validation split.
    """
    for split in ("test", "val"):
        part = getattr(result.splits, split)
        accuracy = result.metrics.get(f"{split}_accuracy")
        if part is not None and accuracy is not None and part.task == "classification":
            return chance_verdict(accuracy, part.y, split)
    return None
