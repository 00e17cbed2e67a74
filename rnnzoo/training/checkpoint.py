"""Self-describing checkpoints: safetensors weights + JSON metadata, one file, written atomically.

A checkpoint rebuilds its model through the registry from the file alone:
it stores the model name, build arguments, normalization statistics, label
names, training config, metrics and versions. Nothing is ever unpickled;
optimizer/scheduler/RNG state for resuming is split into tensors (in the
safetensors body) and JSON (in the header).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnzoo._version import __version__
from rnnzoo.core.atomic import atomic_write
from rnnzoo.core.meta import ModelMeta, PluginInfo
from rnnzoo.errors import CheckpointError, DataError, RnnzooError
from rnnzoo.training.normalize import TARGET_BUFFERS, NormalizedModel

_TENSOR = "__tensor__"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (eval mode), its metadata and resume state."""

    model: NormalizedModel
    meta: ModelMeta
    train_state: dict[str, Any] | None = None
    path: Path | None = None


def flatten_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """JSON-able copy of a nested state dict; tensors move into ``tensors``."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten_state(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [flatten_state(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    return obj


def unflatten_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state` (dict keys keep their types, e.g. int param ids)."""
    if isinstance(obj, dict) and _TENSOR in obj:
        return tensors[obj[_TENSOR]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: unflatten_state(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [unflatten_state(v, tensors) for v in obj]
    return obj


def describe(build: dict[str, Any], **facts: Any) -> ModelMeta:
    """The :class:`ModelMeta` of a module built by ``create_model`` (``build`` is its ``rnnzoo_build``).

    The one place metadata is put together, for a trained model (the
    trainer passes dataset, config, metrics...) and for a bare module alike.
    Label or feature names that do not fit the model are a ``DataError`` here.
    """
    from rnnzoo.core.registry import get_spec, registered_by

    spec, owner = get_spec(build["name"]), registered_by(build["name"])
    for key in ("label_names", "feature_names"):
        if facts.get(key) is not None:
            facts[key] = tuple(facts[key])
    try:
        return ModelMeta(
            model=spec.name, task=spec.task, family=spec.family,
            plugin=PluginInfo(owner.distribution, owner.version),
            input_size=build["input_size"], output_size=build["output_size"], hparams=build["hparams"],
            per_step=bool(build["hparams"].get("per_step", False)),
            versions={"rnnzoo": __version__, "torch": torch.__version__}, **facts)
    except ValueError as exc:
        raise DataError(f"cannot describe {spec.name}: {exc}") from exc


def save_checkpoint(
    path: str | Path, model: NormalizedModel, meta: ModelMeta, train_state: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` + ``meta`` (+ resume state) to ``path`` atomically."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"rnnzoo": json.dumps(meta.to_json())}
    if train_state is not None:
        header["train_state"] = json.dumps(flatten_state(train_state, tensors, "train"))
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises several types for bad files
        raise CheckpointError(
            f"{path} is not a readable rnnzoo checkpoint (truncated or corrupt?): {exc}"
        ) from exc
    return tensors, header


def _parse_meta(path: Path, header: dict[str, str]) -> ModelMeta:
    try:
        data = json.loads(header["rnnzoo"])
    except (KeyError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path} has no valid rnnzoo metadata; was it written by rnnzoo?") from exc
    return ModelMeta.from_json(data, str(path))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model through the registry from the checkpoint file alone."""
    from rnnzoo.core.registry import create_model

    path = Path(path)
    tensors, header = _read(path)
    meta = _parse_meta(path, header)
    try:
        inner = create_model(meta.model, input_size=meta.input_size, output_size=meta.output_size, **meta.hparams)
    except (RnnzooError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild model {meta.model!r}: {exc}") from exc
    model = NormalizedModel.identity(inner, meta.input_size)
    _load_weights(path, model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, meta.output_size)
    train_state = _parse_train_state(path, header, tensors)
    return Checkpoint(model=model.eval(), meta=meta, train_state=train_state, path=path)


def _parse_train_state(path: Path, header: dict[str, str], tensors: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    if "train_state" not in header:
        return None
    try:
        state = unflatten_state(json.loads(header["train_state"]), tensors)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: resume state is unreadable ({exc!r}); start a fresh run") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: resume state is not a mapping; start a fresh run")
    return state


def _load_weights(path: Path, model: nn.Module, state: dict[str, torch.Tensor], outputs: int) -> None:
    expected = model.state_dict()
    optional = set(TARGET_BUFFERS)  # a regressor's output scale; absent in classifiers' and older files
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) - optional if expected[k].shape != state[k].shape)
    wrong += sorted(k for k in optional & set(state) if tuple(state[k].shape) not in ((0,), (outputs,)))
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path}: weights do not fit the model named in its metadata (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shape {wrong[:3]}); the file is from another model "
            "or was edited"
        )
    model.load_state_dict(state)
