"""What a study leaves next to the best model: ``trials.csv`` and ``tuning.png``.

The figure shows the optimization history (each trial's value, pruned ones
marked, and the best so far) and each parameter's importance (Optuna's
PED-ANOVA, which needs no scikit-learn), so a user sees both whether more
trials would help and which knobs mattered on their data.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Any

from rnnzoo.core.atomic import atomic_write


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial, by number: state, value, parameters, epochs run, error."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        rows.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                     "seconds": None if seconds is None else round(seconds, 2),
                     "epochs_run": t.user_attrs.get("epochs_run", len(t.intermediate_values) or None),
                     **{k: v for k, v in t.user_attrs.items() if k.startswith("val_")},
                     **{f"param_{k}": v for k, v in t.params.items()}, "error": t.user_attrs.get("error", "")})
    return rows


def write_trials_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda p: p.write_text(buf.getvalue(), encoding="utf-8"))
    return path


def importances(study: Any) -> dict[str, float]:
    """Parameter importances from the finished trials ({} when there are too few to say)."""
    import optuna
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 3:
        return {}
    try:
        with warnings.catch_warnings():  # experimental-API and "all trials alike" notices: the figure says enough
            warnings.simplefilter("ignore")
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (ValueError, RuntimeError):  # e.g. every trial scored the same
        return {}


def plot_study(rows: list[dict[str, Any]], imp: dict[str, float], metric: str, maximize: bool,
               path: Path) -> Path | None:
    """tuning.png (None without matplotlib: ``pip install 'rnnzoo[plot]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (hist, bars) = plt.subplots(1, 2, figsize=(11, 4))
    _history(hist, rows, metric, maximize)
    names = sorted(imp, key=imp.__getitem__)
    bars.barh(names, [imp[n] for n in names], color="tab:blue")
    bars.set_title("parameter importance (PED-ANOVA)" if imp else "importance: too few complete trials")
    bars.set_xlabel("importance")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)
    return path


def _history(ax: Any, rows: list[dict[str, Any]], metric: str, maximize: bool) -> None:
    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    pruned = [r for r in rows if r["state"] == "pruned" and r["value"] is not None]
    ax.scatter([r["number"] for r in done], [r["value"] for r in done], label="complete", color="tab:blue")
    ax.scatter([r["number"] for r in pruned], [r["value"] for r in pruned], label="pruned (last epoch)",
               marker="x", color="tab:gray")
    best, xs, ys = -math.inf if maximize else math.inf, [], []
    for r in sorted(done, key=lambda r: r["number"]):
        best = max(best, r["value"]) if maximize else min(best, r["value"])
        xs.append(r["number"])
        ys.append(best)
    ax.step(xs, ys, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("optimization history")
    ax.legend()
