"""Issue 7 matrix: torch eager vs onnxruntime, fused export (before) vs lowered export (after), one run.

    .venv/bin/python benchmarks/bench_lowering.py [--threads 1 2] [--repeats 9] [--cells rnn lstm gru]
        [--hidden 64 256] [--json out.json]

For cell x hidden x batch 1/64 x length 50/500 x threads: median ms of
torch eager, ORT on today's export (one fused RNN/LSTM/GRU node per
direction) and ORT on the export rnnzoo writes (plain RNN layers rewritten by
rnnzoo.exporting.lowering; LSTM/GRU stay fused, so their two columns time the same
graph), the torch/ORT ratios (>1: ORT faster), and the recurrent
layer's achieved GFLOP/s per runtime next to the sgemm peak measured at the
same thread count. Untrained weights, input_size 10: latency does not depend
on the weights. Only ratios from one run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

import onnxruntime
import torch

import rnnzoo
from rnnzoo.exporting.exporter import resolve_source, to_onnx
from rnnzoo.zoo.bench import add_gflops, compare_latency, matmul_peak_gflops, recurrent_flops


def _make(cell: str, hidden: int) -> Any:
    torch.manual_seed(0)
    return resolve_source(rnnzoo.create_model(f"{cell}_classifier", input_size=10, output_size=4, hidden_size=hidden))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    onnxruntime.set_default_logger_severity(3)
    print(f"torch={torch.__version__} onnxruntime={onnxruntime.__version__} python={platform.python_version()} "
          f"machine={platform.machine()}")
    peaks = {t: matmul_peak_gflops(t) for t in args.threads}
    print("sgemm peak (torch.mm 1024^3, best of 7): " + ", ".join(f"{t} thr {p:.1f} GFLOP/s" for t, p in peaks.items()))
    print(f"{'cell':<5}{'hid':>4}{'batch':>6}{'len':>5}{'thr':>4} {'torch ms':>9} {'fused ms':>9} {'lower ms':>9} "
          f"{'before':>7} {'after':>7}  {'GFLOP/s torch':>13} {'fused':>6} {'lower':>6} {'lower/peak':>10}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            for cell in args.cells:
                for hidden in args.hidden:
                    net, meta = _make(cell, hidden)
                    fused, lowered = Path(tmp, f"{cell}{hidden}.onnx"), Path(tmp, f"{cell}{hidden}.low.onnx")
                    fused.write_bytes(to_onnx(net, meta, 18, lower=False).SerializeToString())
                    lowered.write_bytes(to_onnx(net, meta, 18).SerializeToString())
                    for batch in args.batches:
                        for length in args.lengths:
                            reps = max(3, args.repeats // 3) if batch * length * hidden >= 64 * 500 * 256 else \
                                args.repeats
                            r = compare_latency(net, fused, batch, length, threads, reps, lowered)
                            row = add_gflops({"cell": cell, "hidden": hidden, "batch": batch, "length": length,
                                              "threads": threads, "peak_gflops": peaks[threads], **r},
                                             recurrent_flops(cell, hidden, 10, batch, length), peak=peaks[threads])
                            rows.append(row)
                            print(f"{cell:<5}{hidden:>4}{batch:>6}{length:>5}{threads:>4} {r['torch_ms']:>9.3f} "
                                  f"{r['onnx_ms']:>9.3f} {r['variant_ms']:>9.3f} {r['speedup']:>6.2f}x "
                                  f"{r['variant_speedup']:>6.2f}x  {row['torch_gflops']:>13.1f} "
                                  f"{row['onnx_gflops']:>6.1f} {row['variant_gflops']:>6.1f} "
                                  f"{row['variant_of_peak']:>9.0%}", flush=True)
    if args.json:
        versions = {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
        args.json.write_text(json.dumps({"versions": versions, "peaks": peaks, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
