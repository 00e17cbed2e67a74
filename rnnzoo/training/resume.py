"""Resuming from ``last.safetensors``: refuse another run's checkpoint by name, then restore every piece.

Resuming with other data, model or settings would silently train a
different run, so the checkpoint's identity is compared first and the
differing settings are named in the error.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from rnnzoo.core.meta import ModelMeta
from rnnzoo.errors import CheckpointError
from rnnzoo.training.checkpoint import Checkpoint, load_checkpoint
from rnnzoo.training.state import TrainState

# Settings that may differ between a run and its resume: they do not change what the
# next epoch computes (more epochs, another patience, quieter logs, another device).
_RESUME_MAY_CHANGE = {"epochs", "patience", "restore_best", "quiet", "device", "out_dir", "resume"}
_SAME_RUN = ("model", "input_size", "output_size", "hparams", "per_step", "dataset", "data_sha256")


def resume(path: Path, net: nn.Module, state: TrainState, meta: ModelMeta) -> None:
    """Load ``path`` into ``net`` and ``state``; ``meta`` is this run's checkpoint metadata, to compare."""
    ckpt = load_checkpoint(path)
    check_same_run(path, ckpt, meta)
    assert ckpt.train_state is not None
    try:
        net.load_state_dict(ckpt.model.state_dict())
        state.load(ckpt.train_state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: resume state does not fit this run ({exc}); start a fresh out_dir") from exc


def check_same_run(path: Path, ckpt: Checkpoint, meta: ModelMeta) -> None:
    """Raise CheckpointError naming what differs, unless ``ckpt`` is a resumable checkpoint of this run."""
    if ckpt.train_state is None:
        raise CheckpointError(f"{path} has no resume state (it is a final model, not last.safetensors)")
    mine = json.loads(json.dumps(meta.to_json(), default=str))  # as it would read back: tuples become lists
    theirs = ckpt.meta.to_json()
    diffs = [k for k in _SAME_RUN if theirs.get(k) != mine[k]]
    old_cfg = theirs.get("config") or {}
    diffs += [f"config.{k}" for k, v in mine["config"].items()
              if k not in _RESUME_MAY_CHANGE and k in old_cfg and old_cfg[k] != v]
    if diffs:
        raise CheckpointError(
            f"{path} belongs to another run: {', '.join(diffs)} differ. Resume with the same model, data "
            "and settings, or train into a fresh out_dir"
        )
