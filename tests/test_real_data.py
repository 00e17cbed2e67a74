"""The offline real datasets (UCR/UEA/TSER files in the sktime wheel): documented shapes, classes and splits."""

from __future__ import annotations

import importlib.metadata as md

import numpy as np
import pytest
from click.testing import CliRunner

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.core.registry import get_dataset_spec
from rnnzoo.data.archive import ARCHIVE, load_archive, majority_rate

# What the archive pages document for each set: (train, test, features, (shortest, longest), classes).
DOCUMENTED = {
    "acsf1": (100, 100, 1, (1460, 1460), 10),
    "arrow_head": (36, 175, 1, (251, 251), 3),
    "basic_motions": (40, 40, 6, (100, 100), 4),
    "gunpoint": (50, 150, 1, (150, 150), 2),
    "italy_power_demand": (67, 1029, 1, (24, 24), 2),
    "japanese_vowels": (270, 370, 12, (7, 29), 9),
    "osuleaf": (200, 242, 1, (427, 427), 6),
    "plaid": (537, 537, 1, (100, 1344), 11),
    "covid_3month": (140, 61, 1, (84, 84), None),
    "tecator": (172, 43, 1, (100, 100), None),
}


def test_every_offline_set_is_registered_with_its_documented_facts() -> None:
    assert {e.name for e in ARCHIVE} == set(DOCUMENTED) and set(DOCUMENTED) <= set(rnnzoo.list_datasets())
    for name, (train, test, features, length, classes) in DOCUMENTED.items():
        spec = get_dataset_spec(name)
        assert (spec.samples, spec.features, spec.length) == ((train, test), features, length), name
        assert spec.task == ("classification" if classes else "regression")
        assert "rnnzoo[real]" in spec.description and spec.source.startswith(("UCR", "UEA", "TSER"))


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_each_set_loads_with_its_standard_split(name: str) -> None:
    train, test, features, (shortest, longest), classes = DOCUMENTED[name]
    ds = rnnzoo.load_dataset(name)
    assert ds.name == name and ds.split is not None
    assert (int((ds.split == "train").sum()), int((ds.split == "test").sum())) == (train, test)
    assert ds.x.shape == (train + test, longest, features)
    assert (int(ds.lengths.min()), int(ds.lengths.max())) == (shortest, longest)
    assert np.isfinite(ds.x).all()
    if classes is None:
        assert ds.task == "regression" and ds.y.shape == (train + test, 1)
        return
    assert ds.task == "classification" and ds.output_size == classes and len(ds.label_names) == classes
    for part in ("train", "test"):  # every class occurs in both parts of these archive splits
        assert set(np.unique(ds.y[ds.split == part])) == set(range(classes)), (name, part)


def test_class_names_come_from_the_files() -> None:
    assert rnnzoo.load_dataset("basic_motions").label_names == ["Standing", "Running", "Walking", "Badminton"]
    assert rnnzoo.load_dataset("japanese_vowels").label_names[0] == "speaker_1"
    assert majority_rate(rnnzoo.load_dataset("gunpoint")) == pytest.approx(74 / 150)  # class 2 leads in TRAIN


def test_a_missing_extra_names_the_extra(monkeypatch) -> None:
    def absent(dist: str):
        raise md.PackageNotFoundError(dist)

    monkeypatch.setattr(md, "distribution", absent)
    with pytest.raises(rnnzoo.MissingDependencyError, match=r"pip install 'rnnzoo\[real\]'"):
        load_archive(ARCHIVE[0])


def test_datasets_command_shows_task_samples_lengths_features_and_source() -> None:
    out = CliRunner().invoke(main, ["datasets"])
    assert out.exit_code == 0, out.output
    header = out.output.splitlines()[0].split()
    assert header[:6] == ["NAME", "TASK", "SAMPLES", "LENGTH", "FEATURES", "SOURCE"]
    plaid = next(line for line in out.output.splitlines() if line.startswith("plaid "))
    assert "537/537" in plaid and "100-1344" in plaid and "UCR" in plaid
    sines = next(line for line in out.output.splitlines() if line.startswith("sines "))
    assert "800/0" in sines and "generated" in sines
