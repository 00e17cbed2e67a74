"""Data-parallel benchmark: one process vs N torchrun workers (gloo, this machine), same global batch.

    .venv/bin/python benchmarks/bench_distributed.py [--nproc 2] [--epochs 3] [--batch-size 64]

Both runs go through `rnnzoo train` on the same saved dataset (1,000 sines of
10-200 steps) and seed; throughput is training samples per second of epoch
time from each run's history.json (process start-up excluded), so the ratio
shows what the extra workers buy on this machine. Each worker gets
cpu_count / N torch threads; the single process runs once with all cores
and once with that same per-worker count, so the table separates the gain
of data parallelism from that of fewer threads per process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from rnnzoo.data.builtin import sines
from rnnzoo.zoo.machine import describe, machine_info


def run(cmd: list[str], out: Path, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLOO_SOCKET_IFNAME": "lo"}
    subprocess.run([*cmd, "--out", str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
    history = json.loads((out / "history.json").read_text())
    return sum(h["seconds"] for h in history)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--model", default="lstm_classifier")
    args = ap.parse_args()
    machine = machine_info((os.cpu_count() or 1,))  # where the figures come from: CPU, ISA, cores, versions, sgemm peak
    print("\n".join(describe(machine)))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        data = sines(n=1000, min_len=10, max_len=200)
        path = Path(tmp) / "data.npz"
        np.savez(path, X=data.x, y=data.y, lengths=data.lengths)
        n_train = round(len(data) * 0.8)
        base = [sys.executable, "-m", "rnnzoo", "train", args.model, "--data", str(path), "--epochs",
                str(args.epochs), "--batch-size", str(args.batch_size), "--no-early-stop", "--quiet"]
        thin = max(1, cores // args.nproc)
        seconds = {
            (1, cores): run(base, Path(tmp) / "one", cores),
            (1, thin): run(base, Path(tmp) / "thin", thin),
            (args.nproc, thin): run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                     f"--nproc-per-node={args.nproc}", *base[1:]], Path(tmp) / "many", thin),
        }
    print(f"cores={cores} torch={torch.__version__} python={platform.python_version()} model={args.model} "
          f"global batch={args.batch_size} epochs={args.epochs}")
    print(f"{'processes':>9} {'threads each':>12} {'samples/s':>10} {'vs 1 process, all cores':>24}")
    base_rate = n_train * args.epochs / seconds[(1, cores)]
    for (procs, threads), secs in seconds.items():
        rate = n_train * args.epochs / secs
        print(f"{procs:>9} {threads:>12} {rate:>10.0f} {rate / base_rate:>23.2f}x")


if __name__ == "__main__":
    main()
