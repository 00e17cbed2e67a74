"""int8 variant benchmark: size, latency and accuracy against float32, side by side in one run.

    .venv/bin/python benchmarks/bench_int8.py [--hidden 64,256] [--threads 1] [--repeats 40]
                                              [--epochs 5] [--compare-dynamic] [--json out.json]

For each built-in model (rnn/lstm/gru x classifier/regressor, 10 input
features, 4 outputs) and hidden size: train briefly on a 10-feature version
of the built-in data (``sines`` plus 8 noisy copies of its signal for classifiers; a noisy
two-tone signal plus 9 noise channels with 4 targets for regressors), export
through ``rnnzoo.export`` (so the int8 file is exactly what users get), then
print fp32/int8 KiB and their ratio, the median latency of both onnxruntime
sessions (same threads, calls interleaved so machine noise hits both alike)
at batch 1 and 64 x length 50, and on 1000 held-out samples the argmax
agreement (classifiers) or the relative error ||int8 - fp32|| / ||fp32||
(regressors). ``--compare-dynamic`` adds onnxruntime's ``quantize_dynamic``
(the previous int8 variant) as extra columns.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

import rnnzoo
from rnnzoo.core.atomic import atomic_write
from rnnzoo.data.builtin import sines
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.exporting.variants import INT8_FILE
from rnnzoo.zoo.machine import describe, machine_info

MODELS = ["rnn_classifier", "rnn_regressor", "lstm_classifier", "lstm_regressor", "gru_classifier", "gru_regressor"]
FEATURES, OUTPUTS, LENGTH = 10, 4, 50


def quantize_dynamic_int8(src: Path, dst: Path) -> None:
    """onnxruntime's dynamic quantization (rnnzoo's previous int8 variant), for the comparison columns."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger("root").setLevel(logging.ERROR)  # the quantizer's pre-processing advice
    atomic_write(dst, lambda p: quantize_dynamic(src, p, weight_type=QuantType.QInt8))


def classification_data(n: int, seed: int) -> SequenceDataset:
    """``sines`` (signal, noise) plus 8 channels of the signal at a random gain with fresh noise."""
    base = sines(n=n, seed=seed, max_len=40)
    rng = np.random.default_rng(seed + 100)
    extra = FEATURES - base.num_features
    seqs = [np.concatenate([base.x[i, :n_i], base.x[i, :n_i, :1] * rng.uniform(0.5, 1.5, extra)
                            + rng.normal(0, 0.5, (n_i, extra))], 1)
            for i, n_i in enumerate(base.lengths.tolist())]
    return SequenceDataset.from_sequences(seqs, base.y, task="classification", name="sines10",
                                          label_names=base.label_names)


def regression_data(n: int, seed: int) -> SequenceDataset:
    """Noisy two-tone signal (+ 9 noise channels) -> the clean value at the last 3 steps and the next one."""
    rng = np.random.default_rng(seed)
    seqs, targets = [], []
    for length in rng.integers(12, 41, size=n).tolist():
        t = np.arange(length + 1)
        clean = np.zeros(length + 1)
        for _ in range(2):
            clean += rng.uniform(0.4, 1.0) * np.sin(2 * np.pi * t / rng.uniform(8, 30) + rng.uniform(0, 6.3))
        noisy = clean + rng.normal(0, 0.2, length + 1)
        seqs.append(np.concatenate([noisy[:length, None], rng.normal(size=(length, FEATURES - 1))], 1))
        targets.append(clean[length - OUTPUTS + 1: length + 1][::-1])
    return SequenceDataset.from_sequences(seqs, np.asarray(targets, np.float32), task="regression", name="tones10")


def interleaved_ms(sessions: dict[str, Any], batch: int, repeats: int) -> dict[str, float]:
    """Median ms per session; each repeat calls every session once, in turn."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, LENGTH, FEATURES)).astype(np.float32)
    lengths = np.full(batch, LENGTH, dtype=np.int64)
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(3):
        for s in sessions.values():
            run_session(s, x, lengths)
    for _ in range(repeats):
        for k, s in sessions.items():
            start = time.perf_counter()
            run_session(s, x, lengths)
            times[k].append((time.perf_counter() - start) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def accuracy(task: str, ref: np.ndarray, got: np.ndarray) -> float:
    if task == "classification":
        return float(np.mean(got.argmax(1) == ref.argmax(1)))
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def one(name: str, hidden: int, args: argparse.Namespace) -> dict[str, Any]:
    task = rnnzoo.get_spec(name).task
    make = classification_data if task == "classification" else regression_data
    train, held_out = make(args.n, 0), make(1000, 1)
    res = rnnzoo.train(name, train, epochs=args.epochs, lr=5e-3, batch_size=32, quiet=True,
                       hparams={"hidden_size": hidden})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exp = rnnzoo.export(res, folder, fp16=False, validate=False, data=res.splits.val)
        files = {"fp32": folder / "model.onnx", "int8": folder / INT8_FILE}
        if args.compare_dynamic:
            quantize_dynamic_int8(files["fp32"], folder / "model.dyn.onnx")
            files["dyn"] = folder / "model.dyn.onnx"
        sessions = {k: make_session(p, threads=args.threads) for k, p in files.items()}
        outs = {k: run_session(s, held_out.x, held_out.lengths) for k, s in sessions.items()}
        row: dict[str, Any] = {
            "model": name, "hidden": hidden, "val_metric": _val_metric(res.metrics),
            "scales": exp.card.variants["int8"]["scales"],
            **{f"{k}_kib": p.stat().st_size / 1024 for k, p in files.items()},
        }
        for k in files:
            if k != "fp32":
                row[f"{k}_ratio"] = row[f"{k}_kib"] / row["fp32_kib"]
                row[f"{k}_acc"] = accuracy(task, outs["fp32"], outs[k])
        for batch in (1, 64):
            for k, ms in interleaved_ms(sessions, batch, args.repeats).items():
                row[f"{k}_ms_b{batch}"] = ms
        row["task"] = task
    return row


def _val_metric(metrics: dict[str, float]) -> str:
    if "val_accuracy" in metrics:
        return f"acc {metrics['val_accuracy']:.3f}"
    return f"rmse {metrics['val_rmse']:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", default="64,256")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--n", type=int, default=800, help="training samples")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--compare-dynamic", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    machine = machine_info((args.threads,))  # where the figures come from: CPU, ISA, cores, versions, sgemm peak
    print("\n".join(describe(machine)))
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} torch={torch.__version__} onnxruntime={onnxruntime.__version__} "
          f"python={platform.python_version()} machine={platform.machine()} len={LENGTH} features={FEATURES}")
    head = (f"{'model':<16} {'hid':>4} {'val':>10} {'scales':>10} {'fp32 KiB':>9} {'int8 KiB':>9} {'ratio':>6} "
            f"{'fp32 ms b1':>10} {'int8 ms b1':>10} {'fp32 ms b64':>11} {'int8 ms b64':>11} {'agree/rel err':>13}")
    if args.compare_dynamic:
        head += f" | {'dyn ratio':>9} {'dyn ms b1':>9} {'dyn ms b64':>10} {'dyn agree/err':>13}"
    print(head)
    rows = []
    for hidden in [int(h) for h in args.hidden.split(",")]:
        for name in args.models.split(","):
            r = one(name, hidden, args)
            rows.append(r)
            acc = f"{r['int8_acc']:.4f}" if r["task"] == "classification" else f"{r['int8_acc']:.2e}"
            line = (f"{name:<16} {hidden:>4} {r['val_metric']:>10} {r['scales']:>10} {r['fp32_kib']:>9.1f} "
                    f"{r['int8_kib']:>9.1f} {r['int8_ratio']:>6.3f} {r['fp32_ms_b1']:>10.3f} {r['int8_ms_b1']:>10.3f} "
                    f"{r['fp32_ms_b64']:>11.3f} {r['int8_ms_b64']:>11.3f} {acc:>13}")
            if args.compare_dynamic:
                dacc = f"{r['dyn_acc']:.4f}" if r["task"] == "classification" else f"{r['dyn_acc']:.2e}"
                line += (f" | {r['dyn_ratio']:>9.3f} {r['dyn_ms_b1']:>9.3f} {r['dyn_ms_b64']:>10.3f} "
                         f"{dacc:>13}")
            print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "threads": args.threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
