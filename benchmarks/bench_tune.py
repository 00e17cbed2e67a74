"""Tuning benchmark: `rnnzoo tune` and the FCN plugin with defaults on the offline sets, against FCN's accuracy.

    .venv/bin/python benchmarks/bench_tune.py [--datasets italy_power_demand,gunpoint] [--models lstm_fcn_classifier]
                                              [--trials 30] [--epochs N] [--jobs 2] [--out runs/bench_tune]
    .venv/bin/python benchmarks/bench_tune.py --workers --trials 8 --epochs 4   # one worker vs two, same study size

Per (dataset, model): the model's defaults (``rnnzoo.train``, one run), then
``rnnzoo.tune`` with ``--trials`` trials (selection on validation only; the
best configuration retrained and measured once on the standard test split).
Each row prints both test accuracies beside FCN's published accuracy
(Fawaz et al. 2019, from ``rnnzoo/zoo/real_references.json``), whether it is met, and
the wall time. ``--workers`` times the same study with one and with two
worker processes (``--jobs``) and prints the ratio: two workers split the
trials, so on two idle cores the ratio approaches 2 minus the start-up of a
worker process (torch import) and the final retraining, which one process does.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def header() -> str:
    from rnnzoo.zoo.machine import cpu_model, usable_cores

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"CPU: {cpu_model()}, {usable_cores()} usable cores, load average {load:.1f} at start"


def fcn_reference(dataset: str) -> float | None:
    from rnnzoo.zoo.benchmark import load_references  # the one copy of the published results

    refs = load_references()
    return (refs.get("classification", refs).get(dataset) or {}).get("fcn")


def row(dataset: str, model: str, trials: int, epochs: int | None, jobs: int, out: Path) -> dict[str, Any]:
    import rnnzoo

    extra = {"epochs": epochs} if epochs else {}
    start = time.perf_counter()
    default = rnnzoo.train(model, dataset, quiet=True, **extra)
    default_s = time.perf_counter() - start
    result = rnnzoo.tune(model, dataset, trials=trials, jobs=jobs, out=out / f"{dataset}-{model}", quiet=True,
                         export=False, **extra)
    return {"dataset": dataset, "model": model, "trials": trials,
            "default_test": (default.test_metrics or {}).get("accuracy"), "default_s": round(default_s, 1),
            "tuned_val": result.best_value, "tuned_test": (result.test_metrics or {}).get("accuracy"),
            "tune_s": result.seconds, "fcn": fcn_reference(dataset), "best_params": result.best_params}


def print_row(r: dict[str, Any]) -> None:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    best = max((v for v in (r["default_test"], r["tuned_test"]) if v is not None), default=None)
    met = "-" if r["fcn"] is None or best is None else ("met" if best >= r["fcn"] else "NOT met")
    print(f"| {r['dataset']} | {r['model']} | {fmt(r['default_test'])} ({r['default_s']:.0f}s) | {r['trials']} | "
          f"{fmt(r['tuned_val'])} | {fmt(r['tuned_test'])} ({r['tune_s']:.0f}s) | {fmt(r['fcn'])} | {met} |",
          flush=True)


def workers(model: str, dataset: str, trials: int, epochs: int | None) -> None:
    import rnnzoo

    extra = {"epochs": epochs} if epochs else {}
    seconds = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            rnnzoo.tune(model, dataset, trials=trials, jobs=jobs, out=tmp, quiet=True, export=False, pruner="none",
                        **extra)
            seconds[jobs] = time.perf_counter() - start
        print(f"{model} on {dataset}, {trials} trials: --jobs {jobs}: {seconds[jobs]:.1f}s", flush=True)
    print(f"one worker / two workers = {seconds[1] / seconds[2]:.2f}x")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="italy_power_demand,gunpoint")
    p.add_argument("--models", default="lstm_fcn_classifier")
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="runs/bench_tune")
    p.add_argument("--workers", action="store_true", help="time one worker against two on the same study")
    args = p.parse_args(argv)
    print(header())
    if args.workers:
        workers(args.models.split(",")[0], args.datasets.split(",")[0], args.trials, args.epochs)
        return 0
    print("| dataset | model | defaults: test acc (time) | trials | tuned: best val acc | tuned: test acc (time) "
          "| FCN (Fawaz 2019) | target |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        for model in args.models.split(","):
            print_row(row(dataset, model, args.trials, args.epochs, args.jobs, Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
