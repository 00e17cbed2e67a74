"""Trainer benchmark: rnnzoo.train vs a plain hand-written loop, and bucketing vs pad-to-longest.

    .venv/bin/python benchmarks/bench_trainer.py [--epochs 3]

Same model, data, batch size and epochs on both sides, measured in one run;
prints samples/second and the ratio (>1: rnnzoo is faster).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import rnnzoo
from rnnzoo.data.builtin import sines
from rnnzoo.zoo.machine import describe, machine_info


def plain_loop(data, epochs: int, batch_size: int) -> float:
    """The seed tutorial's loop: every batch padded to the dataset's longest sequence, no lengths."""
    torch.manual_seed(0)
    model = rnnzoo.create_model("lstm_classifier", input_size=data.num_features, output_size=data.output_size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    return epochs * len(x) / (time.perf_counter() - start)


def rnnzoo_loop(data, epochs: int, batch_size: int, bucket: bool) -> float:
    start = time.perf_counter()
    rnnzoo.train("lstm_classifier", data, epochs=epochs, batch_size=batch_size, lr=1e-3, quiet=True,
                 patience=None, val_fraction=0.0, normalize=False, bucket=bucket)
    return epochs * len(data) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    machine = machine_info((1,))  # where the figures come from: CPU, ISA, cores, versions, sgemm peak
    print("\n".join(describe(machine)))
    torch.set_num_threads(1)
    data = sines(n=1000, min_len=10, max_len=200)  # a wide length spread (10-200 steps)
    print(f"lstm_classifier on sines, n={len(data)}, lengths {data.lengths.min()}-{data.lengths.max()} "
          f"(mean {data.lengths.mean():.0f}), batch {args.batch_size}, {args.epochs} epochs, 1 thread")
    plain = plain_loop(data, args.epochs, args.batch_size)
    padded = rnnzoo_loop(data, args.epochs, args.batch_size, bucket=False)
    bucketed = rnnzoo_loop(data, args.epochs, args.batch_size, bucket=True)
    print(f"plain loop (pad to longest, no masking): {plain:8.0f} samples/s")
    print(f"rnnzoo.train, random batches:            {padded:8.0f} samples/s  ratio {padded / plain:.2f}x")
    print(f"rnnzoo.train, length buckets (default):  {bucketed:8.0f} samples/s  ratio {bucketed / plain:.2f}x")
    padding = 1 - data.lengths.mean() / data.lengths.max()
    print(f"padding share when padding to the longest sequence: {padding:.0%}")


if __name__ == "__main__":
    main()
