"""``rnnzoo.tune``: search a model's hyperparameters on a dataset, then keep the best as a normal run.

Steps, each a finished artifact for the next: the study (Optuna storage,
shared by every worker and machine) -> ``trials.csv`` and ``tuning.png`` ->
the best configuration retrained into ``best/`` (a normal checkpoint, with
test metrics when the data has a test split) -> ``export/`` with parity,
like any other run. Trials are selected on validation only.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnnzoo.core.atomic import atomic_write
from rnnzoo.core.checks import positive_int
from rnnzoo.core.registry import get_spec
from rnnzoo.core.search_space import SearchParam, check_search_space
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.errors import InvalidHyperparameterError, MissingDependencyError
from rnnzoo.tuning.objective import METRICS, Objective, default_metric, direction, run_config
from rnnzoo.tuning.study import drain, load_or_create, top_up

PRUNERS = ("median", "hyperband", "none")


@dataclass
class TuneResult:
    """What a search found; ``test_metrics`` are the best configuration's only (None without a test split).

    ``best_metrics``: every validation metric of the best trial (``best_value`` is its ``metric``).
    """

    study: str
    storage: str
    metric: str
    best_value: float
    best_params: dict[str, Any]
    best_trial: int
    best_metrics: dict[str, float]
    trials: list[dict[str, Any]]
    folder: Path
    checkpoint: Path | None
    export: Path | None
    test_metrics: dict[str, float] | None
    seconds: float


@dataclass(frozen=True)
class _Plan:
    """Everything a worker process needs (picklable)."""

    storage: str
    study: str
    objective: Objective
    seed: int
    pruner: str
    startup_trials: int
    threads: int
    quiet: bool
    warmup: int = 2  # epochs before the pruner may stop a trial


def tune(model: str, data: str | Path | SequenceDataset, *, test_data: str | Path | SequenceDataset | None = None,
         trials: int = 20, jobs: int = 1, storage: str | None = None, study: str | None = None,
         out: str | Path | None = None, seed: int = 0, space: Mapping[str, SearchParam] | None = None,
         metric: str | None = None, pruner: str = "median", export: bool = True, keep_best: bool = True,
         quiet: bool = False, repeats: int = 1, **config: Any) -> TuneResult:
    """Search ``model``'s search space on ``data`` with ``trials`` trials in total, ``jobs`` processes here.

    ``storage``: a journal file path (default ``OUT/study.journal``) or an RDB
    URL; several commands on several machines given the same ``storage`` and
    ``study`` share one study, and re-running resumes it (finished trials are
    kept, the budget is topped up to ``trials``). ``config``: fixed trainer
    settings (e.g. ``epochs``) under the searched ones. ``keep_best=False``
    only searches (no retraining, no export: for callers with their own
    pipeline, such as ``rnnzoo zoo --tune``). ``repeats``: runs per trial on
    other validation splits, averaged (repeated hold-out, see :class:`Objective`).
    """
    _require_optuna()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial instead (quiet: none)
    spec = get_spec(model)
    space = _space(spec.name, space if space is not None else spec.search_space, spec.default_hparams)
    positive_int("trials", trials, InvalidHyperparameterError)
    positive_int("jobs", jobs, InvalidHyperparameterError)
    metric = _metric(metric, spec.task)
    if pruner not in PRUNERS:
        raise InvalidHyperparameterError(f"pruner must be one of {PRUNERS}, got {pruner!r}")
    from rnnzoo.data.pairing import train_part
    from rnnzoo.training.config import make_config
    from rnnzoo.training.trainer import resolve_data

    make_config({**config, "seed": seed})  # a misspelled setting fails here, not in every trial
    ds = resolve_data(data, spec.task, test_data)
    folder = Path(out) if out is not None else Path("runs") / "tune" / spec.name
    storage = storage or str(folder / "study.journal")
    name = study or f"{spec.name}-{_slug(ds.name)}"
    fixed = {**config, "seed": seed}
    train = train_part(ds)
    cfg = make_config({**spec.train_defaults, **fixed})
    positive_int("repeats", repeats, InvalidHyperparameterError)
    plan = _Plan(storage, name, Objective(spec.name, train, space, metric, fixed, repeats), seed, pruner,
                 max(3, min(10, trials // 3)), max(1, (os.cpu_count() or 1) // jobs), quiet,
                 pruning_warmup(cfg, train))
    start = time.perf_counter()
    handle = load_or_create(storage, name, direction(metric))
    top_up(storage, handle, trials)
    _run_workers(plan, jobs)
    return _finish(plan, ds, folder, export, keep_best, quiet, time.perf_counter() - start)


def _require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("rnnzoo tune needs Optuna: pip install 'rnnzoo[tune]'") from exc


def _space(model: str, space: Mapping[str, SearchParam] | None, hparams: Mapping[str, Any]) -> dict[str, SearchParam]:
    if space is None:
        raise InvalidHyperparameterError(f"{model} declares no search_space; pass space={{name: SearchParam...}}")
    check_search_space(model, space, hparams)
    return dict(space)


def _metric(metric: str | None, task: str) -> str:
    metric = metric or default_metric(task)
    allowed = [m for m in METRICS if task == "classification" or m not in ("val_accuracy", "val_macro_f1")]
    allowed = [m for m in allowed if task == "regression" or m not in ("val_rmse", "val_mae", "val_mse")]
    if metric not in allowed:
        raise InvalidHyperparameterError(f"metric {metric!r} is not one of {allowed} for a {task} model")
    return metric


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "data"


def _run_workers(plan: _Plan, jobs: int) -> None:
    """``jobs`` worker processes draining the study (one: in this process)."""
    if jobs == 1:
        _work(plan, 0)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in [pool.submit(_work, plan, i) for i in range(jobs)]:
            future.result()


def _work(plan: _Plan, worker: int) -> int:
    """One worker: claim and run trials until the study has none waiting."""
    import optuna
    import torch

    torch.set_num_threads(plan.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from rnnzoo.tuning.storage import open_storage

    storage = open_storage(plan.storage)
    sampler = optuna.samplers.TPESampler(seed=plan.seed + worker, n_startup_trials=plan.startup_trials)
    pruner = _pruner(plan.pruner, plan.warmup)

    def study() -> Any:
        return optuna.load_study(study_name=plan.study, storage=storage, sampler=sampler, pruner=pruner)

    return drain(study, plan.objective, None if plan.quiet else _log_trial)


def pruning_warmup(cfg: Any, train: SequenceDataset) -> int:
    """Epochs a trial runs before it may be pruned: a quarter of the run the model's defaults give this data.

    Measured: with a fixed 2-epoch warm-up the median pruner stopped 16-17 of
    20 trials of ``lstm_fcn_classifier`` on ArrowHead, ItalyPowerDemand and
    JapaneseVowels (7-13 validation samples): an early validation loss on so
    few samples says little about where a run ends.
    """
    from rnnzoo.training.config import resolve_epochs

    return max(2, resolve_epochs(cfg, train) // 4)


def _pruner(name: str, warmup: int) -> Any:
    """Median: stop a trial whose epoch-k value is worse than the median of earlier trials at epoch k."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup)
    if name == "hyperband":  # max_resource "auto": the epochs the first finished trial ran
        return optuna.pruners.HyperbandPruner(min_resource=warmup)
    return optuna.pruners.NopPruner()


def _log_trial(trial: Any) -> None:
    value = "" if trial.value is None else f" value={trial.value:.4g}"
    print(f"trial {trial.number}: {trial.state.name.lower()}{value} {trial.params}", file=sys.stderr, flush=True)


def _finish(plan: _Plan, ds: SequenceDataset, folder: Path, export: bool, keep_best: bool, quiet: bool,
            seconds: float) -> TuneResult:
    import optuna

    from rnnzoo.tuning.report import importances, plot_study, trial_rows, write_trials_csv

    handle = optuna.load_study(study_name=plan.study, storage=_storage(plan.storage))
    rows = trial_rows(handle)
    folder.mkdir(parents=True, exist_ok=True)
    write_trials_csv(rows, folder / "trials.csv")
    metric = plan.objective.metric
    plot_study(rows, importances(handle), metric, direction(metric) == "maximize", folder / "tuning.png")
    try:
        best = handle.best_trial
    except ValueError:
        errors = sorted({r["error"] for r in rows if r["error"]})
        raise InvalidHyperparameterError(f"study {plan.study}: no trial completed; errors: {errors or 'none'} "
                                         f"(see {folder / 'trials.csv'})") from None
    checkpoint, exported, test = _keep_best(plan.objective, best.params, ds, folder, export, quiet) if keep_best \
        else (None, None, None)
    result = TuneResult(plan.study, plan.storage, metric, float(best.value or 0.0), dict(best.params), best.number,
                        {k: v for k, v in best.user_attrs.items() if k.startswith("val_")}, rows, folder,
                        checkpoint, exported, test, round(seconds, 2))
    summary = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items() if k != "trials"}
    atomic_write(folder / "tune.json", lambda p: p.write_text(json.dumps(summary, indent=1), encoding="utf-8"))
    return result


def _storage(url: str) -> Any:
    from rnnzoo.tuning.storage import open_storage

    return open_storage(url)


def _keep_best(objective: Objective, params: Mapping[str, Any], ds: SequenceDataset, folder: Path, export: bool,
               quiet: bool) -> tuple[Path | None, Path | None, dict[str, float] | None]:
    """Retrain the best configuration as a normal run in ``best/`` (now with the test split) and export it."""
    from rnnzoo.training.trainer import train

    config = run_config(objective.model, params, objective.fixed)
    result = train(objective.model, ds, out_dir=str(folder / "best"), quiet=quiet, **config)
    exported = None
    if export:
        from rnnzoo.exporting.exporter import export as export_run

        exported = export_run(result, folder / "export", data=result.splits.val).folder
    return result.checkpoint, exported, result.test_metrics


def tuned_settings(model: str, data: str | Path | SequenceDataset, *, trials: int, out: str | Path,
                   test_data: str | Path | SequenceDataset | None = None, seed: int = 0,
                   **config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A search-only study in ``out``: (the best parameters, the ``train()`` keywords that apply them).

    ``({}, {})`` when the model declares no search space, so a caller running
    many models (``rnnzoo zoo --tune``) trains those with their defaults.
    """
    if get_spec(model).search_space is None:
        return {}, {}
    result = tune(model, data, test_data=test_data, trials=trials, out=out, seed=seed, keep_best=False, quiet=True,
                  **config)
    return result.best_params, run_config(model, result.best_params, {})
