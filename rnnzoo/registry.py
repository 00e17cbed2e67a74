"""Model and dataset specs, and the public look-ups over the registry.

A spec is the whole contract between a plugin and the rest of rnnzoo: the
trainer, exporter and parity check read everything they need from it, so
none of them ever special-cases a model family.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rnnzoo.errors import (
    InvalidHyperparameterError,
    PluginError,
    UnknownDatasetError,
    UnknownModelError,
)

if TYPE_CHECKING:
    import torch

    from rnnzoo.data.dataset import SequenceDataset

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")
_NAME = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class Tolerance:
    """Parity tolerance: |onnx - torch| <= atol + rtol * |torch|, element-wise."""

    atol: float = 1e-4
    rtol: float = 1e-3


def _check_common(kind: str, name: object, task: object, description: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(f"{kind} name {name!r} is invalid: use lowercase [a-z0-9_]+")
    if task not in TASKS:
        raise PluginError(f"{kind} {name!r}: task {task!r} is not one of {TASKS}")
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        raise PluginError(f"{kind} {name!r}: description must be one non-empty line")


@dataclass(frozen=True)
class ModelSpec:
    """One registrable model.

    ``build(input_size, output_size, **hparams)`` returns a ``torch.nn.Module``
    whose forward is ``model(x, lengths=None)``; see the README's plugin
    contract. ``supports_per_step`` means ``build`` accepts ``per_step=True``
    and then returns ``[batch, time, output_size]`` (regression only).
    ``train_defaults`` are trainer settings (lr, epochs, batch_size…) that
    suit this model; ``rnnzoo.train`` applies them under the user's own.
    ``expected_failures`` maps conformance-check names to the reason they are
    known to fail, so the kit reports them as xfail rather than errors.
    """

    name: str
    task: Task
    build: Callable[..., torch.nn.Module]
    description: str
    family: str = "custom"
    default_hparams: Mapping[str, Any] = field(default_factory=dict)
    default_dataset: str | None = None
    train_defaults: Mapping[str, Any] = field(default_factory=dict)
    supports_per_step: bool = False
    supports_streaming: bool = False
    tolerance: Tolerance = field(default_factory=Tolerance)
    expected_failures: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_common("model", self.name, self.task, self.description)
        if not callable(self.build):
            raise PluginError(f"model {self.name!r}: build must be callable, got {self.build!r}")
        if not isinstance(self.tolerance, Tolerance):
            raise PluginError(f"model {self.name!r}: tolerance must be rnnzoo.Tolerance")
        if self.supports_per_step and self.task != "regression":
            raise PluginError(f"model {self.name!r}: per-step output is for regressors only")


@dataclass(frozen=True)
class DatasetSpec:
    """One registrable dataset; ``load(**kwargs)`` returns a SequenceDataset.

    ``per_step`` says the targets are per time step (``[N, T, outputs]``).
    """

    name: str
    task: Task
    load: Callable[..., SequenceDataset]
    description: str
    per_step: bool = False

    def __post_init__(self) -> None:
        _check_common("dataset", self.name, self.task, self.description)
        if not callable(self.load):
            raise PluginError(f"dataset {self.name!r}: load must be callable")


def _unknown(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return (
        f"unknown {kind} {name!r}.{hint} Run `rnnzoo list` to see all {len(known)} "
        f"registered {kind}s, or install the plugin that provides it."
    )


def _table(kind: str) -> dict[str, Any]:
    from rnnzoo.plugins import catalog

    cat = catalog()
    return cat.models if kind == "model" else cat.datasets


def _names(kind: str, pattern: str | list[str], task: str | None) -> list[str]:
    """Registered names of ``kind`` matching shell wildcard(s), optionally one task."""
    names = [n for n, s in _table(kind).items() if task is None or s.task == task]
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def _get(kind: str, name: str, error: type[UnknownModelError]) -> Any:
    """The spec called ``name``; a duplicate names both plugins, an unknown name suggests close ones."""
    from rnnzoo.plugins import catalog

    catalog().raise_if_duplicate(kind, name)
    table = _table(kind)
    if name not in table:
        raise error(_unknown(kind, name, sorted(table)))
    return table[name]


def list_models(pattern: str | list[str] = "*", task: str | None = None) -> list[str]:
    """Names of registered models matching shell wildcard(s), optionally one task."""
    return _names("model", pattern, task)


def get_spec(name: str) -> ModelSpec:
    """The registered :class:`ModelSpec` called ``name``."""
    spec: ModelSpec = _get("model", name, UnknownModelError)
    return spec


def resolve_hparams(spec: ModelSpec, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``hparams``; unknown keys are refused by name."""
    allowed = set(spec.default_hparams) | ({"per_step"} if spec.supports_per_step else set())
    unknown = sorted(set(hparams) - allowed)
    if unknown:
        raise InvalidHyperparameterError(
            f"model {spec.name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(sorted(allowed))}"
        )
    return {**spec.default_hparams, **hparams}


def create_model(name: str, *, input_size: int, output_size: int, **hparams: Any) -> torch.nn.Module:
    """Build a registered model by name (timm-style)."""
    spec = get_spec(name)
    for arg, value in (("input_size", input_size), ("output_size", output_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidHyperparameterError(f"{arg} must be a positive int, got {value!r}")
    resolved = resolve_hparams(spec, hparams)
    model = spec.build(input_size, output_size, **resolved)
    # What a checkpoint needs to rebuild this exact module through the registry.
    setattr(model, "rnnzoo_build", {  # noqa: B010
        "name": name, "input_size": input_size, "output_size": output_size, "hparams": resolved,
    })
    return model


def list_datasets(pattern: str | list[str] = "*", task: str | None = None) -> list[str]:
    """Names of registered datasets matching shell wildcard(s), optionally one task."""
    return _names("dataset", pattern, task)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The registered :class:`DatasetSpec` called ``name``."""
    spec: DatasetSpec = _get("dataset", name, UnknownDatasetError)
    return spec


def load_dataset(name: str, **kwargs: Any) -> SequenceDataset:
    """Load (generate or read) a registered dataset by name."""
    return get_dataset_spec(name).load(**kwargs)
