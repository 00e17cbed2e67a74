"""The common trainer: any registered model, any SequenceDataset; the task picks loss and metrics.

It knows nothing about model families. Guards recurrent nets need are on by
default: gradient-norm clipping, early stopping with restore-best, seeded
runs, and an atomic ``last.safetensors`` after every epoch to resume from.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnzoo._version import __version__
from rnnzoo.core.atomic import remove_stale_temps
from rnnzoo.core.registry import create_model, get_spec, registered_by
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.data.split import Splits, split_dataset
from rnnzoo.errors import CheckpointError, DataError, InvalidHyperparameterError
from rnnzoo.training.batching import batch_indices, to_tensors
from rnnzoo.training.checkpoint import load_checkpoint, save_checkpoint
from rnnzoo.training.config import OPTIMIZERS, TrainConfig, class_weights, make_config, make_scheduler
from rnnzoo.training.distributed import Distributed, close, from_env
from rnnzoo.training.metrics import MetricAccumulator, make_loss
from rnnzoo.training.normalize import NormalizedModel, fit_scaler


@dataclass
class TrainResult:
    """The trained model (best epoch, eval mode) and everything measured about it."""

    model: NormalizedModel
    meta: dict[str, Any]
    history: list[dict[str, Any]]
    metrics: dict[str, float]
    splits: Splits
    checkpoint: Path | None = None


def train(model_or_name: str | nn.Module, data: str | Path | SequenceDataset, **config: Any) -> TrainResult:
    """Train a registered model (by name, or built with ``create_model``) on ``data``.

    ``data`` is a registered dataset name, a file (.npz/.csv/.ts) or a
    SequenceDataset. ``config`` keys are the fields of :class:`TrainConfig`.
    """
    task = None
    if isinstance(model_or_name, str):
        spec = get_spec(model_or_name)
        config, task = {**spec.train_defaults, **config}, spec.task
    cfg = make_config(config)
    ds = resolve_data(data, task)
    splits = split_dataset(ds, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    dist = from_env(cfg.device)  # launched by torchrun with several workers?
    try:
        if dist is not None:
            cfg.device = dist.device(cfg.device)
        torch.manual_seed(cfg.seed)
        net, build = _prepare_model(model_or_name, splits.train, cfg)
        return _Loop(net, build, splits, cfg, dist).run()
    finally:
        close(dist)


def resolve_data(data: str | Path | SequenceDataset, task: str | None = None) -> SequenceDataset:
    """A dataset name, a file (.npz/.csv need ``task``; .ts says its own) or a SequenceDataset."""
    if isinstance(data, SequenceDataset):
        return data
    from rnnzoo.core.registry import list_datasets, load_dataset

    if isinstance(data, str) and data in list_datasets():
        return load_dataset(data)
    if Path(data).suffix:
        from rnnzoo.data.loaders import load_file

        return load_file(Path(data), task=task)
    return load_dataset(str(data))  # raises UnknownDatasetError with suggestions


def _prepare_model(
    model_or_name: str | nn.Module, train: SequenceDataset, cfg: TrainConfig
) -> tuple[NormalizedModel, dict[str, Any]]:
    if isinstance(model_or_name, str):
        spec = get_spec(model_or_name)
        hparams = dict(cfg.hparams)
        if train.per_step:
            if not spec.supports_per_step:
                raise DataError(f"{train.name} has per-step targets; {spec.name} has no per-step mode")
            hparams["per_step"] = True
        inner = create_model(
            spec.name, input_size=train.num_features, output_size=train.output_size, **hparams
        )
    else:
        inner = model_or_name
    build = getattr(inner, "rnnzoo_build", None)
    if build is None:
        raise InvalidHyperparameterError(
            "pass a model name, or a module built with rnnzoo.create_model, so the checkpoint can rebuild it"
        )
    spec = get_spec(build["name"])
    if spec.task != train.task:
        raise DataError(f"{spec.name} is a {spec.task} model but {train.name} is a {train.task} dataset")
    if build["input_size"] != train.num_features:
        raise DataError(
            f"{spec.name} expects {build['input_size']} features, {train.name} has {train.num_features}"
        )
    _check_fits(spec.name, build, train)
    mean, std = fit_scaler(train.x, train.lengths) if cfg.normalize else (
        np.zeros(train.num_features), np.ones(train.num_features))
    return NormalizedModel(inner, mean, std).to(cfg.device), build


def _check_fits(name: str, build: dict[str, Any], train: SequenceDataset) -> None:
    """A module built for other data fails here by name, not as a shape error inside the loss."""
    if build["output_size"] != train.output_size:
        raise DataError(
            f"{name} was built with output_size={build['output_size']} but {train.name} needs "
            f"{train.output_size}; build it with output_size={train.output_size}"
        )
    per_step = bool(build["hparams"].get("per_step", False))
    if per_step != train.per_step:
        have = "a target per time step" if train.per_step else "one target per sequence"
        raise DataError(f"{name} was built with per_step={per_step} but {train.name} has {have}")


_RUN_FILES = ("last.safetensors", "model.safetensors", "history.json", "history.csv", "curves.png")

# Settings that may differ between a run and its resume: they do not change what the
# next epoch computes (more epochs, another patience, quieter logs, another device).
_RESUME_MAY_CHANGE = {"epochs", "patience", "restore_best", "quiet", "device", "out_dir", "resume"}


class _Loop:
    """One training run's mutable state; small methods so resume can restore each piece."""

    def __init__(
        self, net: NormalizedModel, build: dict[str, Any], splits: Splits, cfg: TrainConfig,
        dist: Distributed | None = None,
    ):
        self.net, self.build, self.splits, self.cfg, self.dist = net, build, splits, cfg, dist
        self.main = dist is None or dist.is_main  # only the main process writes files and logs
        self.model: nn.Module = net  # wrapped for DDP in run(), after resuming, so every rank starts alike
        self.spec = get_spec(build["name"])
        self.k = splits.train.output_size
        weights = class_weights(cfg, splits.train)
        self.loss_fn = make_loss(self.spec.task, cfg.loss, weights)
        self.opt = OPTIMIZERS[cfg.optimizer](net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = make_scheduler(self.opt, cfg)
        self.rng = np.random.default_rng(cfg.seed)
        self.history: list[dict[str, Any]] = []
        self.best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        self.epoch = 0
        self.out = Path(cfg.out_dir) if cfg.out_dir else None

    # -- the run --
    def run(self) -> TrainResult:
        if self.out and self.main:  # a killed run's half-written files
            remove_stale_temps(self.out, _RUN_FILES)
        if self.cfg.resume:
            self._resume()
        if self.dist is not None:
            self._check_ranks_agree()
            self.model = self.dist.wrap(self.net)
            if not self.dist.is_main:  # own dropout masks per rank
                torch.manual_seed(self.cfg.seed + self.dist.rank + 1_000_003 * self.epoch)
        stale = 0 if self.best is None else self.epoch - self.best[1]
        while self.epoch < self.cfg.epochs and not self._stopped(stale):
            record = self._epoch()
            self.history.append(record)
            monitored = record.get("val_loss", record["train_loss"])
            if not np.isfinite(monitored):
                raise DataError(f"loss became {monitored} at epoch {self.epoch}; lower lr or check the data")
            if self.best is None or monitored < self.best[0]:
                self.best, stale = (monitored, self.epoch, copy.deepcopy(self.net.state_dict())), 0
            else:
                stale += 1
            self._log(record)
            if self.out and self.main:
                save_checkpoint(self.out / "last.safetensors", self.net, self._meta(), self._state())
        return self._finish()

    def _stopped(self, stale: int) -> bool:
        """Early stopping; checked before each epoch so a resumed, already-stopped run stays stopped."""
        if self.cfg.patience is None or self.splits.val is None or stale < self.cfg.patience:
            return False
        self._log_line(f"early stop: no val_loss improvement for {stale} epochs")
        return True

    def _epoch(self) -> dict[str, Any]:
        start = time.perf_counter()
        train = self._train_pass()
        record: dict[str, Any] = {"epoch": self.epoch + 1, "lr": self.opt.param_groups[0]["lr"]}
        record.update({f"train_{k}": v for k, v in train.items()})
        if self.splits.val is not None:
            record.update({f"val_{k}": v for k, v in self.evaluate(self.splits.val).items()})
        self._step_schedule(record.get("val_loss", record["train_loss"]))
        self.epoch += 1
        record["seconds"] = round(time.perf_counter() - start, 3)
        return record

    def _train_pass(self) -> dict[str, float]:
        from tqdm.auto import tqdm

        self.net.train()
        acc = MetricAccumulator(self.spec.task, self.k)
        batches = batch_indices(self.splits.train.lengths, self.cfg.batch_size, self.rng, self.cfg.bucket)
        bar = tqdm(batches, desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}", leave=False,
                   disable=self.cfg.quiet or not self.main, file=sys.stderr, unit="batch")
        for idx in bar:
            idx, stand_in = self.dist.shard(idx) if self.dist is not None else (idx, False)
            x, lengths, y = to_tensors(self.splits.train, idx, self.cfg.device)
            self.opt.zero_grad(set_to_none=True)
            out = self.model(x, lengths)
            total, weight = self.loss_fn(out, y, lengths)
            if stand_in:  # keeps this rank in the gradient all-reduce, contributing nothing
                total, weight = total * 0.0, weight * 0.0
            (total / self._global(weight)).backward()
            if self.cfg.clip_norm is not None:
                nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.clip_norm)
            self.opt.step()
            if not stand_in:
                acc.add(float(total.detach()), float(weight), out, y, lengths)
        return self._reduced(acc).result()

    def _global(self, weight: torch.Tensor) -> torch.Tensor:
        """The loss denominator: this batch's weight, or the global batch's over ranks.

        DDP averages gradients over ranks, hence the factor ``world``: the
        result is the gradient of sum/global_weight, as in one process.
        """
        if self.dist is None:
            return weight
        return self.dist.sum(weight.detach()) / self.dist.world

    def _reduced(self, acc: MetricAccumulator) -> MetricAccumulator:
        if self.dist is not None:
            acc.state = self.dist.sum(acc.state)
        return acc

    @torch.no_grad()
    def evaluate(self, ds: SequenceDataset) -> dict[str, float]:
        self.net.eval()
        acc = MetricAccumulator(self.spec.task, self.k)
        batches = batch_indices(ds.lengths, max(self.cfg.batch_size, 256), None, self.cfg.bucket)
        if self.dist is not None:  # each rank evaluates its share; the sums are reduced
            batches = batches[self.dist.rank :: self.dist.world]
        for idx in batches:
            x, lengths, y = to_tensors(ds, idx, self.cfg.device)
            out = self.net(x, lengths)
            total, weight = self.loss_fn(out, y, lengths)
            acc.add(float(total), float(weight), out, y, lengths)
        return self._reduced(acc).result()

    def _step_schedule(self, monitored: float) -> None:
        if isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.sched.step(monitored)
        elif self.sched is not None:
            self.sched.step()

    # -- bookkeeping --
    def _finish(self) -> TrainResult:
        best_epoch, weights_epoch = (self.best[1] if self.best else self.epoch), self.epoch
        if self.best is not None and self.cfg.restore_best:
            self.net.load_state_dict(self.best[2])
            weights_epoch = best_epoch
        metrics: dict[str, float] = {"best_epoch": best_epoch, "weights_epoch": weights_epoch}
        for split in ("val", "test"):
            part = getattr(self.splits, split)
            if part is not None:
                metrics.update({f"{split}_{k}": v for k, v in self.evaluate(part).items()})
        meta = {**self._meta(), "metrics": metrics}
        path = None
        if self.out and self.main:
            path = save_checkpoint(self.out / "model.safetensors", self.net, meta)
            _write_history(self.out, self.history)
        return TrainResult(self.net.eval(), meta, self.history, metrics, self.splits, path)

    def _meta(self) -> dict[str, Any]:
        owner = registered_by(self.spec.name)
        train = self.splits.train
        return {
            "model": self.spec.name, "task": self.spec.task, "family": self.spec.family,
            "plugin": {"distribution": owner.distribution, "version": owner.version},
            "input_size": self.build["input_size"], "output_size": self.build["output_size"],
            "hparams": self.build["hparams"], "per_step": train.per_step,
            "dataset": train.name.removesuffix("[train]"),
            "label_names": train.label_names, "feature_names": train.feature_names,
            "max_train_length": int(train.lengths.max()),
            "config": asdict(self.cfg), "epochs_run": self.epoch,
            "world_size": self.dist.world if self.dist is not None else 1,
            "versions": {"rnnzoo": __version__, "torch": torch.__version__},
        }

    def _state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "history": self.history,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "torch_rng": torch.get_rng_state(), "numpy_rng": self.rng.bit_generator.state,
            "cuda_rng": torch.cuda.get_rng_state_all() if self.cfg.device.startswith("cuda") else None,
            "best": None if self.best is None else {"value": self.best[0], "epoch": self.best[1],
                                                    "weights": self.best[2]},
        }

    def _resume(self) -> None:
        assert self.out is not None
        path = self.out / "last.safetensors"
        if not path.exists():
            self._log_line(f"resume: no {path}, starting from scratch")
            return
        ckpt = load_checkpoint(path)
        self._check_same_run(path, ckpt.meta, ckpt.train_state)
        st = ckpt.train_state
        assert st is not None
        try:
            self.net.load_state_dict(ckpt.model.state_dict())
            self.opt.load_state_dict(st["optimizer"])
            if self.sched is not None and st["scheduler"] is not None:
                self.sched.load_state_dict(st["scheduler"])
            torch.set_rng_state(st["torch_rng"])
            if st.get("cuda_rng") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(st["cuda_rng"])
            self.rng.bit_generator.state = st["numpy_rng"]
            self.epoch, self.history = int(st["epoch"]), list(st["history"])
            b = st["best"]
            self.best = None if b is None else (float(b["value"]), int(b["epoch"]), b["weights"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: resume state does not fit this run ({exc}); start a fresh out_dir") from exc
        self._log_line(f"resumed from {path} after epoch {self.epoch}")

    def _check_ranks_agree(self) -> None:
        """Every worker must start from the same epoch (e.g. --out not shared across machines on resume)."""
        assert self.dist is not None
        epochs = self.dist.sum(torch.tensor([float(self.epoch), 1.0]))
        if float(epochs[0]) != self.epoch * float(epochs[1]):
            raise CheckpointError(
                f"workers resumed from different epochs (rank {self.dist.rank}: {self.epoch}); every worker must "
                "read the same last.safetensors, so --out must be a shared path"
            )

    def _check_same_run(self, path: Path, meta: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Resuming with other data, model or settings would silently train a different run."""
        if state is None:
            raise CheckpointError(f"{path} has no resume state (it is a final model, not last.safetensors)")
        mine = json.loads(json.dumps(self._meta(), default=str))  # as it would read back: tuples become lists
        diffs = [k for k in ("model", "input_size", "output_size", "hparams", "per_step", "dataset")
                 if meta.get(k) != mine[k]]
        old_cfg = meta.get("config") or {}
        diffs += [f"config.{k}" for k, v in mine["config"].items()
                  if k not in _RESUME_MAY_CHANGE and k in old_cfg and old_cfg[k] != v]
        if diffs:
            raise CheckpointError(
                f"{path} belongs to another run: {', '.join(diffs)} differ. Resume with the same model, data "
                "and settings, or train into a fresh out_dir"
            )

    def _log(self, r: dict[str, Any]) -> None:
        parts = [f"epoch {r['epoch']:>3}/{self.cfg.epochs}"]
        parts += [f"{k}={v:.4g}" for k, v in r.items() if k.startswith(("train_", "val_"))]
        self._log_line("  ".join(parts) + f"  ({r['seconds']:.1f}s)")

    def _log_line(self, line: str) -> None:
        if not self.cfg.quiet and self.main:
            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stderr)


def _write_history(out: Path, history: list[dict[str, Any]]) -> None:
    """history.json, history.csv and (if matplotlib is installed) curves.png."""
    import csv
    import io

    from rnnzoo.core.atomic import atomic_write

    atomic_write(out / "history.json", lambda p: _write_text(p, json.dumps(history, indent=1)))
    keys = list(dict.fromkeys(k for r in history for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write(out / "history.csv", lambda p: _write_text(p, buf.getvalue()))
    from rnnzoo.training.curves import plot_history

    plot_history(history, out / "curves.png")


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
