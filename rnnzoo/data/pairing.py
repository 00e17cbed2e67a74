"""A user's own train/test split: two sources joined into one dataset whose ``split`` marks the test rows.

Why join rather than carry two datasets: the splitter already honours a
standard split (validation is carved from the train rows only), so a test
file takes exactly the path a registered archive split takes, and the
trainer needs no second code path. The checks here (same task, features,
per-step shape, class set) run before any epoch, so a mismatched pair fails
with the two names instead of as a shape error mid-run.

A UCR/UEA pair ``NAME_TRAIN.ts`` / ``NAME_TEST.ts`` is recognized from either
file: the archive ships its splits that way.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rnnzoo.data.dataset import SequenceDataset, pad
from rnnzoo.errors import DataError

_PAIR = re.compile(r"^(?P<stem>.+)_(?P<part>TRAIN|TEST)\.ts$", re.IGNORECASE)


def archive_pair(path: str | Path) -> tuple[Path, Path] | None:
    """``(NAME_TRAIN.ts, NAME_TEST.ts)`` when ``path`` is one of such a pair and the other file exists."""
    p = Path(path)
    match = _PAIR.match(p.name)
    if match is None:
        return None
    stem, part = match["stem"], match["part"]
    other_part = {"TRAIN": "TEST", "TEST": "TRAIN"}[part.upper()]
    other_part = other_part.lower() if part.islower() else other_part
    other = p.with_name(f"{stem}_{other_part}{p.suffix}")
    if not other.is_file():
        return None
    return (p, other) if part.upper() == "TRAIN" else (other, p)


def train_part(ds: SequenceDataset) -> SequenceDataset:
    """The rows a standard split marks for training (all rows when there is none)."""
    if ds.split is None:
        return ds
    keep = np.flatnonzero(ds.split == "train")
    if len(keep) == 0:
        raise DataError(f"{ds.name}: its standard split marks no sample for training")
    out = ds.subset(keep)
    out.split = None
    return out


def with_test(train: SequenceDataset, test: SequenceDataset) -> SequenceDataset:
    """``train``'s training rows followed by every row of ``test``, the latter marked ``"test"``.

    Test labels are mapped onto the training set's classes by name, so two
    files that list their classes in different orders still agree; a test
    class the training data never shows is an error (no model could predict it).
    """
    train = train_part(train)
    _check_compatible(train, test)
    y_test = _labels_onto(train, test) if train.task == "classification" else test.y
    seqs = [train.x[i, : train.lengths[i]] for i in range(len(train))]
    seqs += [test.x[i, : test.lengths[i]] for i in range(len(test))]
    x, lengths = pad(seqs, train.name)
    if train.per_step:
        targets = [train.y[i, : train.lengths[i]] for i in range(len(train))]
        targets += [test.y[i, : test.lengths[i]] for i in range(len(test))]
        y = pad(targets, train.name)[0]
    else:
        y = np.concatenate([train.y, y_test])
    split = np.array(["train"] * len(train) + ["test"] * len(test))
    return SequenceDataset(x=x, lengths=lengths, y=y, task=train.task, name=train.name,
                           label_names=train.label_names, feature_names=train.feature_names, split=split)


def _check_compatible(train: SequenceDataset, test: SequenceDataset) -> None:
    pair = f"training data {train.name} and test data {test.name}"
    if train.task != test.task:
        raise DataError(f"{pair} differ in task ({train.task} vs {test.task}); pass a test set of the same task")
    if train.num_features != test.num_features:
        raise DataError(f"{pair} differ in features ({train.num_features} vs {test.num_features} per step); "
                        "the test file must have the training file's features")
    if train.per_step != test.per_step:
        raise DataError(f"{pair} differ in targets: one has a target per step, the other one per sequence")
    if train.task == "regression" and train.output_size != test.output_size:
        raise DataError(f"{pair} differ in targets ({train.output_size} vs {test.output_size} values)")


def _labels_onto(train: SequenceDataset, test: SequenceDataset) -> np.ndarray:
    """The test labels as indices into the training classes."""
    pair = f"training data {train.name} and test data {test.name}"
    if train.label_names is None or test.label_names is None:
        if train.label_names is not None or test.label_names is not None:
            raise DataError(f"{pair}: one names its classes and the other does not; name them in both")
        if int(test.y.max()) >= train.output_size:
            raise DataError(f"{pair} differ in classes: the test data has label {int(test.y.max())}, "
                            f"the training data only 0..{train.output_size - 1}")
        return test.y
    index = {name: i for i, name in enumerate(train.label_names)}
    present = sorted({test.label_names[c] for c in np.unique(test.y)})
    unknown = [name for name in present if name not in index]
    if unknown:
        raise DataError(f"{pair} differ in classes: the test data has {unknown}, which the training data "
                        f"never shows (its classes: {list(train.label_names)})")
    return np.array([index[test.label_names[c]] for c in test.y], dtype=np.int64)
