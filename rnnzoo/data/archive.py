"""The real datasets that ship offline: UCR/UEA classification and TSER regression sets inside the sktime wheel.

Each is read from the archive's own ``NAME_TRAIN.ts`` / ``NAME_TEST.ts``
files, which sktime bundles (the package is never imported, so pandas and
numba stay unloaded), and keeps the archive's standard train/test split:
published results are measured on exactly that split, so ours must be too.
The facts in :data:`ARCHIVE` (sizes, classes, features, lengths) are what
the archive documents and what ``rnnzoo datasets`` shows without loading a
file; a test loads every set and checks them.
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.errors import MissingDependencyError

_DIST, _EXTRA = "sktime", "real"
_FOLDER = "sktime/datasets/data/{problem}/{problem}_{part}.ts"


@dataclass(frozen=True)
class ArchiveSet:
    """One archive problem: where its files are and what the archive says about it."""

    name: str  # registered (lowercase) name
    problem: str  # the archive's name, also its file stem
    archive: str
    about: str  # what the series are and what is predicted
    task: str
    train: int
    test: int
    features: int
    length: tuple[int, int]
    classes: int | None = None

    @property
    def description(self) -> str:
        """One line for ``rnnzoo datasets``: the archive's facts, then where the files come from."""
        what = f"{self.classes} classes" if self.classes else "1 target"
        lo, hi = self.length
        steps = f"{lo} steps" if lo == hi else f"{lo}-{hi} steps"
        return (f"{self.problem} ({self.archive}): {self.about}; {what}, {self.features} feature"
                f"{'s' if self.features > 1 else ''}, {steps}, {self.train}/{self.test} train/test "
                f"(needs rnnzoo[{_EXTRA}])")

    @property
    def source(self) -> str:
        return f"{self.archive}, standard split (sktime wheel)"


ARCHIVE: tuple[ArchiveSet, ...] = (
    ArchiveSet("acsf1", "ACSF1", "UCR", "appliance power consumption, one hour per series", "classification",
               100, 100, 1, (1460, 1460), 10),
    ArchiveSet("arrow_head", "ArrowHead", "UCR", "arrowhead outlines as 1-D series", "classification",
               36, 175, 1, (251, 251), 3),
    ArchiveSet("basic_motions", "BasicMotions", "UEA", "smartwatch accelerometer and gyroscope, 4 activities",
               "classification", 40, 40, 6, (100, 100), 4),
    ArchiveSet("gunpoint", "GunPoint", "UCR", "hand x-position while drawing a gun or pointing", "classification",
               50, 150, 1, (150, 150), 2),
    ArchiveSet("italy_power_demand", "ItalyPowerDemand", "UCR", "24 hourly Italian power demands, which season",
               "classification", 67, 1029, 1, (24, 24), 2),
    ArchiveSet("japanese_vowels", "JapaneseVowels", "UEA", "12 LPC cepstra of a spoken vowel, which speaker",
               "classification", 270, 370, 12, (7, 29), 9),
    ArchiveSet("osuleaf", "OSULeaf", "UCR", "leaf outlines as 1-D series, which tree species", "classification",
               200, 242, 1, (427, 427), 6),
    ArchiveSet("plaid", "PLAID", "UCR", "plug-load appliance current, which appliance type", "classification",
               537, 537, 1, (100, 1344), 11),
    ArchiveSet("covid_3month", "Covid3Month", "TSER", "daily confirmed COVID-19 cases over 3 months -> death rate",
               "regression", 140, 61, 1, (84, 84)),
    ArchiveSet("tecator", "Tecator", "TSER", "near-infrared absorbance spectrum of meat -> fat content",
               "regression", 172, 43, 1, (100, 100)),
)


def packaged_file(dist: str, rel: str, extra: str) -> Path:
    """A data file inside an installed distribution, found without importing it."""
    try:
        path = Path(str(md.distribution(dist).locate_file(rel)))
    except md.PackageNotFoundError as exc:
        raise MissingDependencyError(
            f"this dataset ships inside the {dist} package; install it with "
            f"pip install 'rnnzoo[{extra}]'"
        ) from exc
    if not path.is_file():
        raise MissingDependencyError(f"{dist} is installed but has no {rel}; reinstall {dist}")
    return path


def load_archive(entry: ArchiveSet) -> SequenceDataset:
    """``entry``'s train and test files as one dataset whose ``split`` marks the archive's test rows."""
    from rnnzoo.data.loaders import load_ts
    from rnnzoo.data.pairing import with_test

    train, test = (load_ts(packaged_file(_DIST, _FOLDER.format(problem=entry.problem, part=part), _EXTRA))
                   for part in ("TRAIN", "TEST"))
    joined = with_test(train, test)
    joined.name = entry.name
    if entry.name == "japanese_vowels":  # its classes are speakers; the name predates this module
        joined.label_names = [f"speaker_{s}" for s in joined.label_names or []]
    return joined


def loaders() -> list[tuple[ArchiveSet, partial[SequenceDataset]]]:
    """Each archive set with its zero-argument loader, for the dataset plugin to register."""
    return [(entry, partial(load_archive, entry)) for entry in ARCHIVE]


def majority_rate(ds: SequenceDataset) -> float:
    """Accuracy of always answering the training split's most frequent class, on the test split."""
    train = ds.y[ds.split == "train"] if ds.split is not None else ds.y
    test = ds.y[ds.split == "test"] if ds.split is not None else ds.y
    return float(np.mean(test == np.bincount(train).argmax()))
