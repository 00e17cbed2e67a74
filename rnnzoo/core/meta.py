"""What a checkpoint says about its model: one typed record, written and read in one place each.

A checkpoint header and an export card both carry this record. It used to
be a dict built in two places with different keys and read by string key
all over the code base; as a frozen dataclass the type checker sees every
field, and :meth:`ModelMeta.from_json` is the single place where an edited
or foreign header is refused, by field name, before anything is built from it.
Torch-free: the deploy layer reads it from export cards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rnnzoo.core.checks import is_positive_int
from rnnzoo.core.specs import NAME_PATTERN, TASKS
from rnnzoo.errors import CheckpointError, RnnzooError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PluginInfo:
    """The distribution that registered the model, so a reader knows what to install."""

    distribution: str = "?"
    version: str = "?"


@dataclass(frozen=True)
class ModelMeta:
    """The model behind a set of weights: enough to rebuild it through the registry and to serve it.

    ``label_names``/``feature_names`` are validated against the sizes here,
    at checkpoint and export time, so a mismatch never reaches ``predict``.
    """

    model: str
    task: str
    input_size: int
    output_size: int
    hparams: Mapping[str, Any] = field(default_factory=dict)
    family: str = "custom"
    plugin: PluginInfo = field(default_factory=PluginInfo)
    per_step: bool = False
    dataset: str | None = None
    test_dataset: str | None = None  # where the test_* metrics were measured; never used to pick weights
    label_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    max_train_length: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    epochs_run: int | None = None
    world_size: int = 1
    metrics: Mapping[str, float] = field(default_factory=dict)
    data_sha256: str | None = None  # of the training data's arrays: resume refuses other data by the same name
    versions: Mapping[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    def replace(self, **changes: Any) -> ModelMeta:
        """A copy with some fields changed (``metrics`` after the final evaluation, say)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in checkpoint headers and export cards (key order is stable)."""
        out = dataclasses.asdict(self)
        for key in ("label_names", "feature_names"):
            out[key] = list(out[key]) if out[key] is not None else None
        return out

    @classmethod
    def from_json(cls, data: object, where: str, error: type[RnnzooError] = CheckpointError) -> ModelMeta:
        """Validate and build; anything wrong is ``error`` naming ``where`` and the field."""
        if not isinstance(data, dict):
            raise error(f"{where}: rnnzoo metadata is not a JSON object; the file was edited")
        missing = [k for k in ("format_version", "model", "task", "input_size", "output_size", "hparams")
                   if k not in data]
        if missing:
            raise error(f"{where}: metadata is missing {', '.join(missing)}; the file was edited")
        version = data["format_version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise error(f"{where}: format_version {version!r} is not a valid format; the file was edited")
        if version > FORMAT_VERSION:
            raise error(f"{where} uses checkpoint format {version}; this rnnzoo reads up to {FORMAT_VERSION}. "
                        "Upgrade rnnzoo.")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        try:
            values["plugin"] = PluginInfo(**values.get("plugin") or {})
            for key in ("label_names", "feature_names"):
                if isinstance(values.get(key), list):
                    values[key] = tuple(values[key])
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise error(f"{where}: metadata {exc}; the file was edited") from exc


def _problems(meta: ModelMeta) -> list[str]:
    """Every field of the wrong type or out of range, named (an edited header must fail here, not deep inside)."""
    bad = []
    if not isinstance(meta.model, str) or not NAME_PATTERN.fullmatch(meta.model):
        bad.append(f"model {meta.model!r} is not a model name")
    if meta.task not in TASKS:
        bad.append(f"task {meta.task!r} is not one of {TASKS}")
    bad += [f"{k} of the wrong type (got {getattr(meta, k)!r}, need a positive int)"
            for k in ("input_size", "output_size", "world_size") if not is_positive_int(getattr(meta, k))]
    if not isinstance(meta.hparams, Mapping):
        bad.append(f"hparams of the wrong type (got {type(meta.hparams).__name__}, need a mapping)")
    if not isinstance(meta.config, Mapping):
        bad.append(f"config of the wrong type (got {type(meta.config).__name__}, need a mapping)")
    bad += [f"{k} of the wrong type (got {getattr(meta, k)!r}, need text)"
            for k in ("dataset", "test_dataset", "data_sha256")
            if getattr(meta, k) is not None and not isinstance(getattr(meta, k), str)]
    if meta.epochs_run is not None and (isinstance(meta.epochs_run, bool) or not isinstance(meta.epochs_run, int)):
        bad.append(f"epochs_run of the wrong type (got {meta.epochs_run!r}, need an int)")
    if not isinstance(meta.per_step, bool):
        bad.append(f"per_step of the wrong type (got {meta.per_step!r}, need true or false)")
    bad += _name_problems("label_names", meta.label_names, meta.output_size if meta.task == "classification" else None)
    bad += _name_problems("feature_names", meta.feature_names, meta.input_size)
    if not isinstance(meta.metrics, Mapping) or not all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in meta.metrics.values()):
        bad.append("metrics must map names to numbers")
    return bad


def _name_problems(key: str, names: object, size: object) -> list[str]:
    if names is None:
        return []
    if not isinstance(names, tuple) or not all(isinstance(n, str) and n for n in names):
        return [f"{key} must be a list of non-empty strings, got {names!r}"]
    if key == "label_names" and len(set(names)) != len(names):
        return [f"{key} has duplicates: {list(names)}"]
    if isinstance(size, int) and len(names) != size:
        what = "classes" if key == "label_names" else "input features"
        return [f"{key} has {len(names)} names for {size} {what}"]
    return []
