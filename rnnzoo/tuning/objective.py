"""One trial: sample a configuration from the model's search space, train it, report each epoch to the pruner.

The value is a validation metric only; the test split never reaches a
trial (trials train on the training part of a standard split), so the search
cannot select on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rnnzoo.core.search_space import SearchParam, split_params
from rnnzoo.data.dataset import SequenceDataset

MAXIMIZE = ("val_accuracy", "val_macro_f1")
METRICS = ("val_accuracy", "val_macro_f1", "val_loss", "val_rmse", "val_mae", "val_mse")


def default_metric(task: str) -> str:
    """val_loss for classifiers: on the small validation splits of real sets (13 samples for ItalyPowerDemand)
    accuracy saturates at 1.0 for most configurations and cannot rank them; the loss still can."""
    return "val_loss" if task == "classification" else "val_rmse"


def direction(metric: str) -> str:
    return "maximize" if metric in MAXIMIZE else "minimize"


def suggest(trial: Any, space: Mapping[str, SearchParam]) -> dict[str, Any]:
    """The trial's value for every searched parameter."""
    params: dict[str, Any] = {}
    for name, p in space.items():
        if p.kind == "choice":
            params[name] = trial.suggest_categorical(name, list(p.choices))
        elif p.kind == "int":
            params[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
        else:
            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
    return params


def run_config(model: str, params: Mapping[str, Any], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """``train()`` keywords for one configuration: the fixed settings under the sampled ones."""
    settings, hparams = split_params(params)
    config = {**fixed, **settings}
    config["hparams"] = {**dict(fixed.get("hparams", {})), **hparams}
    return config


@dataclass
class Objective:
    """Picklable (it is sent to worker processes): everything one trial needs.

    ``repeats > 1``: repeated hold-out. The configuration trains ``repeats``
    times, each with the next seed, which carves another validation split
    from the training part (and starts from other weights); the trial's value
    and its ``val_*`` metrics are the means. Why: on a set with 7-13
    validation samples one split's loss ranks configurations mostly by which
    samples it happened to hold out. Only the first run reports to the
    pruner, so a hopeless configuration is still stopped early.
    """

    model: str
    data: SequenceDataset
    space: Mapping[str, SearchParam]
    metric: str
    fixed: dict[str, Any] = field(default_factory=dict)
    repeats: int = 1

    def __call__(self, trial: Any) -> float:
        from rnnzoo.training.trainer import train

        config = run_config(self.model, suggest(trial, self.space), self.fixed)
        runs = []
        for r in range(self.repeats):
            seeded = {**config, "seed": int(config.get("seed", 0)) + r}
            runs.append(train(self.model, self.data, on_epoch=self._pruning(trial) if r == 0 else None, quiet=True,
                              **seeded))
        trial.set_user_attr("epochs_run", sum(len(run.history) for run in runs))
        if any(self.metric not in run.metrics for run in runs):
            raise ValueError(f"the run reported no {self.metric}; it needs a validation split (val_fraction > 0)")
        for key in (k for k in runs[0].metrics if k.startswith("val_")):
            trial.set_user_attr(key, sum(float(run.metrics[key]) for run in runs) / len(runs))
        values = [float(run.metrics[self.metric]) for run in runs]
        if self.repeats > 1:
            trial.set_user_attr("repeat_values", values)
        return sum(values) / len(values)

    def _pruning(self, trial: Any) -> Callable[[dict[str, Any]], None]:
        import optuna

        def report(record: dict[str, Any]) -> None:
            if self.metric in record:
                trial.report(float(record[self.metric]), int(record["epoch"]))
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {record['epoch']}")

        return report
