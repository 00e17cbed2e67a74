"""Did a model learn anything? One explicit rule per task, shared by the zoo report and the benchmarks.

Why a rule and not a glance at the metric: on real data a model can end
where a constant answer would be (0.5 on a balanced two-class set, 0.9 on a
set that is 90% one class), and a small test set makes a lucky few points
look like learning.

**Classifiers** (:func:`chance_verdict`):

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

**Regressors** (:func:`baseline_verdict`): the baseline is always
predicting the training targets' mean. Per evaluated sample, whichever of
the model and the baseline has the smaller squared error wins (an exact tie
counts for the baseline). A sign test: the model **beats the mean** when
winning ``k`` of ``n`` samples has ``P(X >= k) < ALPHA`` for X ~
Binomial(``n``, 1/2); otherwise it is **no better than the mean**; with
``0.5 ** n >= ALPHA`` (fewer than 7 samples) it is too small to tell.

Both are judged on the test split when the run has one (it played no part
in training or selection), else on the validation split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, cast

import numpy as np

ALPHA = 0.01  # one-sided significance level of both tests


class _Verdict:
    """What both tests share: when ``n`` samples can decide at all, the verdict, and its words.

    A subclass gives its fields, the success rate under "no better than the
    baseline" (``_null_rate``), its two verdict phrases and its ``numbers``.
    """

    n: int
    p_value: float
    WORDS: ClassVar[tuple[str, str]]  # (no better than the baseline, better)

    def _null_rate(self) -> float:
        raise NotImplementedError

    @property
    def numbers(self) -> str:
        raise NotImplementedError

    @property
    def decidable(self) -> bool:
        """False when even a perfect score on this few samples could be luck."""
        return self._null_rate() ** self.n < ALPHA

    @property
    def at_chance(self) -> bool:
        """Not distinguishable from the baseline (``p >= ALPHA``), on enough samples to tell."""
        return self.decidable and self.p_value >= ALPHA

    @property
    def label(self) -> str:
        if not self.decidable:
            return "too few samples to tell"
        return self.WORDS[0] if self.at_chance else self.WORDS[1]

    def to_json(self) -> dict[str, Any]:
        data = asdict(cast(Any, self))  # every subclass is a dataclass
        return {**data, "label": self.label, "at_chance": self.at_chance,
                "numbers": self.numbers, "alpha": ALPHA}


@dataclass(frozen=True)
class ChanceVerdict(_Verdict):
    """A classifier's accuracy on ``n`` samples against the majority-class rate, and what it means."""

    accuracy: float
    majority_rate: float
    n: int
    p_value: float
    split: str = ""  # which split was judged ("test" or "val"), for the report
    WORDS: ClassVar[tuple[str, str]] = ("at chance", "above chance")

    def _null_rate(self) -> float:
        return self.majority_rate

    @property
    def numbers(self) -> str:
        return (f"{self.split} {self.accuracy:.3f} vs majority {self.majority_rate:.3f}, n={self.n}, "
                f"p={self.p_value:.1g}")

    def describe(self) -> str:
        """One line for a report: the numbers behind the label."""
        where = f"{self.split} " if self.split else ""
        return (f"{self.label}: {where}accuracy {self.accuracy:.3f} vs majority-class rate {self.majority_rate:.3f} "
                f"on {self.n} samples (binomial p={self.p_value:.2g}, above chance needs p<{ALPHA:g})")


@dataclass(frozen=True)
class BaselineVerdict(_Verdict):
    """A regressor against always predicting the training mean, sample by sample, and what it means."""

    rmse: float
    baseline_rmse: float
    n: int
    wins: int  # samples where the model's squared error is below the baseline's
    p_value: float
    split: str = ""
    WORDS: ClassVar[tuple[str, str]] = ("no better than the mean", "beats the mean")

    def _null_rate(self) -> float:
        return 0.5

    @property
    def numbers(self) -> str:
        return (f"{self.split} RMSE {self.rmse:.3g} vs mean {self.baseline_rmse:.3g}, closer on {self.wins}/{self.n}, "
                f"p={self.p_value:.1g}")

    def describe(self) -> str:
        return (f"{self.label}: {self.numbers} (sign test against always predicting the training mean, "
                f"beating it needs p<{ALPHA:g})")


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


def baseline_verdict(model_sq_err: np.ndarray, baseline_sq_err: np.ndarray, rmse: float, baseline_rmse: float,
                     split: str = "") -> BaselineVerdict:
    """The verdict from per-sample squared errors of the model and of the training-mean baseline.

    ``rmse``/``baseline_rmse`` are the overall figures shown beside it (the
    trainer's RMSE counts every valid value, so it is passed in, not redone).
    """
    model_sq_err, baseline_sq_err = np.asarray(model_sq_err), np.asarray(baseline_sq_err)
    if model_sq_err.shape != baseline_sq_err.shape or model_sq_err.ndim != 1 or len(model_sq_err) == 0:
        raise ValueError("baseline_verdict needs two equally long, non-empty 1-D arrays of per-sample errors")
    n, wins = len(model_sq_err), int((model_sq_err < baseline_sq_err).sum())
    return BaselineVerdict(float(rmse), float(baseline_rmse), n, wins, binomial_tail(wins, n, 0.5), split)


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


def judge_result(result: Any) -> ChanceVerdict | BaselineVerdict | None:
    """The verdict for an ``rnnzoo.train`` result (``TrainResult``); None without held-out data.

    Judged on the test split when the run has one (it took no part in
    training or model selection), else on the validation split. A
    regressor's model is run once on that split to get per-sample errors.
    """
    for split in ("test", "val"):
        part = getattr(result.splits, split)
        if part is None or len(part) == 0:
            continue
        if part.task == "classification":
            return chance_verdict(result.metrics[f"{split}_accuracy"], part.y, split)
        model_err, base_err, base_rmse = _regression_errors(result.model, result.splits.train, part)
        return baseline_verdict(model_err, base_err, result.metrics[f"{split}_rmse"], base_rmse, split)
    return None


def _regression_errors(model: Any, train: Any, part: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-sample mean squared error of ``model`` and of the training mean on ``part``; the mean's overall RMSE."""
    import torch

    valid = _valid_steps(train)
    mean = train.y[valid].mean(axis=0) if train.per_step else train.y.mean(axis=0)
    with torch.no_grad():
        pred = np.concatenate([
            model(torch.from_numpy(np.ascontiguousarray(part.x[i:i + 256])),
                  torch.from_numpy(part.lengths[i:i + 256].astype(np.int64))).numpy()
            for i in range(0, len(part), 256)])
    y = part.y
    if part.per_step:
        mask = _valid_steps(part)
        pred = pred[:, : y.shape[1]]
        sq_model, sq_base = ((pred - y) ** 2).mean(axis=2), ((mean - y) ** 2).mean(axis=2)
        counts = mask.sum(axis=1)
        per_model = (sq_model * mask).sum(axis=1) / counts
        per_base = (sq_base * mask).sum(axis=1) / counts
        base_rmse = float(np.sqrt(((mean - y[mask]) ** 2).mean()))
        return per_model, per_base, base_rmse
    per_model, per_base = ((pred - y) ** 2).mean(axis=1), ((mean - y) ** 2).mean(axis=1)
    return per_model, per_base, float(np.sqrt(per_base.mean()))


def _valid_steps(ds: Any) -> np.ndarray:
    return np.arange(ds.x.shape[1])[None, :] < ds.lengths[:, None]
