"""What each model of a zoo run trains on: the user's data (``--data``), or each model's default.

Why a separate step before any training: the user's data decides which
models can run at all (a regression file leaves the classifiers out, per-step
targets leave out models without a per-step mode), and a bad file or a
missing package should be one error before the first model, not the same
error in every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnzoo.core.registry import get_spec, list_datasets
from rnnzoo.core.specs import TASKS, ModelSpec
from rnnzoo.errors import DataError

# The built-in generated dataset a model trains on when its spec names no default_dataset.
TASK_DEFAULT_DATASETS: dict[str, str] = {"classification": "sines", "regression": "next_value"}

_UNDECLARED_TASK = (".npz", ".csv")  # file types that do not say their task (a .ts file does)


@dataclass(frozen=True)
class ZooData:
    """The data of a ``--data`` run, checked once in the parent process; picklable for the workers.

    ``source`` is a registered dataset name or a file path (workers load it
    themselves), ``test`` an optional file holding the test part.
    """

    source: str
    task: str
    per_step: bool
    name: str
    test: str | None = None
    samples: int = 0
    test_samples: int = 0  # of ``samples``: the test part (--test file, standard split or _TEST.ts pair)
    tune_trials: int = 0  # zoo --tune: each model's search on this data before its run (0: none)

    def describe(self) -> str:
        kind = f"{self.task}{', per-step targets' if self.per_step else ''}"
        where = f" from {self.test}" if self.test else ""
        split = f", {self.test_samples} of them test{where}" if self.test_samples else ", no test part"
        return f"{self.name} ({kind}, {self.samples} samples{split})"


def describe_data(source: str | Path, test: str | Path | None = None, task: str | None = None) -> ZooData:
    """Load ``source`` (and ``test``) once and say what it is; DataError when they cannot be used.

    The same :func:`~rnnzoo.training.trainer.resolve_data` the trainer calls,
    so a mismatched test file (task, features, classes) fails here, once.
    """
    from rnnzoo.training.trainer import resolve_data

    text = str(source)
    if task is not None and task not in TASKS:
        raise DataError(f"task must be one of {TASKS}, got {task!r}")
    if text not in list_datasets() and Path(text).suffix.lower() in _UNDECLARED_TASK and task is None:
        raise DataError(f"{text}: {Path(text).suffix} files do not declare their task; pass --task classification "
                        "or --task regression (API: task=)")
    ds = resolve_data(text, task, test)
    if task is not None and ds.task != task:
        raise DataError(f"{text} is a {ds.task} dataset, but task={task!r} was asked")
    name = text if text in list_datasets() else Path(text).name
    test_samples = int((ds.split == "test").sum()) if ds.split is not None else 0
    return ZooData(text, ds.task, ds.per_step, name, str(test) if test is not None else None, len(ds), test_samples)


def unfit_reason(spec: ModelSpec, data: ZooData) -> str | None:
    """Why the model cannot train on ``data`` (None: it can)."""
    if spec.task != data.task:
        return f"a {spec.task} model, the data is {data.task}"
    if data.per_step and not spec.supports_per_step:
        return "no per-step mode, the data has a target per step"
    return None


def split_by_fit(names: list[str], data: ZooData) -> tuple[list[str], dict[str, str]]:
    """The models that fit ``data`` (registry order) and, for the others, why not."""
    fit, skipped = [], {}
    for name in names:
        reason = unfit_reason(get_spec(name), data)
        if reason is None:
            fit.append(name)
        else:
            skipped[name] = reason
    if not fit:
        raise DataError(f"no model matching the pattern fits {data.describe()}: "
                        + "; ".join(f"{n}: {why}" for n, why in skipped.items()))
    return fit, skipped


def default_dataset(spec: ModelSpec) -> str:
    """The model's own default dataset, else the built-in one for its task (a plugin may declare none)."""
    return spec.default_dataset or TASK_DEFAULT_DATASETS[spec.task]
