"""Seeded train/validation/test splits, stratified for classification."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnzoo.core.meta import ModelMeta
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.errors import DataError, MissingDependencyError


@dataclass
class Splits:
    train: SequenceDataset
    val: SequenceDataset | None
    test: SequenceDataset | None


def _carve(idx: np.ndarray, y: np.ndarray | None, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Pick ~fraction of idx, per class when y is given, at least one per class."""
    if fraction <= 0:
        return np.empty(0, dtype=np.int64)
    if y is None:
        return rng.permutation(idx)[: max(1, round(len(idx) * fraction))]
    picked = []
    for c in np.unique(y[idx]):
        members = rng.permutation(idx[y[idx] == c])
        if len(members) > 1:
            picked.append(members[: max(1, round(len(members) * fraction))])
    return np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=np.int64)


def split_dataset(
    ds: SequenceDataset, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0
) -> Splits:
    """Split ``ds``; a standard split in ``ds.split`` wins over ``test_fraction``."""
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise DataError(f"{name} must be in [0, 1), got {f}")
    rng = np.random.default_rng(seed)
    labels = ds.y if ds.task == "classification" else None
    pool = np.arange(len(ds))
    if ds.split is not None:
        test_idx, pool = pool[ds.split == "test"], pool[ds.split == "train"]
    else:
        test_idx = _carve(pool, labels, test_fraction, rng)
        pool = np.setdiff1d(pool, test_idx)
    val_idx = _carve(pool, labels, val_fraction, rng)
    train_idx = np.setdiff1d(pool, val_idx)
    if len(train_idx) == 0:
        raise DataError(f"{ds.name}: no samples left for training after splitting {len(ds)} samples")
    return Splits(
        train=ds.subset(train_idx, f"{ds.name}[train]"),
        val=ds.subset(val_idx, f"{ds.name}[val]") if len(val_idx) else None,
        test=ds.subset(test_idx, f"{ds.name}[test]") if len(test_idx) else None,
    )


def validation_data(meta: ModelMeta) -> SequenceDataset | None:
    """The validation split the checkpoint was trained with, or None where that dataset cannot be had here.

    None (not registered, or the package shipping its files not installed)
    only costs parity its real samples: it still runs on random inputs. Any
    other error loading a registered dataset is a bug, so it propagates.
    """
    from rnnzoo.core.registry import list_datasets, load_dataset

    name, cfg = meta.dataset, meta.config
    if not name or name not in list_datasets():
        return None
    try:
        ds = load_dataset(name)
    except MissingDependencyError:  # the package that ships a real dataset's files is not installed here
        return None
    splits = split_dataset(
        ds, cfg.get("val_fraction", 0.2), cfg.get("test_fraction", 0.0), cfg.get("seed", 0)
    )
    return splits.val or splits.test
