"""Latency measured side by side in one process: onnxruntime vs PyTorch eager (and other runtimes), same threads.

Machines here are shared and noisy, so only ratios from one run mean
anything: each configuration alternates the two runtimes and takes medians.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rnnzoo.deploy.card import CHECKPOINT_FILE, INT8_FILE
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.exporting.runtime_matrix import median_ms as median_ms  # one timing rule for bench and the card
from rnnzoo.runtimes._common import first_line

SLOW_RUNTIMES = frozenset({"reference"})  # pure Python: `all` leaves it out; name it to time it anyway


def select_runtimes(runtimes: str | Iterable[str]) -> list[str]:
    """Runtime names for ``bench --runtime``: "all" is every installed one but the slow reference evaluator.

    A name given explicitly must be registered and installed (``RnnzooError`` otherwise), before any timing.
    """
    from rnnzoo.core.registry import get_runtime, list_runtimes
    from rnnzoo.errors import MissingDependencyError

    names = [n.strip() for n in (runtimes.split(",") if isinstance(runtimes, str) else runtimes) if n.strip()]
    explicit = [n for n in names if n != "all"]
    for name in explicit:
        reason = get_runtime(name).available()  # an unknown name: UnknownRuntimeError
        if reason is not None:
            raise MissingDependencyError(f"runtime {name} is not available: {reason}")
    everything = [n for n in list_runtimes() if n not in SLOW_RUNTIMES and get_runtime(n).available() is None]
    return list(dict.fromkeys([*everything, *explicit] if "all" in names else explicit))


def compare_latency(
    net: Any, onnx_path: Path, batch: int, length: int, threads: int, repeats: int = 20,
    variant_path: Path | None = None, rounds: int = 3, runtimes: Sequence[str] = (),
) -> dict[str, Any]:
    """Median ms of torch eager and onnxruntime (and a variant) on one random batch of full-length samples.

    ``runtimes``: registered runtime names also timed on ``onnx_path`` in the
    same rounds; their medians go under ``row["runtimes_ms"][name]`` (None
    when the runtime cannot load or run it; ``row["runtime_errors"]`` says why).

    The runtimes take turns for ``rounds`` rounds and each keeps its best
    round's median, so a burst of load from a neighbour on a shared machine
    hits every runtime alike instead of one.
    """
    with torch_threads(threads):
        return _compare_latency(net, onnx_path, batch, length, threads, repeats, variant_path, rounds, runtimes)


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
    variant_path: Path | None, rounds: int, runtimes: Sequence[str] = (),
) -> dict[str, Any]:
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
    errors = _add_runtimes(runners, runtimes, onnx_path, threads, x, lengths)
    per_round = max(1, repeats // max(1, rounds))
    best = {key: float("inf") for key in runners}
    for _ in range(max(1, rounds)):
        for key, fn in list(runners.items()):
            try:
                best[key] = min(best[key], median_ms(fn, per_round, warmup=1))
            except Exception as exc:  # another runtime failing: its column says so, the table goes on
                if not key.startswith("runtime:"):
                    raise
                errors[key.removeprefix("runtime:")] = first_line(exc)
                del runners[key], best[key]
    row: dict[str, Any] = {k: v for k, v in best.items() if not k.startswith("runtime:")}
    if runtimes:
        row["runtimes_ms"] = {n: best.get(f"runtime:{n}") for n in runtimes}
        row["runtime_errors"] = errors
    row["speedup"] = row["torch_ms"] / row["onnx_ms"]
    if variant_path is not None:
        row["variant_speedup"] = row["torch_ms"] / row["variant_ms"]
    return row


def _add_runtimes(
    runners: dict[str, Callable[[], Any]], runtimes: Sequence[str], onnx_path: Path, threads: int, x: Any,
    lengths: Any,
) -> dict[str, str]:
    """Each runtime's runner under ``runtime:NAME``; those that cannot load are left out, with why."""
    from rnnzoo.core.registry import get_runtime

    errors: dict[str, str] = {}
    for name in runtimes:
        try:
            run = get_runtime(name).load(onnx_path, threads)
        except Exception as exc:  # each runtime raises its own types
            errors[name] = f"cannot load: {first_line(exc)}"
            continue
        runners[f"runtime:{name}"] = functools.partial(run, x, lengths)
    return errors



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
    machine the fastest repeat is the closest to what the cores can do. At 1
    thread the product runs on the calling thread, so its CPU time
    (``time.thread_time``) is measured: it does not count the time a
    neighbour held the core. With more threads, wall time.
    """
    import torch

    clock = time.thread_time if threads == 1 else time.perf_counter
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    with torch_threads(threads):
        for _ in range(2):
            torch.mm(a, b)
        for _ in range(repeats):
            start = clock()
            torch.mm(a, b)
            best = min(best, clock() - start)
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
    runtimes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """For each exported model: batch 1/64 x length 50/500, torch vs ORT vs int8 (vs ``runtimes``, side by side).

    Rows of built-in recurrent nets also carry the recurrent layers' achieved
    GFLOP/s per runtime (``torch_gflops``, ``onnx_gflops``...), and their
    fraction of ``peak_gflops`` when given (see :func:`matmul_peak_gflops`).
    """
    from rnnzoo.training.checkpoint import load_checkpoint

    rows = []
    for name in models:
        folder = exports / name
        net = load_checkpoint(folder / CHECKPOINT_FILE).model
        shape = _net_shape(net)
        int8 = folder / INT8_FILE
        for batch in (1, 64):
            for length in (50, 500):
                r = compare_latency(net, folder / "model.onnx", batch, length, threads, repeats,
                                    int8 if int8.exists() else None, runtimes=runtimes)
                row: dict[str, Any] = {"model": name, "batch": batch, "length": length, "threads": threads, **r}
                if shape is not None:
                    cell, hidden, size_in, layers, dirs = shape
                    row = add_gflops(row, recurrent_flops(cell, hidden, size_in, batch, length, layers, dirs),
                                     peak=peak_gflops)
                rows.append(row)
    return rows


def bench_environment(threads: int, peak_gflops: float) -> dict[str, Any]:
    """What the timings depend on, printed above the table and stored with it: timings without it mean little.

    The machine record of rnnzoo.zoo.machine (CPU model, ISA as torch and
    onnxruntime see it, cores, versions) plus the thread count and the sgemm
    peak measured at it.
    """
    from rnnzoo.zoo.machine import machine_info

    info = machine_info(peak=False)
    info["sgemm_peak_gflops"] = {str(threads): round(peak_gflops, 1)}
    return {"threads": threads, "machine": info}


def table_header(environment: dict[str, Any], runtimes: Sequence[str] = ()) -> list[str]:
    """The machine lines, the settings line and the column titles of ``rnnzoo bench``'s table."""
    from rnnzoo.zoo.machine import describe

    extra = "".join(f" {_runtime_title(n):>{_width(n)}}" for n in runtimes)
    settings = "  ".join(f"{k}={v}" for k, v in environment.items() if k != "machine")
    return [*describe(environment["machine"]), settings,
            f"{'model':<26} {'batch':>5} {'len':>4} {'torch ms':>9} {'ort ms':>8} {'int8 ms':>8} "
            f"{'torch/ort':>9} {'GFLOP/s torch':>13} {'ort':>6} {'ort/peak':>8}{extra}"]


def table_row(r: dict[str, Any], runtimes: Sequence[str] = ()) -> str:
    """One row of :func:`benchmark_zoo` aligned under :func:`table_header`; '-' where a runtime failed."""
    times = r.get("runtimes_ms", {})
    extra = "".join(f" {_num(times.get(n), f'{_width(n)}.3f')}" for n in runtimes)
    return (f"{r['model']:<26} {r['batch']:>5} {r['length']:>4} {r['torch_ms']:>9.3f} "
            f"{r['onnx_ms']:>8.3f} {r.get('variant_ms', float('nan')):>8.3f} {r['speedup']:>8.2f}x "
            f"{_num(r.get('torch_gflops'), '13.1f')} {_num(r.get('onnx_gflops'), '6.1f')} "
            f"{_num(r.get('onnx_of_peak'), '8.0%')}{extra}")


def _runtime_title(name: str) -> str:
    return f"{name} ms"


def _width(name: str) -> int:
    return max(9, len(_runtime_title(name)))


def _num(value: float | None, spec: str) -> str:
    """A number, or '-' right-aligned where it does not apply (GFLOP/s of a non-recurrent model)."""
    return format(value, spec) if value is not None else "-".rjust(int(spec.split(".")[0]))
