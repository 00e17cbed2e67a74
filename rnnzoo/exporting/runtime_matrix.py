"""The card's runtime matrix: every registered runtime on every variant file, at export time.

One row per (runtime, variant file): does it load, how far its output is
from the expected one on the small parity cases, and its median latency at
1 thread. The float32 ``model.onnx`` and ``model.portable.onnx`` (the same
model without control flow) are compared with PyTorch at the model's
tolerance, and ``fastest`` names, per runtime and bench shape, which of the
two ran it faster; ``model.int8.onnx`` / ``model.fp16.onnx`` with
onnxruntime's output of the same file (they are not meant to equal
PyTorch), within ``VARIANT_ATOL``. ``model.streaming.onnx`` is fed 60 steps
in chunks of 1, 7 and 25 through each runtime's ``load_graph`` and compared
with PyTorch on the whole sequence; its latency is one step at batch 1.
Informational only: nothing here fails the export; ``rnnzoo verify
--runtime`` is the gate. A ``gate=False`` runtime's rows carry no verdict.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnzoo.core.meta import ModelMeta
from rnnzoo.deploy.card import (
    FP16_FILE,
    INT8_FILE,
    MODEL_FILE,
    PORTABLE_FILE,
    RuntimeMatrix,
    RuntimeRow,
    StreamingSection,
)
from rnnzoo.deploy.compare import Case, compare
from rnnzoo.deploy.verify import finite_or_none
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.runtimes._common import first_line, installed_version, unavailable

if TYPE_CHECKING:
    from rnnzoo.data.dataset import SequenceDataset

VARIANTS = (("fp32", MODEL_FILE), ("portable", PORTABLE_FILE), ("int8", INT8_FILE), ("fp16", FP16_FILE))
EXACT_VARIANTS = frozenset({"fp32", "portable"})  # the float32 model itself: compared with PyTorch, may be "fastest"
VARIANT_ATOL = 1e-4  # int8/fp16 in another runtime vs the same file in onnxruntime
BENCH_SHAPES = ((1, 50), (64, 300))
STREAM_LATENCY = "batch1_step1"  # what a streaming app pays per new step
NO_LATENCY = frozenset({"reference"})  # pure-Python evaluator: far too slow to time at batch 64 x 300
LATENCY_VARIANTS = ("fp32", "portable", "int8", "fp16", "streaming")
NOTE = ("fp32 and portable are compared with PyTorch, int8/fp16 with onnxruntime on the same file, streaming "
        "(chunks of 1, 7, 25 steps) with PyTorch on the whole sequence; latency: median ms at 1 thread (streaming: "
        "one step at batch 1); fastest: per runtime and shape, the quickest verified float32 file")

Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def runtime_matrix(
    folder: Path, net: Any, meta: ModelMeta, data: SequenceDataset | None, *, latency: bool = True,
    repeats: int = 3, runtimes: list[str] | None = None, latency_variants: tuple[str, ...] = LATENCY_VARIANTS,
    streaming: StreamingSection | None = None,
) -> RuntimeMatrix:
    """The card's ``runtimes`` section; never raises (a stage that cannot run records its ``error``).

    ``latency=False`` records no latency; ``latency_variants`` are the variants timed (the others' None).
    ``runtimes`` defaults to every registered runtime, installed or not. ``streaming``: the card's
    streaming section, when the folder has a streaming graph to run too.
    """
    start = time.perf_counter()
    timed = latency_variants if latency else ()
    try:
        matrix = _matrix(folder, net, meta, data, timed, repeats, runtimes)
        matrix = dataclasses.replace(matrix, fastest=fastest_files(matrix.rows))
        if streaming is not None:
            rows = _streaming_rows(folder, net, meta, streaming, "streaming" in timed, repeats, runtimes)
            matrix = dataclasses.replace(matrix, rows=[*matrix.rows, *rows])
    except Exception as exc:  # informational: the export goes on without it
        matrix = RuntimeMatrix([], error=f"{type(exc).__name__}: {first_line(exc)}", note=NOTE)
    return dataclasses.replace(matrix, seconds=round(time.perf_counter() - start, 3))


def _matrix(
    folder: Path, net: Any, meta: ModelMeta, data: SequenceDataset | None, timed: tuple[str, ...],
    repeats: int, runtimes: list[str] | None,
) -> RuntimeMatrix:
    import torch

    from rnnzoo.core.registry import get_runtime, list_runtimes

    atol, rtol = _tolerance(meta.model)
    io = IoSpec.for_model(meta.input_size)
    samples = io.sample_inputs("parity", data, small=True)
    cases = [(s.name, s.feeds["x"], s.feeds["lengths"]) for s in samples]
    with torch.no_grad():
        torch_out = [net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy() for _, x, lengths in cases]
    bench = {f"batch{b}_len{t}": io.sample_inputs("bench", batch=b, length=t)[0].feeds for b, t in BENCH_SHAPES}
    files = [(v, f) for v, f in VARIANTS if (folder / f).is_file()]
    ort_out = _onnxruntime_outputs(folder, files, cases)
    rows = []
    for name in runtimes if runtimes is not None else list_runtimes():
        spec = get_runtime(name)
        reason = unavailable(spec)
        version = installed_version(spec)
        for variant, file in files:
            if reason is not None:
                rows.append(RuntimeRow(name, variant, file, version, skipped=reason))
                continue
            exact = variant in EXACT_VARIANTS
            want = torch_out if exact else ort_out.get(file)
            tol = (atol, rtol) if exact else (VARIANT_ATOL, 0.0)
            rows.append(_row(spec, variant, folder / file, version, cases, want, tol,
                             bench, repeats, timed=variant in timed and name not in NO_LATENCY))
    return RuntimeMatrix(rows, [c[0] for c in cases], atol, rtol, VARIANT_ATOL, 1, note=NOTE)


def _row(
    spec: Any, variant: str, path: Path, version: str | None, cases: list[tuple[str, np.ndarray, np.ndarray]],
    want: list[np.ndarray] | None, tol: tuple[float, float], bench: dict[str, dict[str, np.ndarray]],
    repeats: int, timed: bool,
) -> RuntimeRow:
    reference = "pytorch" if variant in EXACT_VARIANTS else "onnxruntime"
    base: dict[str, Any] = {"runtime": spec.name, "variant": variant, "file": path.name, "version": version,
                            "reference": reference, "latency_ms": dict.fromkeys(bench)}
    try:
        run: Runner = spec.load(path, 1)
    except Exception as exc:  # each runtime raises its own types
        return RuntimeRow(**base, error=f"cannot load: {first_line(exc)}", passed=False)
    errors: list[str] = []
    found = []
    for i, (name, x, lengths) in enumerate(cases):
        try:
            got = np.asarray(run(x, lengths))
        except Exception as exc:  # each runtime raises its own types
            errors.append(f"{name}: {first_line(exc)}")
            continue
        if want is not None:
            found.append(compare(name, spec.name, got, want[i], *tol))
    if want is None:
        errors.append(f"no {reference} output to compare with")
    latency = {key: _latency(lambda f=feeds: run(f["x"], f["lengths"]), repeats)  # type: ignore[misc]
               for key, feeds in bench.items()} if timed and not errors else base["latency_ms"]
    return _judged(spec, base, latency, errors, found)


def fastest_files(rows: list[RuntimeRow]) -> dict[str, dict[str, str]]:
    """Per runtime and bench shape, the float32 file (``model.onnx`` or ``model.portable.onnx``) that ran fastest.

    Only rows that passed against PyTorch and were timed count, so a runtime
    that computes a file wrongly or is not a gate (``passed`` None) gets no
    recommendation; int8/fp16 trade accuracy for size and are left out.
    From the latencies already measured: nothing is timed again.
    """
    best: dict[str, dict[str, tuple[float, str]]] = {}
    for row in rows:
        if row.variant not in EXACT_VARIANTS or row.passed is not True:
            continue
        for shape, ms in row.latency_ms.items():
            if ms is not None and ms < best.setdefault(row.runtime, {}).get(shape, (float("inf"), ""))[0]:
                best[row.runtime][shape] = (ms, row.file)
    return {name: {shape: file for shape, (_, file) in shapes.items()} for name, shapes in best.items() if shapes}


def _judged(spec: Any, base: dict[str, Any], latency: dict[str, float | None], errors: list[str],
            found: list[Case]) -> RuntimeRow:
    """A row of a runtime that loaded the file; a ``gate=False`` runtime's row gets no verdict."""
    passed = not errors and bool(found) and all(c.passed for c in found)
    return RuntimeRow(**{**base, "latency_ms": latency}, loads=True, error="; ".join(errors) or None,
                      max_abs=finite_or_none(max((c.max_abs for c in found), default=float("nan"))),
                      max_rel=finite_or_none(max((c.max_rel for c in found), default=float("nan"))),
                      passed=passed if spec.gate else None)


def _streaming_rows(
    folder: Path, net: Any, meta: ModelMeta, section: StreamingSection, timed: bool, repeats: int,
    runtimes: list[str] | None,
) -> list[RuntimeRow]:
    """Each runtime runs ``model.streaming.onnx`` chunk by chunk, as an app feeding a stream would."""
    from rnnzoo.core.registry import get_runtime, list_runtimes

    io = IoSpec.for_streaming(meta.input_size, meta.per_step, section.state_shapes, meta.task, section.frame)
    rows = []
    for name in runtimes if runtimes is not None else list_runtimes():
        spec = get_runtime(name)
        reason = unavailable(spec) or (None if spec.load_graph is not None else
                                       "cannot run a graph with state inputs (its RuntimeSpec has no load_graph)")
        version = installed_version(spec)
        if reason is not None:
            rows.append(RuntimeRow(name, "streaming", section.file, version, skipped=reason))
            continue
        rows.append(_streaming_row(spec, folder / section.file, version, net, io, meta.model,
                                   timed and name not in NO_LATENCY, repeats))
    return rows


def _streaming_row(spec: Any, path: Path, version: str | None, net: Any, io: IoSpec, model: str, timed: bool,
                   repeats: int) -> RuntimeRow:
    from rnnzoo.exporting.streaming import chunked_cases

    base: dict[str, Any] = {"runtime": spec.name, "variant": "streaming", "file": path.name, "version": version,
                            "reference": "pytorch", "latency_ms": {STREAM_LATENCY: None}}
    try:
        run = spec.load_graph(path, 1)
    except Exception as exc:  # each runtime raises its own types
        return RuntimeRow(**base, error=f"cannot load: {first_line(exc)}", passed=False if spec.gate else None)
    try:
        cases = chunked_cases(net, io, run, spec.name, model)
    except Exception as exc:  # each runtime raises its own types
        return _judged(spec, base, base["latency_ms"], [first_line(exc)], [])
    latency = base["latency_ms"]
    if timed:
        feeds = io.sample_inputs("streaming")[0].feeds  # states carry the batch on axis 1
        step = {"x": feeds["x"][:1, : io.frame], **{s: feeds[s][:, :1] for s in io.state_names}}  # one frame
        latency = {STREAM_LATENCY: _latency(lambda: run(step), repeats)}
    return _judged(spec, base, latency, [], cases)


def _latency(call: Callable[[], Any], repeats: int) -> float | None:
    try:
        return round(median_ms(call, repeats, warmup=1), 4)
    except Exception:  # it ran the parity cases; a failure here is recorded as "not measured"
        return None


def _onnxruntime_outputs(
    folder: Path, files: list[tuple[str, str]], cases: list[tuple[str, np.ndarray, np.ndarray]]
) -> dict[str, list[np.ndarray]]:
    """onnxruntime's output of each variant file on every case: what other runtimes' int8/fp16 are held to."""
    from rnnzoo.deploy.runtime import make_session, run_session

    out = {}
    for variant, file in files:
        if variant in EXACT_VARIANTS:
            continue
        try:
            session = make_session(folder / file, threads=1)
            out[file] = [np.asarray(run_session(session, x, lengths)) for _, x, lengths in cases]
        except Exception:  # that file's rows then say there is nothing to compare with
            continue
    return out


def _tolerance(model: str) -> tuple[float, float]:
    from rnnzoo.core.registry import get_spec
    from rnnzoo.errors import UnknownModelError

    try:
        tol = get_spec(model).tolerance
    except UnknownModelError:
        return 1e-4, 1e-3
    return tol.atol, tol.rtol


