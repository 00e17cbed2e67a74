"""Latency measured side by side in one process: onnxruntime vs PyTorch eager, same threads.

Machines here are shared and noisy, so only ratios from one run mean
anything: each configuration alternates the two runtimes and takes medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.runtime import make_session, run_session


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def compare_latency(
    net: Any, onnx_path: Path, batch: int, length: int, threads: int, repeats: int = 20,
    variant_path: Path | None = None,
) -> dict[str, float]:
    """Median ms of torch eager and onnxruntime (and a variant) on one random ragged batch."""
    import torch

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, length, net.mean.shape[0])).astype(np.float32)
    lengths = np.full(batch, length, dtype=np.int64)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    session = make_session(onnx_path, threads=threads)

    def eager() -> Any:
        with torch.inference_mode():
            return net(xt, lt)

    row = {"torch_ms": median_ms(eager, repeats), "onnx_ms": median_ms(lambda: run_session(session, x, lengths),
                                                                        repeats)}
    if variant_path is not None:
        var = make_session(variant_path, threads=threads)
        row["variant_ms"] = median_ms(lambda: run_session(var, x, lengths), repeats)
    row["speedup"] = row["torch_ms"] / row["onnx_ms"]
    return row


def benchmark_zoo(exports: Path, models: list[str], threads: int, repeats: int) -> list[dict[str, Any]]:
    """For each exported model: batch 1/64 x length 50/500, torch vs ORT vs int8."""
    from rnnzoo.checkpoint import load_checkpoint

    rows = []
    for name in models:
        folder = exports / name
        net = load_checkpoint(folder / "checkpoint.safetensors").model
        int8 = folder / "model.int8.onnx"
        for batch in (1, 64):
            for length in (50, 500):
                r = compare_latency(net, folder / "model.onnx", batch, length, threads, repeats,
                                    int8 if int8.exists() else None)
                rows.append({"model": name, "batch": batch, "length": length, "threads": threads, **r})
    return rows
