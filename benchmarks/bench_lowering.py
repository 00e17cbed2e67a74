"""Issue 7/17 matrix: torch eager vs onnxruntime on the fused, Scan and default exports (and int8 LSTM), one run.

    .venv/bin/python benchmarks/bench_lowering.py [--threads 1 2] [--repeats 9] [--cells rnn lstm gru]
        [--hidden 64 256] [--batches 1 64] [--lengths 50 500] [--torch-isa default avx2 avx512]
        [--runtime NAME,...|all] [--portable] [--json out.json]

For cell x hidden x batch 1/64 x length 50/500 x threads: median ms of
torch eager; onnxruntime on the fused export (one RNN/LSTM/GRU node per
layer and direction), on the Scan form (every layer rewritten by
rnnzoo.exporting.lowering, input projection inside the step), on the export
rnnzoo writes by default (the lowering's per-op, per-batch choice) and, for
LSTM, on the int8-compute variant (rnnzoo.exporting.variants, timed only when
its argmax agrees with float32 on a ragged batch); torch ms / default ms and
torch ms / the best verified file; the recurrent layer's GFLOP/s next to the
sgemm peak at the same thread count. Each runtime gets the thread count its
own way (torch.set_num_threads; onnxruntime intra_op_num_threads, inter_op 1)
and the whole process is pinned to the first N cores (os.sched_setaffinity)
so figures repeat. ``--torch-isa``: the matrix again in a child process per
level with ``ATEN_CPU_CAPABILITY`` (and oneDNN's / MKL's ISA caps for avx2)
set, so one table shows how the ratio moves with the ISA torch uses;
onnxruntime's MLAS cannot be capped, it keeps the CPU's full ISA.
``--runtime`` adds one column per registered runtime on the default export
(timed only once within 1e-4 of PyTorch on a ragged batch, or, for a
``gate=False`` runtime such as ``openvino_default`` that computes in bf16/int8
by design, once its argmax agrees with float32 like the int8-compute file's;
always wall time, as a runtime may compute on threads of its own). The last
column: torch ms over the fastest verified file and runtime of the row. ``--portable`` times each
of those runtimes on ``model.portable.onnx`` too (the fused export: no
batch-size If, no Scan), a ``NAME port ms`` column beside ``NAME ms``, so
one run shows which file each runtime should get. ``--clock cpu`` (default)
times torch and onnxruntime at 1 thread by the calling thread's CPU time,
which a neighbour on a shared machine does not inflate. The header is
rnnzoo.zoo.machine's record: CPU, ISA, cores, versions, sgemm peak.
Untrained weights, input_size 10: latency does not depend on the weights.
Only ratios from one run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

import rnnzoo
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.exporting.exporter import resolve_source, to_onnx
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.zoo.bench import recurrent_flops, select_runtimes, torch_threads
from rnnzoo.zoo.machine import describe, machine_info

TOLERANCE = 1e-4  # max abs difference from PyTorch on the ragged check batch for a runtime to be timed


def _make(cell: str, hidden: int) -> Any:
    torch.manual_seed(0)
    return resolve_source(rnnzoo.create_model(f"{cell}_classifier", input_size=10, output_size=4, hidden_size=hidden))


def _ignores_threads(name: str) -> bool:
    """Whether the runtime's plugin says it has no thread setting (its limitations or its load docstring)."""
    spec = rnnzoo.get_runtime(name)
    text = f"{spec.limitations} {spec.load.__doc__ or ''}".replace("`", "").lower()
    return "threads is ignored" in text or "no thread setting" in text


def _version(name: str) -> str:
    try:
        return str(rnnzoo.get_runtime(name).version())
    except Exception as exc:  # each runtime raises its own types
        return f"unknown ({type(exc).__name__})"


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:200]


def _verify(net: Any, path: Path, runtimes: Sequence[str], threads: int) -> dict[str, str | None]:
    """Per runtime: None when it may be timed, else why not.

    A float32 runtime must be within TOLERANCE of PyTorch on a small ragged
    batch. A ``gate=False`` runtime (``openvino_default``: OpenVINO's own
    bf16 / int8 dynamic-quantization defaults) is not meant to be: it is
    verified by agreement, as the int8-compute file is (:func:`_agreement`).
    """
    feeds = IoSpec.for_model(10).sample_inputs("example", n=4)[0].feeds  # seeded, lengths 9/3/1/6
    x, lengths = feeds["x"], feeds["lengths"]
    with torch_threads(threads), torch.inference_mode():
        want = net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    verdicts: dict[str, str | None] = {}
    for name in runtimes:
        try:
            run = rnnzoo.get_runtime(name).load(path, threads)
            got = np.asarray(run(x, lengths))
        except Exception as exc:  # each runtime raises its own types
            verdicts[name] = f"check run failed: {_first_line(exc)}"
            continue
        if got.shape != want.shape:
            verdicts[name] = f"output shape {got.shape} != torch {want.shape}"
            continue
        if not rnnzoo.get_runtime(name).gate:
            verdicts[name] = _agreement(net, run, threads)
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        verdicts[name] = None if err <= TOLERANCE else f"max abs diff {err:.2e} > {TOLERANCE:g} vs torch"
    return verdicts


ISA_LEVELS = {  # --torch-isa level -> environment of the child process
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
}


def _exports(cell: str, hidden: int, tmp: str) -> tuple[Any, dict[str, Path]]:
    """The model and its files: fused, scan (forced), default and, for LSTM, the int8-compute variant."""
    from rnnzoo.exporting.variants import quantize_int8_compute

    net, meta = _make(cell, hidden)
    op = cell.upper()
    files = {"fused": Path(tmp, f"{cell}{hidden}.fused.onnx"), "scan": Path(tmp, f"{cell}{hidden}.scan.onnx"),
             "default": Path(tmp, f"{cell}{hidden}.onnx")}
    files["fused"].write_bytes(to_onnx(net, meta, 18, lower=False).SerializeToString())
    files["scan"].write_bytes(_forced(net, meta, {op: "scan"}).SerializeToString())
    files["default"].write_bytes(to_onnx(net, meta, 18).SerializeToString())
    if cell == "lstm":
        files["int8c"] = Path(tmp, f"{cell}{hidden}.int8c.onnx")
        quantize_int8_compute(files["default"], files["int8c"])
    return net, files


def _forced(net: Any, meta: Any, forms: dict[str, str]) -> Any:
    """The export with the lowering's forms overridden (``{"LSTM": "scan"}``), as to_onnx traces it."""
    from rnnzoo.exporting.lowering import lower_recurrent
    from rnnzoo.exporting.portable import make_portable
    from rnnzoo.exporting.trace import onnx_metadata, trace

    io = IoSpec.from_meta(meta)
    return trace(net, io.sample_inputs("trace")[0], io, 18, model=meta.model, metadata=onnx_metadata(meta, 18, io),
                 rewrite=lambda p: make_portable(lower_recurrent(p, forms)))


def _agrees(net: Any, path: Path, threads: int) -> str | None:
    """None when the int8 file's argmax matches float32 torch on a ragged 64-sample batch, else why not."""
    session = make_session(path, threads=threads)
    return _agreement(net, lambda x, lengths: run_session(session, x, lengths), threads)


def _agreement(net: Any, run: Any, threads: int) -> str | None:
    """None when ``run``'s argmax matches float32 torch on a ragged 64-sample batch (rel. error <= 5%), else why not."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 41, 64)
    x = rng.normal(size=(64, 40, 10)).astype(np.float32)
    with torch_threads(threads), torch.inference_mode():
        want = net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    got = np.asarray(run(x, lengths), dtype=np.float32)
    agreement = float(np.mean(got.argmax(1) == want.argmax(1)))
    rel = float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-12))
    return None if agreement >= 0.95 and rel <= 0.05 else f"argmax agreement {agreement:.2f}, rel error {rel:.3f}"


def _median_ms(fn: Any, repeats: int, clock: Any) -> float:
    """Median of ``repeats`` calls after one untimed warm-up, in ms of ``clock``."""
    fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append((clock() - start) * 1e3)
    return float(np.median(times))


def _clock(name: str, threads: int) -> Any:
    """``time.thread_time`` (CPU time of this thread) for ``cpu`` at 1 thread, else ``time.perf_counter``.

    Why CPU time: on a shared machine a call of 500 steps is preempted many
    times and its wall time measures the neighbours. At 1 thread both torch
    and onnxruntime compute on the calling thread, so its CPU time is the
    time the call would take alone. With more threads the work is spread over
    worker threads, and only wall time says anything.
    """
    return time.thread_time if name == "cpu" and threads == 1 else time.perf_counter


def _time_cell(net: Any, files: dict[str, Path], batch: int, length: int, threads: int, repeats: int,
               runtimes: Sequence[str], rounds: int = 3, clock_name: str = "cpu",
               portable: Sequence[str] = ()) -> dict[str, float | None]:
    """Median ms per runner, the runners taking turns for ``rounds`` rounds (best round kept).

    As compare_latency does: a burst of load from a neighbour hits every runner alike. ``portable``: runtimes
    also timed on the fused file (what the export writes as model.portable.onnx), under ``NAME:portable``.
    """
    feeds = IoSpec.for_model(10).sample_inputs("bench", batch=batch, length=length)[0].feeds
    x, lengths = feeds["x"], feeds["lengths"]
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)

    def eager() -> Any:
        with torch.inference_mode():
            return net(xt, lt)

    runners: dict[str, Any] = {"torch": eager}
    for key, path in files.items():
        session = make_session(path, threads=threads)
        runners[key] = lambda s=session: run_session(s, x, lengths)
    for name in runtimes:
        run = rnnzoo.get_runtime(name).load(files["default"], threads)
        runners[name] = lambda r=run: r(x, lengths)
    for name in portable:
        run = rnnzoo.get_runtime(name).load(files["fused"], threads)
        runners[f"{name}:portable"] = lambda r=run: r(x, lengths)
    best: dict[str, float | None] = {k: float("inf") for k in runners}
    clock = _clock(clock_name, threads)
    with torch_threads(threads):
        for _ in range(rounds):
            for key, fn in runners.items():
                if best[key] is None:
                    continue
                try:
                    # other runtimes may compute on threads of their own: only wall time sees those
                    clk = clock if key == "torch" or key in files else time.perf_counter
                    best[key] = min(best[key] or float("inf"), _median_ms(fn, max(1, repeats // rounds), clk))
                except Exception as exc:  # another runtime failing: its column says so, the table goes on
                    if key in files or key == "torch":
                        raise
                    print(f"  ! {key}: {_first_line(exc)}")
                    best[key] = None
    return best


def _pin(threads: int) -> None:
    """Pin the process to the first ``threads`` usable cores: both runtimes' pools then run on the same cores."""
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0) | _ALL_CORES)[:threads]
        os.sched_setaffinity(0, cores)


_ALL_CORES: set[int] = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()

COLUMNS = (f"{'cell':<5}{'hid':>4}{'batch':>6}{'len':>5}{'thr':>4} {'torch ms':>9} {'fused ms':>9} {'scan ms':>9} "
           f"{'export ms':>9} {'int8c ms':>9} {'torch/fused':>11} {'torch/export':>12} {'torch/best':>10}  "
           f"{'GFLOP/s torch':>13} {'export':>6} {'export/peak':>11}")


def _row_text(r: dict[str, Any], runtimes: Sequence[str], portable: bool = False) -> str:
    ms = r["ms"]
    cols = "".join(f" {_num(ms.get(n), '10.3f')}" + (f" {_num(ms.get(n + ':portable'), '15.3f')}" if portable else "")
                   for n in runtimes)
    return (f"{r['cell']:<5}{r['hidden']:>4}{r['batch']:>6}{r['length']:>5}{r['threads']:>4} {ms['torch']:>9.3f} "
            f"{ms['fused']:>9.3f} {ms['scan']:>9.3f} {ms['default']:>9.3f} {_num(ms.get('int8c'), '9.3f')} "
            f"{r['torch_over_fused']:>10.2f}x {r['torch_over_export']:>11.2f}x {r['torch_over_best']:>9.2f}x  "
            f"{r['torch_gflops']:>13.1f} {r['export_gflops']:>6.1f} {r['export_of_peak']:>10.0%}{cols}"
            f"  {r['torch_over_fastest']:>6.2f}x {r['fastest_verified']}")


def run_matrix(args: argparse.Namespace, runtimes: Sequence[str], peaks: dict[int, float]) -> list[dict[str, Any]]:
    """Every cell of the matrix, printed as it is measured."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            _pin(threads)
            for cell in args.cells:
                for hidden in args.hidden:
                    net, files = _exports(cell, hidden, tmp)
                    int8_why = _agrees(net, files["int8c"], threads) if "int8c" in files else "not an LSTM"
                    if "int8c" in files and int8_why is not None:
                        print(f"  ! {cell} hid {hidden}: int8-compute not timed: {int8_why}")
                        del files["int8c"]
                    verdicts = _verify(net, files["default"], runtimes, threads)
                    verified = [n for n in runtimes if verdicts[n] is None]
                    for name, why in verdicts.items():
                        if why is not None:
                            print(f"  ! {cell} hid {hidden} thr {threads}: {name} unverified, not timed: {why}")
                    portable = _verify(net, files["fused"], runtimes, threads) if args.portable else {}
                    for name, why in portable.items():
                        if why is not None:
                            print(f"  ! {cell} hid {hidden} thr {threads}: {name} on the portable file unverified, "
                                  f"not timed: {why}")
                    for batch in args.batches:
                        for length in args.lengths:
                            big = batch * length * hidden >= 64 * 500 * 256
                            reps = max(args.rounds, args.repeats // 3) if big else args.repeats
                            ms = _time_cell(net, files, batch, length, threads, reps, verified, args.rounds, args.clock,
                                            [n for n, why in portable.items() if why is None])
                            flops = recurrent_flops(cell, hidden, 10, batch, length)
                            best = min(v for k, v in ms.items() if k in ("default", "int8c") and v is not None)
                            fastest = min((v, k) for k, v in ms.items() if k not in ("torch", "fused", "scan")
                                          and v is not None)
                            row = {"cell": cell, "hidden": hidden, "batch": batch, "length": length,
                                   "threads": threads, "ms": ms, "int8c_unverified": int8_why,
                                   "torch_over_fused": ms["torch"] / ms["fused"],
                                   "torch_over_export": ms["torch"] / ms["default"],
                                   "torch_over_best": ms["torch"] / best,
                                   "fastest_verified": fastest[1], "torch_over_fastest": ms["torch"] / fastest[0],
                                   "torch_gflops": flops / (ms["torch"] * 1e6),
                                   "export_gflops": flops / (ms["default"] * 1e6), "peak_gflops": peaks[threads]}
                            row["export_of_peak"] = row["export_gflops"] / peaks[threads]
                            rows.append(row)
                            print(_row_text(row, runtimes, args.portable), flush=True)
    _pin(len(_ALL_CORES) or 1)
    return rows


def _child_matrix(level: str, argv: list[str]) -> dict[str, Any]:
    """The matrix measured in a child process with torch's ISA capped to ``level`` (its JSON)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "child.json")
        env = {**os.environ, **ISA_LEVELS[level]}
        caps = " ".join(f"{k}={v}" for k, v in ISA_LEVELS[level].items()) or "(none)"
        print(f"\n=== torch ISA level {level}: {caps}", flush=True)
        subprocess.run([sys.executable, __file__, *argv, "--json", str(out)], env=env, check=True)
        return dict(json.loads(out.read_text()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=9, help="timed calls per runner and cell, over all rounds")
    ap.add_argument("--rounds", type=int, default=3, help="turns each runner takes per cell (its best round is kept)")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="cpu: the calling thread's CPU time at 1 thread (wall time at more), robust to neighbours")
    ap.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--torch-isa", nargs="+", choices=sorted(ISA_LEVELS),
                    help="run the matrix once per level, each in a child process with torch's ISA capped")
    ap.add_argument("--runtime", default="",
                    help="NAME,...|all: also time these registered runtimes on rnnzoo's export (all: every "
                         "installed one but the slow reference evaluator)")
    ap.add_argument("--portable", action="store_true",
                    help="also time each --runtime on model.portable.onnx (the fused export: no If, no Scan)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.torch_isa:
        argv = [a for a in sys.argv[1:] if a not in ("--torch-isa", *ISA_LEVELS)]
        if "--json" in argv:
            k = argv.index("--json")
            del argv[k:k + 2]
        levels = {level: _child_matrix(level, argv) for level in args.torch_isa}
        _print_isa_summary(levels)
        if args.json:
            args.json.write_text(json.dumps({"levels": levels}, indent=2))
        return
    onnxruntime.set_default_logger_severity(3)
    runtimes = select_runtimes(args.runtime) if args.runtime else []
    machine = machine_info(tuple(args.threads), peak_repeats=50)  # 50: the peak on a shared machine
    peaks = {t: float(machine["sgemm_peak_gflops"][str(t)]) for t in args.threads}
    for line in describe(machine):
        print(line)
    if runtimes:
        print("runtimes (on rnnzoo's default export): " + ", ".join(f"{n}={_version(n)}" for n in runtimes)
              + f"; ignore threads: {', '.join(n for n in runtimes if _ignores_threads(n)) or 'none'}")
    print(COLUMNS + "".join(f" {n + ' ms':>10}" + (f" {n + ' port ms':>15}" if args.portable else "")
                            for n in runtimes) + "  torch/fastest verified (which)")
    rows = run_matrix(args, runtimes, peaks)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "runtimes": runtimes, "tolerance": TOLERANCE,
                                         "rows": rows}, indent=2))


def _print_isa_summary(levels: dict[str, dict[str, Any]]) -> None:
    """torch ms / default-export ms per cell, one column per torch ISA level."""
    names = list(levels)
    print("\ntorch/export (torch/best with int8-compute) per torch ISA level: "
          + ", ".join(f"{n}: torch sees {levels[n]['machine']['torch_isa']}" for n in names))
    first = levels[names[0]]["rows"]
    print(f"{'cell':<5}{'hid':>4}{'batch':>6}{'len':>5}{'thr':>4}" + "".join(f" {n:>16}" for n in names))
    for k, r in enumerate(first):
        pairs = [(levels[n]["rows"][k]["torch_over_export"], levels[n]["rows"][k]["torch_over_best"]) for n in names]
        cols = "".join(f" {a:>7.2f}x ({b:>5.2f}x)" for a, b in pairs)
        print(f"{r['cell']:<5}{r['hidden']:>4}{r['batch']:>6}{r['length']:>5}{r['threads']:>4}{cols}")


def _num(value: float | None, spec: str) -> str:
    return format(value, spec) if value is not None else "-".rjust(int(spec.split(".")[0]))


if __name__ == "__main__":
    main()
