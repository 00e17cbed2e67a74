"""rnnzoo's own dataset plugin: generated tasks plus the real UCR/UEA/TSER sets that ship offline.

Generated sets are deterministic functions of ``seed`` (no download, no file)
and variable-length on purpose: ragged batches are the case a sequence
library must get right. The real sets (:mod:`rnnzoo.data.archive`) are read
from the files inside the sktime wheel (``rnnzoo[real]``), with their
standard splits. Registered through the ``builtin_datasets`` entry point
like any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnnzoo.core.hookspecs import hookimpl
from rnnzoo.core.specs import DatasetSpec
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.errors import DataError

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


_GENERATED = "generated (seeded, no file)"
_SPECS: list[DatasetSpec] = [
    DatasetSpec("sines", "classification", sines, "noisy sines of 4 periods, 12-60 steps (generated)",
                source=_GENERATED, samples=(800, 0), length=(12, 60), features=2),
    DatasetSpec("next_value", "regression", next_value, "noisy two-tone signal -> next clean value (generated)",
                source=_GENERATED, samples=(800, 0), length=(12, 60), features=1),
    DatasetSpec("denoise", "regression", denoise, "noisy two-tone signal -> clean value per step (generated)",
                per_step=True, source=_GENERATED, samples=(800, 0), length=(12, 60), features=1),
]


def _archive_specs() -> list[DatasetSpec]:
    """The offline UCR/UEA/TSER sets (rnnzoo.data.archive), each with the facts the archive documents."""
    from rnnzoo.data.archive import loaders

    return [DatasetSpec(entry.name, entry.task, load, entry.description,  # type: ignore[arg-type]
                        source=entry.source, samples=(entry.train, entry.test), length=entry.length,
                        features=entry.features)
            for entry, load in loaders()]


@hookimpl
def rnnzoo_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    for spec in [*_SPECS, *_archive_specs()]:
        register(spec)
