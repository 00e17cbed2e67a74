"""rnnzoo's own dataset plugin: generated tasks plus one real dataset from a PyPI package.

Generated sets are deterministic functions of ``seed`` (no download, no file)
and variable-length on purpose: ragged batches are the case a sequence
library must get right. Registered through the ``builtin_datasets`` entry
point like any third-party plugin.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnzoo.core.hookspecs import hookimpl
from rnnzoo.core.specs import DatasetSpec
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.errors import DataError, MissingDependencyError

_PERIODS = (4.0, 6.0, 9.0, 14.0)


def _lengths(rng: np.random.Generator, n: int, min_len: int, max_len: int) -> np.ndarray:
    if not 1 <= min_len <= max_len or n < 1:
        raise DataError(f"need n >= 1 and 1 <= min_len <= max_len, got n={n}, min_len={min_len}, max_len={max_len}")
    return rng.integers(min_len, max_len + 1, size=n)


def sines(n: int = 800, seed: int = 0, min_len: int = 12, max_len: int = 60) -> SequenceDataset:
    """Which of four periods does a noisy sine have? Random phase and amplitude.

    One step carries no information about the period: a model must remember
    several steps, and the lengths vary four-fold within a batch.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(_PERIODS), size=n)
    seqs = []
    for label, length in zip(labels, _lengths(rng, n, min_len, max_len), strict=True):
        t = np.arange(length)
        amp, phase = rng.uniform(0.5, 1.5), rng.uniform(0, 2 * np.pi)
        signal = amp * np.sin(2 * np.pi * t / _PERIODS[label] + phase)
        signal += rng.normal(0, 0.3, length)
        seqs.append(np.stack([signal, rng.normal(0, 1.0, length)], axis=1))
    return SequenceDataset.from_sequences(
        seqs, labels, task="classification", name="sines",
        label_names=[f"period_{int(p)}" for p in _PERIODS], feature_names=["signal", "noise"],
    )


def _signals(rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray]:
    """A clean two-tone signal over ``length + 1`` steps and its noisy observation."""
    t = np.arange(length + 1)
    clean = sum(
        rng.uniform(0.4, 1.0) * np.sin(2 * np.pi * t / rng.uniform(8, 30) + rng.uniform(0, 6.3))
        for _ in range(2)
    )
    return clean, clean + rng.normal(0, 0.2, length + 1)


def next_value(n: int = 800, seed: int = 0, min_len: int = 12, max_len: int = 60) -> SequenceDataset:
    """Sequence-to-one: from a noisy two-tone signal, predict the next clean value."""
    rng = np.random.default_rng(seed)
    seqs, targets = [], []
    for length in _lengths(rng, n, min_len, max_len):
        clean, noisy = _signals(rng, int(length))
        seqs.append(noisy[:length, None])
        targets.append([clean[length]])
    return SequenceDataset.from_sequences(
        seqs, np.asarray(targets, dtype=np.float32), task="regression", name="next_value",
        feature_names=["signal"],
    )


def denoise(n: int = 800, seed: int = 0, min_len: int = 12, max_len: int = 60) -> SequenceDataset:
    """Per step: recover the clean signal at every step of a noisy two-tone signal."""
    rng = np.random.default_rng(seed)
    seqs, targets = [], []
    for length in _lengths(rng, n, min_len, max_len):
        clean, noisy = _signals(rng, int(length))
        seqs.append(noisy[:length, None])
        targets.append(clean[:length, None])
    return SequenceDataset.from_sequences(
        seqs, targets, task="regression", name="denoise", per_step=True, feature_names=["signal"],
    )


def _packaged_file(dist: str, rel: str, extra: str) -> Path:
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


def japanese_vowels() -> SequenceDataset:
    """UCI Japanese Vowels (9 speakers, 12 LPC coefficients, 7-29 steps), standard split.

    Read from the UCR/UEA ``.ts`` files bundled in the sktime wheel (never
    imported, so numba/pandas are not loaded).
    """
    from rnnzoo.data.loaders import load_ts

    base = "sktime/datasets/data/JapaneseVowels/JapaneseVowels_{}.ts"
    parts = [load_ts(_packaged_file("sktime", base.format(s), "real")) for s in ("TRAIN", "TEST")]
    seqs = [p.x[i, : p.lengths[i]] for p in parts for i in range(len(p))]
    split = ["train"] * len(parts[0]) + ["test"] * len(parts[1])
    return SequenceDataset.from_sequences(
        seqs, np.concatenate([p.y for p in parts]), task="classification",
        name="japanese_vowels", label_names=[f"speaker_{s}" for s in parts[0].label_names or []],
        split=np.asarray(split),
    )


_SPECS: list[tuple[str, str, Callable[..., SequenceDataset], str, bool]] = [
    ("sines", "classification", sines, "noisy sines of 4 periods, 12-60 steps (generated)", False),
    ("next_value", "regression", next_value, "noisy two-tone signal -> next clean value (generated)", False),
    ("denoise", "regression", denoise, "noisy two-tone signal -> clean value per step (generated)", True),
    ("japanese_vowels", "classification", japanese_vowels,
     "UCI Japanese Vowels speaker ID, 7-29 steps, standard split (needs rnnzoo[real])", False),
]


@hookimpl
def rnnzoo_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    for name, task, load, description, per_step in _SPECS:
        register(DatasetSpec(name=name, task=task, load=load, description=description, per_step=per_step))  # type: ignore[arg-type]
