"""SequenceDataset: a validated, zero-padded batch of variable-length sequences.

Validation happens once, here, when data enters rnnzoo, so the trainer and
exporter can trust shapes, dtypes and finiteness. Errors name the data
source (``name``: a file path or dataset name) and the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from rnnzoo.core.specs import TASKS
from rnnzoo.errors import DataError


@dataclass
class SequenceDataset:
    """Padded features ``x`` [N, T, F], ``lengths`` [N] and targets ``y``.

    ``y`` is int64 [N] class indices (classification), float32 [N, O]
    (sequence-to-one regression) or float32 [N, T, O] (per-step regression,
    padding ignored). ``split`` optionally marks each sample ``"train"`` or
    ``"test"`` when the source defines a standard split.
    """

    x: np.ndarray
    lengths: np.ndarray
    y: np.ndarray
    task: str
    name: str = "data"
    label_names: list[str] | None = None
    feature_names: list[str] | None = None
    split: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def num_features(self) -> int:
        return int(self.x.shape[2])

    @property
    def per_step(self) -> bool:
        return self.task == "regression" and self.y.ndim == 3

    @property
    def output_size(self) -> int:
        """Classes for a classifier, targets for a regressor."""
        if self.task == "classification":
            return len(self.label_names) if self.label_names else int(self.y.max()) + 1
        return int(self.y.shape[-1])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: np.ndarray | Sequence[int], name: str | None = None) -> SequenceDataset:
        """Rows ``index``, trimmed to the longest remaining sequence."""
        idx = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[idx]
        t = int(lengths.max()) if len(idx) else 1
        y = self.y[idx][:, :t] if self.per_step else self.y[idx]
        return replace(
            self, x=self.x[idx, :t], lengths=lengths, y=y, name=name or self.name,
            split=None if self.split is None else self.split[idx],
        )

    @classmethod
    def from_sequences(
        cls,
        sequences: Sequence[np.ndarray],
        y: np.ndarray | Sequence[object],
        task: str,
        name: str = "data",
        per_step: bool = False,
        **kwargs: object,
    ) -> SequenceDataset:
        """Pad a list of [T_i, F] arrays (and, per step, [T_i, O] targets) into a dataset."""
        if len(sequences) == 0:
            raise DataError(f"{name}: the dataset is empty")
        seqs = [np.asarray(s, dtype=np.float32) for s in sequences]
        seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
        x, lengths = pad(seqs, name)
        if per_step:
            ys = [np.asarray(v, dtype=np.float32) for v in y]
            ys = [v.reshape(len(v), -1) for v in ys]
            y_arr = pad(ys, name)[0]
        else:
            y_arr = np.asarray(y)
        return cls(x=x, lengths=lengths, y=y_arr, task=task, name=name, **kwargs)  # type: ignore[arg-type]


def pad(seqs: Sequence[np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Stack [T_i, F] arrays into zero-padded [N, T_max, F] plus lengths."""
    widths = {s.shape[1] for s in seqs if s.ndim == 2}
    if len(widths) != 1 or any(s.ndim != 2 for s in seqs):
        raise DataError(f"{name}: every sequence must be [time, features] with the same features")
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.zeros((len(seqs), max(1, int(lengths.max())), widths.pop()), dtype=np.float32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def _validate(ds: SequenceDataset) -> None:
    n = ds.name
    if ds.task not in TASKS:
        raise DataError(f"{n}: task must be one of {TASKS}, got {ds.task!r}")
    x = np.asarray(ds.x)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{n}: features must be numeric; ragged arrays need explicit lengths")
    if x.ndim != 3:
        raise DataError(f"{n}: x must be [samples, time, features], got shape {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{n}: the dataset is empty")
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise DataError(f"{n}: x has an empty time or feature axis: shape {x.shape}")
    ds.x = x.astype(np.float32, copy=False)
    _validate_lengths(ds)
    if not np.isfinite(ds.x).all():
        bad = np.argwhere(~np.isfinite(ds.x))[0]
        raise DataError(f"{n}: features contain NaN or inf (first at sample {bad[0]}, step {bad[1]})")
    _validate_targets(ds)
    if ds.split is not None:
        ds.split = np.asarray(ds.split).astype(str)
        if ds.split.shape != (len(ds.x),) or not set(ds.split) <= {"train", "test"}:
            raise DataError(f"{n}: split must mark every sample 'train' or 'test'")


def _validate_lengths(ds: SequenceDataset) -> None:
    n, lengths = ds.name, np.asarray(ds.lengths)
    if lengths.shape != (ds.x.shape[0],):
        raise DataError(f"{n}: lengths must have shape ({ds.x.shape[0]},), got {lengths.shape}")
    is_int = np.issubdtype(lengths.dtype, np.integer)
    is_whole_float = np.issubdtype(lengths.dtype, np.floating) and np.all(lengths == np.round(lengths))
    if not (is_int or is_whole_float):
        raise DataError(f"{n}: lengths must be integers")
    ds.lengths = lengths.astype(np.int64)
    if ds.lengths.min() < 1:
        i = int(np.argmin(ds.lengths))
        raise DataError(f"{n}: sample {i} has length {ds.lengths[i]}; every sequence needs >= 1 step")
    if ds.lengths.max() > ds.x.shape[1]:
        i = int(np.argmax(ds.lengths))
        raise DataError(
            f"{n}: sample {i} has length {ds.lengths[i]} but the time axis holds {ds.x.shape[1]}"
        )


def _validate_targets(ds: SequenceDataset) -> None:
    n, y = ds.name, np.asarray(ds.y)
    if len(y) != len(ds.x):
        raise DataError(f"{n}: {len(ds.x)} samples but {len(y)} targets")
    if ds.task == "classification":
        _validate_labels(ds, y)
        return
    if not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{n}: regression targets must be numeric, got {y.dtype}")
    y = y.astype(np.float32)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim == 3 and y.shape[1] != ds.x.shape[1]:
        raise DataError(f"{n}: per-step targets have {y.shape[1]} steps, x has {ds.x.shape[1]}")
    if y.ndim not in (2, 3):
        raise DataError(f"{n}: regression targets must be [N], [N, O] or [N, T, O]; got {y.shape}")
    valid = y if y.ndim == 2 else y[np.arange(y.shape[1])[None, :] < ds.lengths[:, None]]
    if not np.isfinite(valid).all():
        raise DataError(f"{n}: targets contain NaN or inf")
    ds.y = y


def _validate_labels(ds: SequenceDataset, y: np.ndarray) -> None:
    n = ds.name
    if y.ndim != 1:
        raise DataError(f"{n}: class labels must be a 1-D array of integers, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise DataError(
                f"{n}: class labels must be integers 0..K-1 (got dtype {y.dtype}); "
                "map string labels to indices and pass label_names"
            )
    k = len(ds.label_names) if ds.label_names else int(y.max()) + 1
    if y.min() < 0 or y.max() >= k:
        raise DataError(f"{n}: labels must lie in [0, {k - 1}], got [{y.min()}, {y.max()}]")
    if k < 2:
        raise DataError(f"{n}: a classifier needs at least 2 classes, got {k}")
    ds.y = y.astype(np.int64)
