"""Latency measured side by side in one process: onnxruntime vs PyTorch eager, same threads.

Machines here are shared and noisy, so only ratios from one run mean
anything: each configuration alternates the two runtimes and takes medians.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.exporting.iospec import IoSpec


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
    variant_path: Path | None = None, rounds: int = 3,
) -> dict[str, float]:
    """Median ms of torch eager and onnxruntime (and a variant) on one random batch of full-length samples.

    The runtimes take turns for ``rounds`` rounds and each keeps its best
    round's median, so a burst of load from a neighbour on a shared machine
    hits every runtime alike instead of one.
    """
    with torch_threads(threads):
        return _compare_latency(net, onnx_path, batch, length, threads, repeats, variant_path, rounds)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Torch's intra-op thread count set for a block and restored after it.

    Why restore: the thread count changes float summation order, so a
    leaked setting would change the weights of whatever trains next.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _compare_latency(
    net: Any, onnx_path: Path, batch: int, length: int, threads: int, repeats: int,
    variant_path: Path | None, rounds: int,
) -> dict[str, float]:
    import torch

    feeds = IoSpec.for_model(net.mean.shape[0]).sample_inputs("bench", batch=batch, length=length)[0].feeds
    x, lengths = feeds["x"], feeds["lengths"]
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    session = make_session(onnx_path, threads=threads)

    def eager() -> Any:
        with torch.inference_mode():
            return net(xt, lt)

    runners: dict[str, Callable[[], Any]] = {"torch_ms": eager,
                                             "onnx_ms": lambda: run_session(session, x, lengths)}
    if variant_path is not None:
        var = make_session(variant_path, threads=threads)
        runners["variant_ms"] = lambda: run_session(var, x, lengths)
    per_round = max(1, repeats // max(1, rounds))
    best = {key: float("inf") for key in runners}
    for _ in range(max(1, rounds)):
        for key, fn in runners.items():
            best[key] = min(best[key], median_ms(fn, per_round, warmup=1))
    row = dict(best)
    row["speedup"] = row["torch_ms"] / row["onnx_ms"]
    if variant_path is not None:
        row["variant_speedup"] = row["torch_ms"] / row["variant_ms"]
    return row


GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def recurrent_flops(cell: str, hidden: int, input_size: int, batch: int, length: int, layers: int = 1,
                    directions: int = 1) -> float:
    """FLOPs of the recurrent layers' matrix products: 2*gates*hidden*(input+hidden) per step per sample.

    Why only the GEMMs: they are what a well-implemented recurrence is bound
    by; the gate element-wise work is O(gates*hidden), small next to it, so
    GFLOP/s against the sgemm peak says how far each runtime is from the
    machine's limit. Layers after the first see ``directions*hidden`` inputs.
    """
    g = GATES[cell]
    total = 0.0
    for layer in range(layers):
        size_in = input_size if layer == 0 else hidden * directions
        total += directions * 2.0 * g * hidden * (size_in + hidden)
    return total * batch * length


def matmul_peak_gflops(threads: int, n: int = 1024, repeats: int = 7) -> float:
    """Best single-precision GEMM rate (GFLOP/s) of the BLAS, measured with torch at ``threads``.

    Why torch.mm and the best of several: it is the same BLAS (MKL) PyTorch's
    recurrent layers call, ``threads`` matches the benchmark, and on a shared
    machine the fastest repeat is the closest to what the cores can do.
    """
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    with torch_threads(threads):
        for _ in range(2):
            torch.mm(a, b)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def achieved_gflops(flops: float, ms: float) -> float:
    """GFLOP/s of ``flops`` done in ``ms`` milliseconds (NaN for a non-positive time)."""
    return flops / (ms * 1e6) if ms > 0 else float("nan")


def add_gflops(row: dict[str, Any], flops: float, keys: tuple[str, ...] = ("torch_ms", "onnx_ms", "variant_ms"),
               peak: float | None = None) -> dict[str, Any]:
    """A copy of a latency row with ``*_gflops`` per runtime (and ``*_of_peak`` when ``peak`` is given)."""
    out = dict(row, recurrent_gflop=flops / 1e9)
    for key in keys:
        if key in row:
            name = key.removesuffix("_ms")
            out[f"{name}_gflops"] = achieved_gflops(flops, row[key])
            if peak:
                out[f"{name}_of_peak"] = out[f"{name}_gflops"] / peak
    return out


def _net_shape(net: Any) -> tuple[str, int, int, int, int] | None:
    """(cell, hidden, input, layers, directions) of an rnnzoo RecurrentNet (inside NormalizedModel), else None."""
    rnn = getattr(getattr(net, "model", net), "rnn", None)
    if rnn is None or not hasattr(rnn, "fwd") or not len(rnn.fwd):
        return None
    first = rnn.fwd[0]
    cell = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}.get(type(first).__name__)
    if cell is None:
        return None
    return cell, first.hidden_size, first.input_size, len(rnn.fwd), 2 if len(rnn.bwd) else 1


def benchmark_zoo(
    exports: Path, models: list[str], threads: int, repeats: int, peak_gflops: float | None = None,
) -> list[dict[str, Any]]:
    """For each exported model: batch 1/64 x length 50/500, torch vs ORT vs int8.

    Rows of built-in recurrent nets also carry the recurrent layers' achieved
    GFLOP/s per runtime (``torch_gflops``, ``onnx_gflops``...), and their
    fraction of ``peak_gflops`` when given (see :func:`matmul_peak_gflops`).
    """
    from rnnzoo.training.checkpoint import load_checkpoint

    rows = []
    for name in models:
        folder = exports / name
        net = load_checkpoint(folder / "checkpoint.safetensors").model
        shape = _net_shape(net)
        int8 = folder / "model.int8.onnx"
        for batch in (1, 64):
            for length in (50, 500):
                r = compare_latency(net, folder / "model.onnx", batch, length, threads, repeats,
                                    int8 if int8.exists() else None)
                row: dict[str, Any] = {"model": name, "batch": batch, "length": length, "threads": threads, **r}
                if shape is not None:
                    cell, hidden, size_in, layers, dirs = shape
                    row = add_gflops(row, recurrent_flops(cell, hidden, size_in, batch, length, layers, dirs),
                                     peak=peak_gflops)
                rows.append(row)
    return rows


def bench_environment(threads: int, peak_gflops: float) -> dict[str, Any]:
    """What the timings depend on, printed above the table and stored with it: timings without it mean little."""
    import os
    import platform

    import onnxruntime
    import torch

    return {"threads": threads, "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "sgemm_peak_gflops": round(peak_gflops, 1)}


def table_header(environment: dict[str, Any]) -> list[str]:
    """The environment line and the column titles of ``rnnzoo bench``'s table."""
    return ["  ".join(f"{k}={v}" for k, v in environment.items()),
            f"{'model':<26} {'batch':>5} {'len':>4} {'torch ms':>9} {'ort ms':>8} {'int8 ms':>8} "
            f"{'torch/ort':>9} {'GFLOP/s torch':>13} {'ort':>6} {'ort/peak':>8}"]


def table_row(r: dict[str, Any]) -> str:
    """One row of :func:`benchmark_zoo` aligned under :func:`table_header`."""
    return (f"{r['model']:<26} {r['batch']:>5} {r['length']:>4} {r['torch_ms']:>9.3f} "
            f"{r['onnx_ms']:>8.3f} {r.get('variant_ms', float('nan')):>8.3f} {r['speedup']:>8.2f}x "
            f"{_num(r.get('torch_gflops'), '13.1f')} {_num(r.get('onnx_gflops'), '6.1f')} "
            f"{_num(r.get('onnx_of_peak'), '8.0%')}")


def _num(value: float | None, spec: str) -> str:
    """A number, or '-' right-aligned where it does not apply (GFLOP/s of a non-recurrent model)."""
    return format(value, spec) if value is not None else "-".rjust(int(spec.split(".")[0]))
