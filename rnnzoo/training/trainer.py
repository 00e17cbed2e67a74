"""The common trainer: any registered model, any SequenceDataset; the task picks loss and metrics.

It knows nothing about model families. Guards recurrent nets need are on by
default: gradient-norm clipping, early stopping with restore-best, seeded
runs, and an atomic ``last.safetensors`` after every epoch to resume from.

The epoch loop (:class:`_Loop`) is short and calls small objects for the
rest: :class:`~rnnzoo.training.state.TrainState` (what resume restores),
:class:`~rnnzoo.training.early_stopping.EarlyStopping`,
:mod:`~rnnzoo.training.resume` (refusing another run's checkpoint), and a
worker :class:`~rnnzoo.training.distributed.Strategy` (one process or DDP).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnzoo.core.atomic import remove_stale_temps
from rnnzoo.core.locks import exclusive
from rnnzoo.core.meta import ModelMeta
from rnnzoo.core.registry import create_model, get_spec, registered_by, resolve_hparams
from rnnzoo.core.specs import DataSummary
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.data.split import Splits, split_dataset
from rnnzoo.errors import DataError, InvalidHyperparameterError, PluginError
from rnnzoo.training.batching import batch_indices, to_tensors
from rnnzoo.training.checkpoint import describe, save_checkpoint
from rnnzoo.training.config import (
    OPTIMIZERS,
    TrainConfig,
    class_weights,
    make_config,
    make_scheduler,
    resolve_epochs,
    time_stride,
)
from rnnzoo.training.distributed import Strategy, from_env
from rnnzoo.training.early_stopping import EarlyStopping
from rnnzoo.training.metrics import MetricAccumulator, make_loss
from rnnzoo.training.normalize import NormalizedModel, fit_scaler, fit_target_scaler
from rnnzoo.training.resume import resume
from rnnzoo.training.state import TrainState


@dataclass
class TrainResult:
    """The trained model (best epoch, eval mode) and everything measured about it."""

    model: NormalizedModel
    meta: ModelMeta
    history: list[dict[str, Any]]
    metrics: dict[str, float]
    splits: Splits
    checkpoint: Path | None = None

    @property
    def test_metrics(self) -> dict[str, float] | None:
        """The held-out test split's metrics (``accuracy``, ``loss``...), or None when there was no test split.

        Measured once, after training: they never chose an epoch or a weight.
        """
        if self.splits.test is None:
            return None
        return {k.removeprefix("test_"): v for k, v in self.metrics.items() if k.startswith("test_")}


def train(model_or_name: str | nn.Module, data: str | Path | SequenceDataset,
          test_data: str | Path | SequenceDataset | None = None, *,
          on_epoch: Callable[[dict[str, Any]], None] | None = None, **config: Any) -> TrainResult:
    """Train a registered model (by name, or built with ``create_model``) on ``data``.

    ``data`` is a registered dataset name, a file (.npz/.csv/.ts) or a
    SequenceDataset. ``test_data`` (same kinds) is held out and only
    measured at the end (``result.test_metrics``); without it a registered
    dataset's or a ``NAME_TRAIN.ts``/``NAME_TEST.ts`` pair's standard test
    split is used. Validation is always carved from the training part, and
    test data never steers early stopping or the choice of weights.
    ``config`` keys are the fields of :class:`TrainConfig`. ``on_epoch(record)``
    is called on the main process after every epoch with that epoch's history
    record; an exception it raises ends the run (a search prunes trials so).
    """
    task = None
    if isinstance(model_or_name, str):
        spec = get_spec(model_or_name)
        config, task = {**spec.train_defaults, **config}, spec.task
    cfg = make_config(config)
    ds = resolve_data(data, task, test_data)
    splits = split_dataset(ds, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    dist = from_env(cfg.device)  # DDP if launched by torchrun with several workers, else one process
    try:
        cfg.device = dist.device(cfg.device)
        torch.manual_seed(cfg.seed)
        net, build = _prepare_model(model_or_name, splits.train, cfg)
        # recorded resolved, so the checkpoint says what ran; a model reading frames of k steps runs 1/k of them
        cfg.epochs = resolve_epochs(cfg, splits.train, time_stride(net.model))
        with _run_lock(cfg, dist):
            loop = _Loop(net, build, splits, cfg, dist, fingerprint(ds))
            loop.test_source = _test_source(data, test_data, splits)
            loop.on_epoch = on_epoch
            result = loop.run()
        dist.wait_for_all()
        return result
    finally:
        dist.close()


def _test_source(data: object, test_data: object, splits: Splits) -> str | None:
    """What the test metrics were measured on, for the checkpoint and card: a file, a name, or a split."""
    if splits.test is None:
        return None
    if isinstance(test_data, SequenceDataset):
        return test_data.name
    if test_data is not None:
        return str(test_data)
    if isinstance(data, (str, Path)) and Path(data).suffix:
        from rnnzoo.data.pairing import archive_pair

        pair = archive_pair(data)
        if pair is not None:
            return str(pair[1])
    name = data.name if isinstance(data, SequenceDataset) else str(data)
    return f"{name} (test split)"


def _run_lock(cfg: TrainConfig, dist: Strategy) -> contextlib.AbstractContextManager[None]:
    """The main process holds ``OUT/.rnnzoo.lock``: a second run into the same folder fails at once.

    Taking it also proves the folder is writable before the first epoch, not after it.
    """
    if not cfg.out_dir or not dist.is_main:
        return contextlib.nullcontext()
    out = Path(cfg.out_dir)
    return exclusive(out / ".rnnzoo.lock", f"run folder {out}")


def resolve_data(data: str | Path | SequenceDataset, task: str | None = None,
                 test_data: str | Path | SequenceDataset | None = None) -> SequenceDataset:
    """A dataset name, a file (.npz/.csv need ``task``; .ts says its own) or a SequenceDataset.

    With ``test_data`` the result marks those rows ``"test"`` in its ``split``
    (replacing any standard test split of ``data``). A file that is half of
    a ``NAME_TRAIN.ts``/``NAME_TEST.ts`` pair brings the other half as its test split.
    """
    if test_data is None:
        return _resolve_one(data, task, pair=True)
    from rnnzoo.data.pairing import with_test

    train = _resolve_one(data, task, pair=False)
    return with_test(train, _resolve_one(test_data, train.task, pair=False))


def _resolve_one(data: str | Path | SequenceDataset, task: str | None, pair: bool) -> SequenceDataset:
    if isinstance(data, SequenceDataset):
        return data
    from rnnzoo.core.registry import list_datasets, load_dataset

    if isinstance(data, str) and data in list_datasets():
        return load_dataset(data)
    if Path(data).suffix:
        from rnnzoo.data.loaders import load_file
        from rnnzoo.data.pairing import archive_pair, with_test

        both = archive_pair(data) if pair else None
        if both is not None:
            return with_test(load_file(both[0], task=task), load_file(both[1], task=task))
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
        if spec.fit_to_data is not None:
            hparams = spec.fit_to_data(resolve_hparams(spec, hparams), summarize(train))
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
    _check_output(spec.name, inner, train)
    if not cfg.normalize:
        return NormalizedModel.identity(inner, train.num_features).to(cfg.device), build
    net = NormalizedModel(inner, *fit_scaler(train.x, train.lengths))
    if train.task == "regression":
        net.set_target_scale(*fit_target_scaler(train.y, train.lengths))
    return net.to(cfg.device), build


def summarize(train: SequenceDataset) -> DataSummary:
    """The shape of the training part, for a spec's ``fit_to_data``."""
    return DataSummary(task=train.task, samples=len(train), features=train.num_features, per_step=train.per_step,
                       median_length=int(np.median(train.lengths)), max_length=int(train.lengths.max()))


def _check_output(name: str, inner: nn.Module, train: SequenceDataset) -> None:
    """The model's output on two real samples has the promised shape, before any epoch runs.

    A plugin returning [B, 8] for 4 classes (or [B, T, C] where [B, C] is due)
    used to train, export and pass parity, then write 8-value rows under 4 labels.
    """
    idx = np.arange(min(2, len(train)))
    x = torch.from_numpy(np.ascontiguousarray(train.x[idx])).float()
    lengths = torch.from_numpy(train.lengths[idx].astype(np.int64))
    was_training = inner.training
    try:
        with torch.no_grad():
            out = inner.eval()(x, lengths)
    except Exception as exc:  # a plugin's forward may raise anything
        raise PluginError(f"{name}: forward failed on two training samples ({type(exc).__name__}: {exc})") from exc
    finally:
        inner.train(was_training)
    want = [len(idx), x.shape[1], train.output_size] if train.per_step else [len(idx), train.output_size]
    if not isinstance(out, torch.Tensor) or list(out.shape) != want:
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PluginError(f"{name} (from {registered_by(name).distribution}): forward returned {got}, expected "
                          f"{want} ([batch, time, outputs] per step, else [batch, outputs]); fix the model's forward")


def fingerprint(ds: SequenceDataset) -> str:
    """sha256 of the arrays a run learns from, so a resume can tell a replaced data file by the same name."""
    h = hashlib.sha256()
    for arr in (ds.x, ds.y, ds.lengths):
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


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


class _Loop:
    """One training run's epoch loop; the rest is in the objects it calls.

    ``state`` is what resume restores, ``stopping`` decides when to stop and
    which weights to keep, ``dist`` is how workers split the work (one
    process is a strategy too, so nothing here branches on it).
    """

    def __init__(self, net: NormalizedModel, build: dict[str, Any], splits: Splits, cfg: TrainConfig, dist: Strategy,
                 data_sha256: str | None = None):
        self.net, self.build, self.splits, self.cfg, self.dist = net, build, splits, cfg, dist
        self.data_sha256 = data_sha256  # recorded, and compared on resume: same name, other data is refused
        self.test_source: str | None = None  # recorded with the test metrics
        # train() has resolved epochs already; a direct caller may not
        self.epochs = resolve_epochs(cfg, splits.train, time_stride(net.model))
        self.on_epoch: Callable[[dict[str, Any]], None] | None = None  # e.g. a search's pruning check
        self.model: nn.Module = net  # wrapped for DDP in run(), after resuming, so every rank starts alike
        self.spec = get_spec(build["name"])
        self.loss_fn = make_loss(self.spec.task, cfg.loss, class_weights(cfg, splits.train), net.target_std)
        opt = OPTIMIZERS[cfg.optimizer](net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.state = TrainState(opt, make_scheduler(opt, cfg), np.random.default_rng(cfg.seed),
                                cuda=cfg.device.startswith("cuda"))
        # A validation split too small to trust (or none): stop and choose on the training loss.
        self.monitor = "val_loss" if splits.val is not None and len(splits.val) >= cfg.min_val else "train_loss"
        # The training loss of a few batches is too noisy to stop on: then the whole budget runs.
        patience = cfg.patience if self.monitor == "val_loss" else None
        self.stopping = EarlyStopping(patience, cfg.restore_best, min_epochs=self.epochs // 2)
        self.log = _Log(quiet=cfg.quiet or not self.dist.is_main)  # only the main process logs
        self.out = Path(cfg.out_dir) if cfg.out_dir and self.dist.is_main else None  # ... and writes files

    @property
    def epoch(self) -> int:
        return self.state.epoch

    def run(self) -> TrainResult:
        if self.out:  # a killed run's half-written files
            remove_stale_temps(self.out, _RUN_FILES)
        if self.cfg.resume:
            self._resume()
        self.dist.check_same_epoch(self.epoch)
        self.model = self.dist.wrap(self.net)
        self.dist.seed_worker(self.cfg.seed, self.epoch)
        while self.epoch < self.epochs and not self._stopped():
            record = self._epoch()
            self.state.history.append(record)
            self.stopping.observe(self.state, float(record[self.monitor]), self.net)
            self.log.epoch(record, self.epochs)
            if self.out:
                save_checkpoint(self.out / "last.safetensors", self.net, self._meta(), self.state.to_dict())
            if self.on_epoch is not None and self.dist.is_main:
                self.on_epoch(record)
        return self._finish()

    def _stopped(self) -> bool:
        stopped = self.stopping.stopped(self.state)
        if stopped:
            self.log.line(f"early stop: no {self.monitor} improvement for {self.stopping.stale(self.state)} epochs")
        return stopped

    def _epoch(self) -> dict[str, Any]:
        start = time.perf_counter()
        train = self._train_pass()
        record: dict[str, Any] = {"epoch": self.epoch + 1, "lr": self.state.optimizer.param_groups[0]["lr"]}
        record.update({f"train_{k}": v for k, v in train.items()})
        if self.splits.val is not None:
            record.update({f"val_{k}": v for k, v in self.evaluate(self.splits.val).items()})
        self.state.step_scheduler(float(record[self.monitor]))
        self.state.epoch += 1
        record["seconds"] = round(time.perf_counter() - start, 3)
        return record

    def _train_pass(self) -> dict[str, float]:
        from tqdm.auto import tqdm

        self.net.train()
        opt, acc = self.state.optimizer, self._accumulator()
        batches = batch_indices(self.splits.train.lengths, self.cfg.batch_size, self.state.rng, self.cfg.bucket)
        for idx in tqdm(batches, desc=f"epoch {self.epoch + 1}/{self.epochs}", leave=False,
                        disable=self.log.quiet, file=sys.stderr, unit="batch"):
            idx, stand_in = self.dist.shard(idx)
            x, lengths, y = to_tensors(self.splits.train, idx, self.cfg.device)
            opt.zero_grad(set_to_none=True)
            out = self.model(x, lengths)
            total, weight = self.loss_fn(out, y, lengths)
            if stand_in:  # keeps this rank in the gradient all-reduce, contributing nothing
                total, weight = total * 0.0, weight * 0.0
            (total / self.dist.loss_denominator(weight)).backward()
            if self.cfg.clip_norm is not None:
                nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.clip_norm)
            opt.step()
            if not stand_in:
                acc.add(float(total.detach()), float(weight), out, y, lengths)
        return self._result(acc)

    @torch.no_grad()
    def evaluate(self, ds: SequenceDataset) -> dict[str, float]:
        self.net.eval()
        acc = self._accumulator()
        batches = batch_indices(ds.lengths, max(self.cfg.batch_size, 256), None, self.cfg.bucket)
        for idx in self.dist.share(batches):  # each rank evaluates its share; the sums are reduced
            x, lengths, y = to_tensors(ds, idx, self.cfg.device)
            out = self.net(x, lengths)
            total, weight = self.loss_fn(out, y, lengths)
            acc.add(float(total), float(weight), out, y, lengths)
        return self._result(acc)

    def _accumulator(self) -> MetricAccumulator:
        return MetricAccumulator(self.spec.task, self.splits.train.output_size)

    def _result(self, acc: MetricAccumulator) -> dict[str, float]:
        """Metrics over every worker's share: the sums are all-reduced before dividing."""
        acc.state = self.dist.sum(acc.state)
        return acc.result()

    def _finish(self) -> TrainResult:
        best = self.stopping.to_restore(self.state)
        if best is not None:
            self.net.load_state_dict(best.weights)
        metrics: dict[str, float] = {"best_epoch": self.state.best_epoch,
                                     "weights_epoch": best.epoch if best is not None else self.epoch}
        for split in ("val", "test"):
            part = getattr(self.splits, split)
            if part is not None:
                metrics.update({f"{split}_{k}": v for k, v in self.evaluate(part).items()})
        meta = self._meta().replace(metrics=metrics, test_dataset=self.test_source)
        path = None
        if self.out:
            path = save_checkpoint(self.out / "model.safetensors", self.net, meta)
            _write_history(self.out, self.state.history)
        return TrainResult(self.net.eval(), meta, self.state.history, metrics, self.splits, path)

    def _meta(self) -> ModelMeta:
        train = self.splits.train
        return describe(
            self.build, dataset=train.name.removesuffix("[train]"), label_names=train.label_names,
            feature_names=train.feature_names, max_train_length=int(train.lengths.max()),
            config=asdict(self.cfg), epochs_run=self.epoch, world_size=self.dist.world, data_sha256=self.data_sha256)

    def _resume(self) -> None:
        """Every rank reads the same last.safetensors (only the main one writes it)."""
        assert self.cfg.out_dir, "TrainConfig refuses resume=True without out_dir"
        path = Path(self.cfg.out_dir) / "last.safetensors"
        if not path.exists():
            self.log.line(f"resume: no {path}, starting from scratch")
            return
        resume(path, self.net, self.state, self._meta())
        self.log.line(f"resumed from {path} after epoch {self.epoch}")


@dataclass(frozen=True)
class _Log:
    """Progress lines on stderr, written through tqdm so they do not break its bars; silent when quiet."""

    quiet: bool

    def epoch(self, r: dict[str, Any], epochs: int) -> None:
        parts = [f"epoch {r['epoch']:>3}/{epochs}"]
        parts += [f"{k}={v:.4g}" for k, v in r.items() if k.startswith(("train_", "val_"))]
        self.line("  ".join(parts) + f"  ({r['seconds']:.1f}s)")

    def line(self, text: str) -> None:
        if not self.quiet:
            from tqdm.auto import tqdm

            tqdm.write(text, file=sys.stderr)


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
