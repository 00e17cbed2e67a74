"""Real-data benchmark: every registered model on every offline UCR/UEA/TSER set, default settings only.

    .venv/bin/python benchmarks/bench_real.py [--jobs 2] [--seeds 3] [--models 'gru_*'] [--datasets gunpoint]
                                              [--out benchmarks/results/bench_real.json]

Each (model, dataset, seed) run is ``rnnzoo.train(model, dataset, seed=s)``
with nothing else: the trainer's defaults and the model's own
``train_defaults``, the archive's standard train/test split (validation
carved from the training part), one torch thread per run, ``--jobs`` runs
at once. The table gives test accuracy (mean and spread over seeds) or test
RMSE per model and dataset beside published results read from
``real_references.json`` (each with its source there; blank = not found),
the majority-class rate (or the RMSE of predicting the training mean),
and the wall time per dataset. It ends with the issue's targets, met or not:
no (model, dataset) at chance level; the best built-in beats 1-NN DTW on at
least 3/4 of the classification sets that have a DTW figure; the whole
suite within 30 minutes.

"At chance" here: mean test accuracy below the majority rate plus two
binomial standard errors of that rate on the test split (for regression:
RMSE above 0.9 x the RMSE of the training mean).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

REFERENCES = Path(__file__).with_name("real_references.json")
SUITE_LIMIT_S = 30 * 60


def cpu_name() -> str:
    """The CPU model: one home for it, rnnzoo.zoo.machine (every benchmark names its CPU the same way)."""
    from rnnzoo.zoo.machine import cpu_model

    return cpu_model()


def one_run(model: str, dataset: str, seed: int) -> dict[str, Any]:
    """Train with defaults in this worker process; the test metric, epochs and seconds."""
    import torch

    torch.set_num_threads(1)
    import rnnzoo

    start = time.perf_counter()
    result = rnnzoo.train(model, dataset, seed=seed, quiet=True)
    test = result.test_metrics or {}
    return {"model": model, "dataset": dataset, "seed": seed,
            "accuracy": test.get("accuracy"), "rmse": test.get("rmse"),
            "epochs": len(result.history), "seconds": round(time.perf_counter() - start, 2)}


def baseline(dataset: str) -> float:
    """Majority-class test accuracy, or the test RMSE of always predicting the training mean."""
    import rnnzoo

    ds = rnnzoo.load_dataset(dataset)
    assert ds.split is not None, f"{dataset} has no standard split"
    train, test = ds.split == "train", ds.split == "test"
    if ds.task == "classification":
        return float(np.mean(ds.y[test] == np.bincount(ds.y[train]).argmax()))
    return float(np.sqrt(np.mean((ds.y[test] - ds.y[train].mean(axis=0)) ** 2)))


def at_chance(task: str, mean: float, base: float, n_test: int) -> bool:
    if task == "classification":
        return mean < base + 2 * math.sqrt(base * (1 - base) / n_test)
    return mean > 0.9 * base


def pick(names: list[str], patterns: str | None) -> list[str]:
    if not patterns:
        return names
    wanted = patterns.split(",")
    return [n for n in names if any(fnmatch.fnmatch(n, p) for p in wanted)]


def plan(models: str | None, datasets: str | None, seeds: int) -> list[tuple[str, str, int]]:
    """Every (model, dataset, seed) whose task fits; per-step-only models and datasets are left out."""
    import rnnzoo
    from rnnzoo.core.registry import get_dataset_spec
    from rnnzoo.data.archive import ARCHIVE

    sets = pick([e.name for e in ARCHIVE], datasets)
    runs = []
    for name in pick(rnnzoo.list_models(), models):
        spec = rnnzoo.get_spec(name)
        runs += [(name, d, s) for d in sets if get_dataset_spec(d).task == spec.task for s in range(seeds)]
    return runs


def run_all(runs: list[tuple[str, str, int]], jobs: int) -> tuple[list[dict[str, Any]], float]:
    rows, start = [], time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one_run, *r): r for r in runs}
        for done, fut in enumerate(as_completed(futures), start=1):
            try:
                row = fut.result()
            except Exception as exc:  # a failing model is a result too, named in the table
                m, d, s = futures[fut]
                row = {"model": m, "dataset": d, "seed": s, "error": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
            what = row["error"] if "error" in row else row["accuracy"] if row["accuracy"] is not None else row["rmse"]
            print(f"[{done}/{len(runs)}] {row['model']} {row['dataset']} seed {row['seed']}: {what} "
                  f"({row.get('seconds', '-')} s)", file=sys.stderr, flush=True)
    return rows, time.perf_counter() - start


def summarize(rows: list[dict[str, Any]], wall: float, jobs: int) -> dict[str, Any]:
    """Per (model, dataset) mean/spread, per dataset references and time, and the targets."""
    import rnnzoo
    from rnnzoo.core.registry import get_dataset_spec

    refs = json.loads(REFERENCES.read_text())
    table: dict[str, Any] = {}
    for dataset in sorted({r["dataset"] for r in rows}):
        spec = get_dataset_spec(dataset)
        key = "accuracy" if spec.task == "classification" else "rmse"
        mine = [r for r in rows if r["dataset"] == dataset]
        base = baseline(dataset)
        n_test = spec.samples[1] if spec.samples else len(rnnzoo.load_dataset(dataset))
        cells = {}
        for model in sorted({r["model"] for r in mine}):
            values = [r[key] for r in mine if r["model"] == model and r.get(key) is not None]
            errors = [r["error"] for r in mine if r["model"] == model and "error" in r]
            if not values:
                cells[model] = {"error": errors[0] if errors else "no result"}
                continue
            mean = statistics.fmean(values)
            cells[model] = {"mean": mean, "std": statistics.pstdev(values), "runs": len(values),
                            "at_chance": at_chance(spec.task, mean, base, n_test)}
        table[dataset] = {"task": spec.task, "metric": key, "baseline": base, "models": cells,
                          "references": refs[spec.task].get(dataset, {}),
                          "seconds": round(sum(r.get("seconds", 0) for r in mine), 1)}
    return {"table": table, "targets": targets(table, wall), "wall_seconds": round(wall, 1), "jobs": jobs}


def targets(table: dict[str, Any], wall: float) -> dict[str, Any]:
    chance = [f"{m} on {d}" for d, row in table.items() for m, c in row["models"].items()
              if c.get("at_chance") or "error" in c]
    with_dtw = [d for d, row in table.items() if row["task"] == "classification"
                and row["references"].get("dtw") is not None]
    beats = [d for d in with_dtw if max((c.get("mean", 0.0) for c in table[d]["models"].values()), default=0.0)
             > table[d]["references"]["dtw"]]
    return {"at_chance": chance, "no_model_at_chance": not chance,
            "beats_dtw": beats, "sets_with_dtw": with_dtw,
            "best_beats_dtw_on_3_of_4": bool(with_dtw) and len(beats) >= 0.75 * len(with_dtw),
            "under_30_minutes": wall <= SUITE_LIMIT_S}


def fmt(cell: dict[str, Any], metric: str) -> str:
    if "error" in cell:
        return "error"
    flag = " (chance)" if cell["at_chance"] else ""
    digits = 3 if metric == "accuracy" else 4
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}{flag}"


def markdown(summary: dict[str, Any]) -> str:
    """The results as Markdown tables: one for classification, one for regression, then the targets."""
    lines = []
    for task, refs in (("classification", ("fcn", "resnet", "dtw", "lstm_fcn")),
                       ("regression", ("rocket", "fcn", "resnet", "inception"))):
        rows = {d: r for d, r in summary["table"].items() if r["task"] == task}
        if not rows:
            continue
        models = sorted({m for r in rows.values() for m in r["models"]})
        base = "majority" if task == "classification" else "mean-RMSE"
        head = ["dataset", base, *models, *refs, "time (s)"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for d, r in rows.items():
            ref_cells = [("" if r["references"].get(k) is None else f"{r['references'][k]:.3f}") for k in refs]
            cells = [fmt(r["models"][m], r["metric"]) if m in r["models"] else "" for m in models]
            lines.append("| " + " | ".join([d, f"{r['baseline']:.3f}", *cells, *ref_cells, f"{r['seconds']:.0f}"])
                         + " |")
        lines.append("")
    t = summary["targets"]
    lines += [
        f"- no (model, dataset) at chance: {'met' if t['no_model_at_chance'] else 'NOT met'}"
        + (f" ({'; '.join(t['at_chance'])})" if t["at_chance"] else ""),
        f"- best built-in beats 1-NN DTW on >= 3/4 of the sets with a DTW figure: "
        f"{'met' if t['best_beats_dtw_on_3_of_4'] else 'NOT met'} ({len(t['beats_dtw'])}/{len(t['sets_with_dtw'])}: "
        f"{', '.join(t['beats_dtw']) or 'none'})",
        f"- whole suite under 30 minutes: {'met' if t['under_30_minutes'] else 'NOT met'} "
        f"({summary['wall_seconds'] / 60:.1f} min with --jobs {summary['jobs']})",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (worker processes, 1 torch thread each)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--models", help="comma-separated model name patterns [every registered model]")
    ap.add_argument("--datasets", help="comma-separated dataset name patterns [every offline set]")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_real.json"))
    args = ap.parse_args()
    runs = plan(args.models, args.datasets, args.seeds)
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical cores), {len(runs)} runs, --jobs {args.jobs}", flush=True)
    rows, wall = run_all(runs, args.jobs)
    summary = summarize(rows, wall, args.jobs)
    summary.update({"cpu": cpu_name(), "cores": os.cpu_count(), "runs": rows,
                    "command": " ".join([Path(sys.executable).name, *sys.argv])})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1, default=str))
    print(markdown(summary))
    print(f"\nfull results: {args.out}")


if __name__ == "__main__":
    main()
