"""Issue 7 matrix: torch eager vs onnxruntime, fused export (before) vs lowered export (after), one run.

    .venv/bin/python benchmarks/bench_lowering.py [--threads 1 2] [--repeats 9] [--cells rnn lstm gru]
        [--hidden 64 256] [--batches 1 64] [--lengths 50 500] [--runtime NAME,...|all] [--json out.json]

For cell x hidden x batch 1/64 x length 50/500 x threads: median ms of
torch eager, ORT on today's export (one fused RNN/LSTM/GRU node per
direction) and ORT on the export rnnzoo writes (plain RNN layers rewritten by
rnnzoo.exporting.lowering; LSTM/GRU stay fused, so their two columns time the same
graph), the torch/ORT ratios (>1: ORT faster), and the recurrent
layer's achieved GFLOP/s per runtime next to the sgemm peak measured at the
same thread count. ``--runtime`` adds one column per registered runtime, each
timed on rnnzoo's export in the same rounds (same threads where the runtime
has a thread setting; the header names those that ignore it), only once its
output on a small ragged batch is within 1e-4 of PyTorch ("-" and the reason
otherwise), and torch ms / the fastest such runtime's ms. The header names the
CPU, torch's ISA, onnxruntime's providers and every library version.
Untrained weights, input_size 10: latency does not depend on the weights.
Only ratios from one run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

import rnnzoo
from rnnzoo.exporting.exporter import resolve_source, to_onnx
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.zoo.bench import (
    add_gflops,
    bench_environment,
    compare_latency,
    matmul_peak_gflops,
    recurrent_flops,
    select_runtimes,
    torch_threads,
)

TOLERANCE = 1e-4  # max abs difference from PyTorch on the ragged check batch for a runtime to be timed


def _make(cell: str, hidden: int) -> Any:
    torch.manual_seed(0)
    return resolve_source(rnnzoo.create_model(f"{cell}_classifier", input_size=10, output_size=4, hidden_size=hidden))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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
    """Per runtime: None when its output on a small ragged batch is within TOLERANCE of PyTorch's, else why not."""
    feeds = IoSpec.for_model(10).sample_inputs("example", n=4)[0].feeds  # seeded, lengths 9/3/1/6
    x, lengths = feeds["x"], feeds["lengths"]
    with torch_threads(threads), torch.inference_mode():
        want = net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    verdicts: dict[str, str | None] = {}
    for name in runtimes:
        try:
            got = np.asarray(rnnzoo.get_runtime(name).load(path, threads)(x, lengths))
        except Exception as exc:  # each runtime raises its own types
            verdicts[name] = f"check run failed: {_first_line(exc)}"
            continue
        if got.shape != want.shape:
            verdicts[name] = f"output shape {got.shape} != torch {want.shape}"
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        verdicts[name] = None if err <= TOLERANCE else f"max abs diff {err:.2e} > {TOLERANCE:g} vs torch"
    return verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--runtime", default="",
                    help="NAME,...|all: also time these registered runtimes on rnnzoo's export (all: every "
                         "installed one but the slow reference evaluator)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    onnxruntime.set_default_logger_severity(3)
    runtimes = select_runtimes(args.runtime) if args.runtime else []
    peaks = {t: matmul_peak_gflops(t) for t in args.threads}
    env = bench_environment(args.threads[0], peaks[args.threads[0]])
    env.pop("threads")
    env.pop("sgemm_peak_gflops")
    env = {"cpu_model": _cpu_model(), "isa": torch.backends.cpu.get_cpu_capability(), **env,
           "onnxruntime_providers": onnxruntime.get_available_providers(),
           "runtime_versions": {n: _version(n) for n in runtimes},
           "sgemm_peak_gflops": {t: round(p, 1) for t, p in peaks.items()}}
    ignoring = [n for n in runtimes if _ignores_threads(n)]
    print(f"cpu={env['cpu_model']!r} isa={env['isa']} cores={env['cpu_count']} machine={env['machine']} "
          f"python={env['python']}")
    print(f"torch={env['torch']} onnxruntime={env['onnxruntime']} providers={','.join(env['onnxruntime_providers'])}")
    if runtimes:
        print("runtimes (on rnnzoo's export): " + ", ".join(f"{n}={v}" for n, v in env["runtime_versions"].items())
              + f"; ignore --threads: {', '.join(ignoring) or 'none'}; verified = within {TOLERANCE:g} abs of "
              "torch on a ragged batch (4 x 9, lengths 9/3/1/6)")
    print("sgemm peak (torch.mm 1024^3, best of 7): " + ", ".join(f"{t} thr {p:.1f} GFLOP/s" for t, p in peaks.items()))
    extra = "".join(f" {n + ' ms':>10}" for n in runtimes)
    best_cols = f" {'torch/best':>10} {'best':>11}" if runtimes else ""
    print(f"{'cell':<5}{'hid':>4}{'batch':>6}{'len':>5}{'thr':>4} {'torch ms':>9} {'fused ms':>9} {'lower ms':>9} "
          f"{'before':>7} {'after':>7}  {'GFLOP/s torch':>13} {'fused':>6} {'lower':>6} {'lower/peak':>10}"
          f"{extra}{best_cols}")
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            for cell in args.cells:
                for hidden in args.hidden:
                    net, meta = _make(cell, hidden)
                    fused, lowered = Path(tmp, f"{cell}{hidden}.onnx"), Path(tmp, f"{cell}{hidden}.low.onnx")
                    fused.write_bytes(to_onnx(net, meta, 18, lower=False).SerializeToString())
                    lowered.write_bytes(to_onnx(net, meta, 18).SerializeToString())
                    verdicts = _verify(net, lowered, runtimes, threads)
                    checks.append({"cell": cell, "hidden": hidden, "threads": threads, "unverified": verdicts})
                    for name, why in verdicts.items():
                        if why is not None:
                            print(f"  ! {cell} hid {hidden} thr {threads}: {name} unverified, not timed: {why}")
                    verified = [n for n in runtimes if verdicts[n] is None]
                    for batch in args.batches:
                        for length in args.lengths:
                            reps = max(3, args.repeats // 3) if batch * length * hidden >= 64 * 500 * 256 else \
                                args.repeats
                            # the lowered export is the "onnx" graph here so the runtimes time it, in the same
                            # rounds as torch and ORT on both exports
                            r = compare_latency(net, lowered, batch, length, threads, reps, fused,
                                                runtimes=verified)
                            r = {"torch_ms": r["torch_ms"], "onnx_ms": r["variant_ms"], "variant_ms": r["onnx_ms"],
                                 "speedup": r["variant_speedup"], "variant_speedup": r["speedup"],
                                 "runtimes_ms": {n: r.get("runtimes_ms", {}).get(n) for n in runtimes},
                                 "runtime_errors": {**{n: w for n, w in verdicts.items() if w is not None},
                                                    **r.get("runtime_errors", {})}}
                            timed = {n: ms for n, ms in r["runtimes_ms"].items() if ms is not None}
                            fastest = min(timed, key=lambda n: timed[n]) if timed else None
                            r["fastest_runtime"] = fastest
                            r["torch_over_fastest"] = r["torch_ms"] / timed[fastest] if fastest else None
                            row = add_gflops({"cell": cell, "hidden": hidden, "batch": batch, "length": length,
                                              "threads": threads, "peak_gflops": peaks[threads], **r},
                                             recurrent_flops(cell, hidden, 10, batch, length), peak=peaks[threads])
                            rows.append(row)
                            cols = "".join(f" {_num(r['runtimes_ms'][n], '10.3f')}" for n in runtimes)
                            if runtimes:
                                ratio = r["torch_over_fastest"]
                                cols += f" {f'{ratio:.2f}x' if ratio is not None else '-':>10} {fastest or '-':>11}"
                            print(f"{cell:<5}{hidden:>4}{batch:>6}{length:>5}{threads:>4} {r['torch_ms']:>9.3f} "
                                  f"{r['onnx_ms']:>9.3f} {r['variant_ms']:>9.3f} {r['speedup']:>6.2f}x "
                                  f"{r['variant_speedup']:>6.2f}x  {row['torch_gflops']:>13.1f} "
                                  f"{row['onnx_gflops']:>6.1f} {row['variant_gflops']:>6.1f} "
                                  f"{row['variant_of_peak']:>9.0%}{cols}", flush=True)
                            for name, why in r["runtime_errors"].items():
                                if name not in verdicts or verdicts[name] is None:  # failed while timing
                                    print(f"  ! {name}: {why}")
    if args.json:
        versions = {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__, **env["runtime_versions"]}
        args.json.write_text(json.dumps({"environment": env, "versions": versions, "peaks": peaks,
                                         "runtimes": runtimes, "ignore_threads": ignoring, "tolerance": TOLERANCE,
                                         "checks": checks, "rows": rows}, indent=2))


def _num(value: float | None, spec: str) -> str:
    return format(value, spec) if value is not None else "-".rjust(int(spec.split(".")[0]))


if __name__ == "__main__":
    main()
