"""Ragged batches: bucket by length so little time is spent on padding."""

from __future__ import annotations

import numpy as np
import torch

from rnnzoo.data.dataset import SequenceDataset


def batch_indices(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None, bucket: bool = True
) -> list[np.ndarray]:
    """Index batches. With ``bucket``, samples of similar length share a batch.

    Bucketing sorts by length plus a little seeded noise, cuts batches, then
    shuffles the batch order: each batch stays tight while epochs still differ.
    ``rng=None`` gives a fixed order (evaluation).
    """
    n = len(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable") if bucket else np.arange(n)
    elif bucket:
        order = np.argsort(lengths + rng.uniform(0, 0.99 * max(1.0, lengths.std()), n), kind="stable")
    else:
        order = rng.permutation(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def to_tensors(
    ds: SequenceDataset, idx: np.ndarray, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x, lengths, y) for rows ``idx``, cut to the longest sequence in the batch."""
    lengths = ds.lengths[idx]
    t = int(lengths.max())
    y = ds.y[idx][:, :t] if ds.per_step else ds.y[idx]
    return (
        torch.from_numpy(np.ascontiguousarray(ds.x[idx, :t])).to(device),
        torch.from_numpy(lengths).to(device),
        torch.from_numpy(np.ascontiguousarray(y)).to(device),
    )
