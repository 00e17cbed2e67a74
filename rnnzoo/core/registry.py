"""The public look-ups over the registry: list, get and build models and datasets by name.

The registry is what :mod:`rnnzoo.core.plugins` collected from every
plugin's hooks; this module only reads it.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rnnzoo.core.checks import did_you_mean, positive_int
from rnnzoo.core.plugins import PluginRecord, catalog
from rnnzoo.core.specs import DatasetSpec, ModelSpec, RuntimeSpec
from rnnzoo.errors import (
    InvalidHyperparameterError,
    PluginError,
    UnknownDatasetError,
    UnknownModelError,
    UnknownRuntimeError,
)

if TYPE_CHECKING:
    import torch

    from rnnzoo.data.dataset import SequenceDataset


def _unknown(kind: str, name: str, known: list[str]) -> str:
    return (
        f"unknown {kind} {name!r}.{did_you_mean(name, known)} Run `rnnzoo list` to see all {len(known)} "
        f"registered {kind}s, or install the plugin that provides it."
    )


def _table(kind: str) -> dict[str, Any]:
    cat = catalog()
    return cat.models if kind == "model" else cat.datasets


def _names(kind: str, pattern: str | list[str], task: str | None) -> list[str]:
    """Registered names of ``kind`` matching shell wildcard(s), optionally one task."""
    names = [n for n, s in _table(kind).items() if task is None or s.task == task]
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def _get(kind: str, name: str, error: type[UnknownModelError]) -> Any:
    """The spec called ``name``; a duplicate names both plugins, an unknown name suggests close ones."""
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


def registered_by(name: str, kind: str = "model") -> PluginRecord:
    """The plugin (distribution, version, in-process or installed) that registered ``name``."""
    spec = _get(kind, name, UnknownModelError if kind == "model" else UnknownDatasetError)
    owner = catalog().owner(kind, spec.name)
    assert owner is not None, "every spec in the catalog has an owner"  # _add() records both together
    return owner


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
        positive_int(arg, value, InvalidHyperparameterError)
    resolved = resolve_hparams(spec, hparams)
    model = spec.build(input_size, output_size, **resolved)
    torch = sys.modules.get("torch")  # a plugin that built a Module has imported it; core never does
    if torch is None or not isinstance(model, torch.nn.Module):
        raise PluginError(f"model {name!r} from {_owner_text('model', name)}: build() returned "
                          f"{type(model).__name__}, not a torch.nn.Module; fix the plugin's build function")
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
    ds = get_dataset_spec(name).load(**kwargs)
    if not all(hasattr(ds, a) for a in ("x", "y", "lengths", "task", "subset")):  # duck-typed: data is a layer up
        raise PluginError(f"dataset {name!r} from {_owner_text('dataset', name)}: load() returned "
                          f"{type(ds).__name__}, not an rnnzoo.SequenceDataset; fix the plugin's load function")
    return ds


def _owner_text(kind: str, name: str) -> str:
    owner = catalog().owner(kind, name)
    return f"{owner.distribution} (plugin {owner.name})" if owner else "an unknown plugin"


def list_runtimes(pattern: str | list[str] = "*", model_format: str | None = "onnx") -> list[str]:
    """Names of registered inference runtimes matching shell wildcard(s), installed or not.

    ``model_format``: only runtimes that load that file format; the default
    ``"onnx"`` is what runs ``model.onnx`` (verify, the runtime matrix, bench),
    ``"tflite"`` is LiteRT's ``model.tflite``, None lists every runtime.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    return sorted(n for n, spec in catalog().runtimes.items() if any(fnmatch.fnmatchcase(n, p) for p in patterns)
                  and (model_format is None or spec.model_format == model_format))


def get_runtime(name: str) -> RuntimeSpec:
    """The registered :class:`RuntimeSpec` called ``name``."""
    catalog().raise_if_duplicate("runtime", name)
    table = catalog().runtimes
    if name not in table:
        raise UnknownRuntimeError(
            f"unknown runtime {name!r}.{did_you_mean(name, sorted(table))} Registered runtimes: "
            f"{', '.join(sorted(table)) or 'none'}; or install the plugin that provides it."
        )
    return table[name]
