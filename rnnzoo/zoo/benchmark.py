"""``rnnzoo benchmark``: the models on every offline real dataset, default settings, standard splits, several seeds.

Why it exists: the zoo's default datasets are generated and easy, so they
say little about real series. This trains each matching model
(``rnnzoo.train(model, dataset, seed=s)`` with nothing else: the trainer's
defaults and the model's own ``train_defaults``) on every offline UCR/UEA/TSER
set with the archive's standard train/test split (validation carved from
the training part), once per seed, and writes one table: test accuracy
(mean and spread over seeds) or test RMSE per model and dataset, beside the
published results kept with their sources in ``real_references.json``
(blank = no readable source gave a number), the chance baseline and the
seconds spent per dataset. ``benchmarks/bench_real.py`` is a thin script
over :func:`run_benchmark`; there is one implementation.

**Chance level, per seed.** Each seed trains a separate model, and each is
judged on the test split by the zoo's own rule (:mod:`rnnzoo.zoo.chance`:
an exact binomial test against the test split's majority-class rate for a
classifier, a sign test against always predicting the training mean for a
regressor, both at p < 0.01). A cell says *at chance k/n* when k of its n
seeds were. Why per seed and not on the mean or on pooled predictions: the
seeds predict the same test samples, so pooling them would count each
sample n times as if it were independent evidence, and a mean can hide a
seed that learned nothing; per seed, every verdict is the exact test the
zoo applies to one trained model, and a default setting that learns
nothing in one seed of three is reported, not averaged away.
"""

from __future__ import annotations

import fnmatch
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnzoo.core.checks import did_you_mean
from rnnzoo.core.registry import get_dataset_spec, get_spec, list_models, load_dataset, registered_by
from rnnzoo.data.archive import ARCHIVE
from rnnzoo.errors import DataError, UnknownDatasetError, UnknownModelError
from rnnzoo.zoo.chance import ALPHA
from rnnzoo.zoo.datasource import ZooData, unfit_reason

REFERENCES = Path(__file__).with_name("real_references.json")
SUITE_LIMIT_S = 30 * 60  # the target for the whole suite on 2 cores

CHANCE_RULE = (
    "*at chance k/n* (*no better than the mean k/n*): k of the n seeds were judged so on the test split by the "
    "zoo's rule "
    "(rnnzoo/zoo/chance.py): a classifier is at chance unless its accuracy beats the test split's majority-class "
    f"rate by a one-sided exact binomial test at p < {ALPHA:g}; a regressor is no better than the mean unless it is "
    "closer than always predicting the training mean on significantly more than half of the test samples "
    f"(sign test, p < {ALPHA:g}). Each seed is judged on its own (the seeds share the test samples, so pooling "
    "them would count each sample several times)."
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    """One training run of the benchmark."""

    model: str
    dataset: str
    seed: int


def offline_datasets() -> list[str]:
    """The offline real sets with a standard split: the ones published results are measured on."""
    return [entry.name for entry in ARCHIVE]


def select(known: list[str], patterns: str | None, what: str) -> list[str]:
    """``known`` names matching comma-separated shell patterns (all when None); each pattern must match one.

    Why strict: a mistyped name would otherwise shrink the table silently,
    and a benchmark missing a row reads as a benchmark that ran it.
    """
    if not patterns:
        return list(known)
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    for p in wanted:
        if not fnmatch.filter(known, p):
            error = UnknownDatasetError if what == "dataset" else UnknownModelError
            example = "gru_*,lstm_*" if what == "model" else "gunpoint,*_vowels"
            raise error(f"no {what} matches {p!r}.{did_you_mean(p, known)} Choose among: {', '.join(known)} "
                        f"(comma-separated shell wildcards, e.g. '{example}').")
    return [n for n in known if any(fnmatch.fnmatch(n, p) for p in wanted)]


def plan(models: str | None = None, datasets: str | None = None, seeds: int = 3) -> list[Run]:
    """Every (model, dataset, seed) where the model fits the data, by the zoo's own fit rule.

    Each selected dataset is loaded once here, so a missing package or a
    broken file is one error before any training, not one per run.
    """
    if seeds < 1:
        raise DataError(f"seeds must be at least 1, got {seeds}")
    names = select(list_models(), models, "model")
    sets = select(offline_datasets(), datasets, "dataset")
    for name in sets:
        load_dataset(name)
    runs = [Run(m, d, s) for m in names for d in sets if unfit_reason(get_spec(m), _zoo_data(d)) is None
            for s in range(seeds)]
    if not runs:
        raise DataError(f"none of the models {', '.join(names)} fits any of the datasets {', '.join(sets)} "
                        "(a classifier needs a classification set, a regressor a regression set)")
    return runs


def _zoo_data(name: str) -> ZooData:
    spec = get_dataset_spec(name)
    return ZooData(name, spec.task, spec.per_step, name)


def one_run(run: Run, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``run`` on one torch thread; its test metric, chance verdict, epochs and seconds.

    A failure is a result too: the row carries the error and the table names it.
    """
    from rnnzoo.training.trainer import train
    from rnnzoo.zoo.bench import torch_threads
    from rnnzoo.zoo.chance import judge_result

    row: dict[str, Any] = {"model": run.model, "dataset": run.dataset, "seed": run.seed}
    start = time.perf_counter()
    try:
        with torch_threads(1):
            result = train(run.model, run.dataset, seed=run.seed, quiet=True, **(config or {}))
            verdict = judge_result(result)
    except Exception as exc:  # one run's failure never stops the others
        return {**row, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                "seconds": round(time.perf_counter() - start, 2)}
    test = result.test_metrics or {}
    return {**row, "accuracy": test.get("accuracy"), "rmse": test.get("rmse"), "epochs": len(result.history),
            "chance": verdict.to_json() if verdict is not None else None,
            "seconds": round(time.perf_counter() - start, 2)}


def run_all(runs: list[Run], jobs: int = 1, config: dict[str, Any] | None = None,
            progress: Progress | None = None) -> tuple[list[dict[str, Any]], float]:
    """Every run, ``jobs`` at a time in spawned worker processes (1: here); the rows and the wall seconds.

    Models an in-process plugin object registered are unknown to a spawned
    worker, so they always run here, as in the zoo.
    """
    start = time.perf_counter()
    local = [r for r in runs if jobs == 1 or registered_by(r.model).in_process]
    remote = [r for r in runs if r not in local]
    rows: list[dict[str, Any]] = []

    def done(row: dict[str, Any]) -> None:
        rows.append(row)
        if progress is not None:
            progress(_progress_line(row, len(rows), len(runs)))

    if remote:
        import concurrent.futures as cf
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # forking a process that imported torch is unsafe
        with cf.ProcessPoolExecutor(max_workers=min(jobs, len(remote)), mp_context=ctx) as pool:
            futures = {pool.submit(one_run, r, config): r for r in remote}
            for r in local:
                done(one_run(r, config))
            for fut in cf.as_completed(futures):
                r = futures[fut]
                try:
                    done(fut.result())
                except Exception as exc:  # a worker that died: still one row
                    done({"model": r.model, "dataset": r.dataset, "seed": r.seed,
                          "error": f"worker failed: {type(exc).__name__}: {exc}"})
    else:
        for r in local:
            done(one_run(r, config))
    return rows, time.perf_counter() - start


def _progress_line(row: dict[str, Any], n: int, total: int) -> str:
    what = row.get("error") or (row["accuracy"] if row.get("accuracy") is not None else row.get("rmse"))
    flag = " at chance" if (row.get("chance") or {}).get("at_chance") else ""
    return (f"[{n}/{total}] {row['model']} {row['dataset']} seed {row['seed']}: {what}{flag} "
            f"({row.get('seconds', '-')} s)")


def load_references(path: Path = REFERENCES) -> dict[str, Any]:
    """Published results per task and dataset, each source named in the file (blank where none was readable)."""
    refs: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return refs


def summarize(rows: list[dict[str, Any]], wall: float, jobs: int,
              references: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per (model, dataset): mean, spread and chance count over seeds; per dataset: baseline, references, time."""
    refs = load_references() if references is None else references
    table: dict[str, Any] = {}
    for dataset in sorted({r["dataset"] for r in rows}):
        spec = get_dataset_spec(dataset)
        mine = [r for r in rows if r["dataset"] == dataset]
        metric = "accuracy" if spec.task == "classification" else "rmse"
        table[dataset] = {
            "task": spec.task, "metric": metric, "baseline": _baseline(mine),
            "models": {m: _cell([r for r in mine if r["model"] == m], metric)
                       for m in sorted({r["model"] for r in mine})},
            "references": {k: v for k, v in refs.get(spec.task, {}).get(dataset, {}).items() if k != "notes"},
            "seconds": round(sum(r.get("seconds", 0) for r in mine), 1),
        }
    return {"table": table, "targets": targets(table, wall), "wall_seconds": round(wall, 1), "jobs": jobs,
            "chance_rule": CHANCE_RULE}


def _baseline(rows: list[dict[str, Any]]) -> float | None:
    """What the chance rule compared against: the test majority-class rate, or the training mean's test RMSE."""
    for r in rows:
        c = r.get("chance")
        if c:
            return float(c["majority_rate"] if "majority_rate" in c else c["baseline_rmse"])
    return None


def _cell(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    values = [r[metric] for r in rows if r.get(metric) is not None]
    if not values:
        errors = [r["error"] for r in rows if "error" in r]
        return {"error": errors[0] if errors else "no result", "runs": len(rows)}
    verdicts = [r["chance"] for r in rows if r.get("chance")]
    return {"mean": statistics.fmean(values), "std": statistics.pstdev(values), "runs": len(values),
            "errors": len(rows) - len(values), "judged": len(verdicts),
            "at_chance_seeds": sum(bool(v["at_chance"]) for v in verdicts),
            "undecided_seeds": sum(v["label"] == "too few samples to tell" for v in verdicts)}


def targets(table: dict[str, Any], wall: float) -> dict[str, Any]:
    """The issue's targets, met or not: no model at chance in any seed, beating 1-NN DTW, time."""
    chance = [f"{m} on {d} ({c['at_chance_seeds']}/{c['judged']} seeds)" if "error" not in c else f"{m} on {d} (error)"
              for d, row in table.items() for m, c in row["models"].items()
              if "error" in c or c["at_chance_seeds"]]
    with_dtw = [d for d, row in table.items() if row["task"] == "classification"
                and row["references"].get("dtw") is not None]
    beats = [d for d in with_dtw if max((c.get("mean", 0.0) for c in table[d]["models"].values()), default=0.0)
             > table[d]["references"]["dtw"]]
    return {"at_chance": chance, "no_model_at_chance": not chance,
            "beats_dtw": beats, "sets_with_dtw": with_dtw,
            "best_beats_dtw_on_3_of_4": bool(with_dtw) and len(beats) >= 0.75 * len(with_dtw),
            "under_30_minutes": wall <= SUITE_LIMIT_S}


def cell_text(cell: dict[str, Any], metric: str) -> str:
    """``0.968 ± 0.001``, with ``(at chance k/n)`` when any seed was, or ``error``."""
    if "error" in cell:
        return "error"
    digits = 3 if metric == "accuracy" else 4
    text = f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"
    if cell["at_chance_seeds"]:
        words = "at chance" if metric == "accuracy" else "no better than the mean"
        text += f" (**{words} {cell['at_chance_seeds']}/{cell['judged']}**)"
    if cell["undecided_seeds"]:
        text += f" (too few samples to tell {cell['undecided_seeds']}/{cell['judged']})"
    if cell["errors"]:
        text += f" ({cell['errors']} failed)"
    return text


def markdown(summary: dict[str, Any]) -> str:
    """The results as Markdown: one table per task, the chance rule, then the targets."""
    lines: list[str] = []
    for task, base in (("classification", "majority"), ("regression", "mean-RMSE")):
        rows = {d: r for d, r in summary["table"].items() if r["task"] == task}
        if rows:
            lines += _task_table(rows, base)
    lines += ["Cells: test accuracy (classification) or test RMSE (regression), mean ± spread (population std) "
              f"over {summary.get('seeds', 'the')} seeds; references: published results, sources in "
              "rnnzoo/zoo/real_references.json (blank: none found); time (s): the dataset's summed run seconds. "
              + summary["chance_rule"], ""]
    if summary.get("config"):
        lines += ["**Not the default settings:** " + ", ".join(f"{k}={v}" for k, v in summary["config"].items())
                  + " for every run.", ""]
    t = summary["targets"]
    lines += [
        "- no (model, dataset) at chance (or no better than the mean) in any seed: "
        + ("met" if t["no_model_at_chance"] else "NOT met")
        + (f" ({'; '.join(t['at_chance'])})" if t["at_chance"] else ""),
        f"- best model beats 1-NN DTW on >= 3/4 of the sets with a DTW figure: "
        f"{'met' if t['best_beats_dtw_on_3_of_4'] else 'NOT met'} ({len(t['beats_dtw'])}/{len(t['sets_with_dtw'])}: "
        f"{', '.join(t['beats_dtw']) or 'none'})",
        f"- whole suite under 30 minutes: {'met' if t['under_30_minutes'] else 'NOT met'} "
        f"({summary['wall_seconds'] / 60:.1f} min with --jobs {summary['jobs']})",
    ]
    return "\n".join(lines)


def _task_table(rows: dict[str, Any], base: str) -> list[str]:
    models = sorted({m for r in rows.values() for m in r["models"]})
    refs = list(dict.fromkeys(k for r in rows.values() for k in r["references"]))
    head = ["dataset", base, *models, *refs, "time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d, r in rows.items():
        baseline = "-" if r["baseline"] is None else f"{r['baseline']:.3f}"
        cells = [cell_text(r["models"][m], r["metric"]) if m in r["models"] else "" for m in models]
        ref_cells = ["" if r["references"].get(k) is None else f"{r['references'][k]:.3f}" for k in refs]
        lines.append("| " + " | ".join([d, baseline, *cells, *ref_cells, f"{r['seconds']:.0f}"]) + " |")
    return [*lines, ""]


def run_benchmark(models: str | None = None, datasets: str | None = None, seeds: int = 3, jobs: int = 1,
                  out: str | Path | None = None, config: dict[str, Any] | None = None,
                  progress: Progress | None = None, peak: bool = True) -> dict[str, Any]:
    """Plan, run and summarize; write ``out`` (JSON) and the Markdown beside it (``.md``) when given.

    ``models``/``datasets``: comma-separated shell patterns (None: every
    registered model, every offline set). ``config``: TrainConfig overrides
    for every run (e.g. ``{"epochs": 1}`` for a smoke run); they are recorded
    and the table says the settings were not the defaults. ``peak=False``
    leaves the sgemm peak out of the machine record.
    """
    from rnnzoo.zoo.machine import describe, machine_info

    if jobs < 1:
        raise DataError(f"jobs must be at least 1, got {jobs}")
    runs = plan(models, datasets, seeds)
    machine = machine_info(peak=peak)
    if progress is not None:
        for line in describe(machine):
            progress(line)
        progress(f"{len(runs)} runs, --jobs {jobs}")
    rows, wall = run_all(runs, jobs, config, progress)
    summary = summarize(rows, wall, jobs)
    summary.update({"machine": machine, "seeds": seeds, "config": dict(config or {}), "runs": rows,
                    "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])})
    summary["markdown"] = "\n".join([*describe(machine), "", markdown(summary)])
    if out is not None:
        write(summary, Path(out))
    return summary


def write(summary: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """The JSON and the Markdown, ``out`` with the suffixes ``.json`` and ``.md``, each written atomically."""
    from rnnzoo.core.atomic import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    data, md = out.with_suffix(".json"), out.with_suffix(".md")
    text = json.dumps(summary, indent=1, default=str)
    atomic_write(data, lambda p: p.write_text(text, encoding="utf-8"))
    atomic_write(md, lambda p: p.write_text(summary["markdown"] + "\n", encoding="utf-8"))
    return data, md
