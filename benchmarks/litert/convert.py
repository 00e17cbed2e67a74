"""LiteRT evidence: rnnzoo's own `export(..., litert=(batch, time))` on several models and shapes, in one run.

For each case it exports a seeded, untrained model with a `model.tflite`, then prints the file's fixed shape
(rnnzoo may enlarge the asked one, see rnnzoo/exporting/litert.py collision_free_shape), its size, whether the
op list (all subgraphs) is builtin-only, the worst parity difference the card records (vs PyTorch and vs
onnxruntime, five ragged cases padded to the shape), the conversion seconds, and the median latency of one
full batch in plain LiteRT and in onnxruntime on the same input (1 thread, interleaved), naming the CPU.

Usage (needs `make setup`, which installs the litert extra):
  .venv/bin/python benchmarks/litert/convert.py                  # the default cases below
  .venv/bin/python benchmarks/litert/convert.py --quick          # rnn/lstm/gru at 1x32 only
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import rnnzoo
from rnnzoo.deploy.card import read_card
from rnnzoo.runtimes import litert

CASES = [
    ("rnn_classifier", {}, (1, 128)), ("lstm_classifier", {}, (1, 128)), ("gru_classifier", {}, (1, 128)),
    ("lstm_classifier", {}, (4, 12)), ("gru_regressor", {}, (8, 50)),
    ("lstm_classifier", {"num_layers": 2, "bidirectional": True}, (4, 12)),
    ("gru_classifier", {"num_layers": 2, "bidirectional": True}, (1, 64)),
]
QUICK = [("rnn_classifier", {}, (1, 32)), ("lstm_classifier", {}, (1, 32)), ("gru_classifier", {}, (1, 32))]


def cpu_name() -> str:
    """The CPU model: one home for it, rnnzoo.zoo.machine (every benchmark names its CPU the same way)."""
    from rnnzoo.zoo.machine import cpu_model

    return cpu_model()


def latency_ms(run_litert, session, x: np.ndarray, lengths: np.ndarray, repeats: int = 30) -> tuple[float, float]:
    """Median ms of one batch, LiteRT and onnxruntime interleaved so both see the same machine load."""
    lite, onnx = [], []
    for _ in range(3):
        run_litert(x, lengths)
        session.run(None, {"x": x, "lengths": lengths})
    for _ in range(repeats):
        start = time.perf_counter()
        run_litert(x, lengths)
        lite.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.run(None, {"x": x, "lengths": lengths})
        onnx.append(time.perf_counter() - start)
    return statistics.median(lite) * 1e3, statistics.median(onnx) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}; ai-edge-litert {rnnzoo.get_runtime('litert').version()}, "
          f"onnxruntime {ort.__version__}, 1 thread")
    print("| model | hparams | asked | file shape | .tflite KB | builtin only | max abs vs PyTorch | "
          "max abs vs onnxruntime | convert s | LiteRT ms | onnxruntime ms |")
    print("|---|---|---|---|---:|---|---:|---:|---:|---:|---:|")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, hparams, shape) in enumerate(QUICK if args.quick else CASES):
            torch.manual_seed(0)
            model = rnnzoo.create_model(name, input_size=3, output_size=2, **hparams)
            folder = rnnzoo.export(model, Path(tmp) / str(i), int8=False, fp16=False, litert=shape).folder
            lite = read_card(folder).litert
            assert lite is not None
            cases = lite["parity"]["cases"]
            batch, steps = lite["shape"]["batch"], lite["shape"]["time"]
            rng = np.random.default_rng(0)
            x = rng.standard_normal((batch, steps, 3)).astype(np.float32)
            lengths = np.full(batch, steps, np.int64)
            run = litert.load(folder / "model.tflite", 1)
            session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
            lite_ms, ort_ms = latency_ms(run, session, x, lengths)
            print(f"| {name} | {hparams or '-'} | {shape[0]}x{shape[1]} | {batch}x{steps} | {lite['bytes'] // 1024} | "
                  f"{not litert.non_builtin_ops(lite['ops'])} | {max(c['max_abs_vs_pytorch'] for c in cases):.1e} | "
                  f"{max(c['max_abs_vs_onnxruntime'] for c in cases):.1e} | {lite['seconds']:.1f} | "
                  f"{lite_ms:.3f} | {ort_ms:.3f} |", flush=True)


if __name__ == "__main__":
    main()
