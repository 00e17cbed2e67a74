"""REPORT.md pieces that judge the models: the leaderboard of a ``--data`` run and the chance-level verdicts.

Why apart from run.py: the ranking rule (validation metric only: the test
metric is shown beside it, never used to order) and the chance rule are
what a reader must be able to trust, so they live in one small place.
"""

from __future__ import annotations

import math
from typing import Any

from rnnzoo.zoo.chance import ALPHA
from rnnzoo.zoo.datasource import ZooData

CHANCE_RULE = (
    "Chance level: a classifier is *at chance* when its accuracy is not distinguishable from always answering "
    "the most frequent class of the judged split (the test split when the run has one, else validation): "
    "one-sided exact binomial test of k correct out of n against the majority-class rate, above chance only "
    f"when p < {ALPHA:g}. A regressor is *no better than the mean* unless it is closer than always predicting "
    f"the training mean on significantly more than half of the judged samples (sign test, p < {ALPHA:g}). "
    f"*Too few samples to tell*: even a perfect record would not reach p < {ALPHA:g}. "
    "Such a model is exported and verified like any other, but its row does not say pass."
)


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def at_chance(row: Any) -> bool:
    return bool(row.chance and row.chance["at_chance"])


def result_cell(row: Any) -> str:
    """pass, **FAIL** and why, or the verdict for a model that exported fine but learned nothing measurable."""
    if not row.passed:
        return f"**FAIL** {row.error}"
    if at_chance(row):
        baseline = "the majority class" if row.task == "classification" else "always predicting the training mean"
        return f"**{row.chance['label']}** (exported and verified, but no better than {baseline})"
    return "pass"


def chance_cell(row: Any) -> str:
    """The verdict in a few words, with the numbers behind it (``-`` for rows never judged)."""
    c = row.chance
    if not c:
        return "-"
    label = f"**{c['label']}**" if c["at_chance"] else c["label"]
    return f"{label} ({c['numbers']})"


def chance_lines(rows: list[Any]) -> list[str]:
    """The report's chance-level summary (nothing when no classifier was judged)."""
    judged = [r for r in rows if r.chance]
    if not judged:
        return []
    flagged = [r.model for r in judged if at_chance(r)]
    head = (f"**{len(flagged)} of {len(judged)} models at chance level:** {', '.join(flagged)}."
            if flagged else f"No model at chance level ({len(judged)} judged).")
    return [head, "", CHANCE_RULE, ""]


def ranked(rows: list[Any]) -> list[Any]:
    """Best validation metric first (accuracy: highest, RMSE: lowest), ties by lower validation loss.

    Rows without a metric come last, in registry order. Test metrics never enter the order.
    """
    def key(r: Any) -> tuple[int, float, float]:
        if _missing(r.value):
            return (1, 0.0, 0.0)
        loss = math.inf if _missing(r.val_loss) else r.val_loss
        return (0, -r.value if r.metric.endswith("accuracy") else r.value, loss)

    return sorted(rows, key=key)


def _missing(v: float | None) -> bool:
    return v is None or math.isnan(v)


def leaderboard_lines(rows: list[Any], data: ZooData, skipped: dict[str, str]) -> list[str]:
    """The ``## Leaderboard`` section of a ``--data`` run."""
    metric = next((r.metric.removeprefix("val_") for r in rows if r.metric), "metric")
    test = "test " + metric if data.test_samples or any(r.test_value is not None for r in rows) else None
    val_n = max((r.val_samples for r in rows), default=0)
    small = "; a split this small makes a sample or two of difference noise" if 0 < val_n < 50 else ""
    lines = [
        "## Leaderboard", "",
        f"Every model that fits {data.describe()}, ranked by validation {metric} "
        f"({'higher' if metric == 'accuracy' else 'lower'} is better; ties: lower validation loss first), measured "
        f"on {val_n} samples carved from the training part{small}. "
        + (f"The {test} is shown beside it and never used for ranking, early stopping or selection. "
           if test else "This data has no test part (pass --test FILE or use a dataset with a standard split). ")
        + "Latency: onnxruntime median, batch 16 x 50 steps, 1 thread.", "",
        f"| rank | model | val {metric} | {test or 'test'} | vs chance | train s | params | ONNX KiB "
        "| ORT ms | result |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for i, r in enumerate(ranked(rows), 1):
        lines.append(f"| {i} | `{r.model}` | {_fmt(r.value, '.3f')} | {_fmt(r.test_value, '.3f')} | {chance_cell(r)} "
                     f"| {r.train_s:.1f} | {r.params:,} | {r.onnx_kb:.1f} | {_fmt(r.onnx_ms, '.3g')} "
                     f"| {result_cell(r)} |")
    if skipped:
        lines += ["", "Not run (they do not fit this data): "
                  + "; ".join(f"`{n}` ({why})" for n, why in skipped.items()) + "."]
    return [*lines, ""]


def leaderboard_json(rows: list[Any]) -> list[dict[str, Any]]:
    """index.json's ``leaderboard``: the ranked rows' key figures."""
    return [{"rank": i, "model": r.model, "metric": r.metric, "value": r.value, "test_value": r.test_value,
             "at_chance": at_chance(r), "train_s": r.train_s, "params": r.params, "onnx_kb": r.onnx_kb,
             "onnx_ms": r.onnx_ms, "passed": r.passed}
            for i, r in enumerate(ranked(rows), 1)]
