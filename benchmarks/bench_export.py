"""Export benchmark: onnxruntime vs PyTorch eager for every built-in, side by side in one run.

    .venv/bin/python benchmarks/bench_export.py [--threads 1] [--repeats 20] [--json out.json]

Prints, per model: export + parity wall time, fp32/int8 sizes, and for
batch 1/64 x length 50/500 the median latency of torch eager, onnxruntime
fp32 and int8 (same thread count), with the torch/ORT ratio (>1: ORT faster).
Untrained weights: latency does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

import rnnzoo
from rnnzoo.zoo.bench import compare_latency
from rnnzoo.zoo.machine import describe, machine_info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--pattern", default="*")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    machine = machine_info((args.threads,))  # where the figures come from: CPU, ISA, cores, versions, sgemm peak
    print("\n".join(describe(machine)))
    print(f"threads={args.threads} torch={torch.__version__} onnxruntime={onnxruntime.__version__} "
          f"python={platform.python_version()} machine={platform.machine()}")
    rows = []
    header = (f"{'model':<26} {'export+parity s':>15} {'fp32 KiB':>9} {'int8 KiB':>9} {'batch':>5} {'len':>4} "
              f"{'torch ms':>9} {'ort ms':>8} {'int8 ms':>8} {'torch/ort':>9} {'fp32/int8':>9}")
    print(header)
    for name in rnnzoo.list_models(args.pattern):
        torch.manual_seed(0)
        model = rnnzoo.create_model(name, input_size=10, output_size=4)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            exp = rnnzoo.export(model, tmp, fp16=False)
            export_s = time.perf_counter() - start
            folder = Path(tmp)
            sizes = [(folder / f).stat().st_size / 1024 for f in ("model.onnx", "model.int8.onnx")]
            for batch in (1, 64):
                for length in (50, 500):
                    r = compare_latency(exp_net(exp), folder / "model.onnx", batch, length, args.threads,
                                        args.repeats, folder / "model.int8.onnx")
                    row = {"model": name, "export_parity_s": export_s, "fp32_kib": sizes[0], "int8_kib": sizes[1],
                           "batch": batch, "length": length, **r}
                    rows.append(row)
                    print(f"{name:<26} {export_s:>15.2f} {sizes[0]:>9.1f} {sizes[1]:>9.1f} {batch:>5} {length:>4} "
                          f"{r['torch_ms']:>9.3f} {r['onnx_ms']:>8.3f} {r['variant_ms']:>8.3f} "
                          f"{r['speedup']:>8.2f}x {r['onnx_ms'] / r['variant_ms']:>8.2f}x", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "threads": args.threads, "rows": rows}, indent=2))


def exp_net(exp: rnnzoo.exporting.exporter.Export) -> torch.nn.Module:  # type: ignore[name-defined]
    return rnnzoo.load_checkpoint(exp.folder / "checkpoint.safetensors").model


if __name__ == "__main__":
    main()
