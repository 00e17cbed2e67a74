"""The main job: train, export and verify every registered model, then write a readable report.

One model's failure is recorded in its row and never stops the others. With
``jobs > 1`` models are spread over worker processes (one model per task,
``spawn`` start method: forking a process that has imported torch is unsafe).
Each model's run is seeded on its own, so rows match a sequential run; see
:func:`run_zoo` for what may differ.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rnnzoo._version import __version__
from rnnzoo.core.atomic import atomic_write, remove_stale_temps
from rnnzoo.core.checks import did_you_mean, positive_int
from rnnzoo.core.locks import exclusive
from rnnzoo.core.registry import get_spec, list_models, registered_by
from rnnzoo.deploy.card import ExportCard
from rnnzoo.errors import InvalidHyperparameterError, UnknownModelError
from rnnzoo.zoo.datasource import ZooData, default_dataset, describe_data, split_by_fit
from rnnzoo.zoo.runtime_table import runtime_matrix_lines


@dataclass
class ZooRow:
    model: str
    task: str
    dataset: str = ""
    passed: bool = False
    metric: str = ""
    value: float | None = None
    params: int = 0
    onnx_kb: float = 0.0
    int8_kb: float = 0.0
    int8_ratio: float | None = None
    int8_fidelity: str = ""
    max_abs_ort: float | None = None
    max_abs_ref: float | None = None
    speedup: float | None = None
    train_s: float = 0.0
    export_s: float = 0.0
    error: str = ""
    test_value: float | None = None  # ``metric`` on the test part, when the run has one (never used to select)
    val_loss: float | None = None  # breaks leaderboard ties (a tiny validation split often ties on accuracy)
    val_samples: int = 0  # the validation split's size: how much the ranking can be trusted
    onnx_ms: float | None = None  # onnxruntime median latency, batch 16 x 50 steps, 1 thread
    chance: dict[str, Any] | None = None  # zoo.chance verdict (to_json) on the test, else validation split
    contract: dict[str, str] = field(default_factory=dict)  # the contract checks run before training
    runtimes: list[dict[str, Any]] = field(default_factory=list, repr=False)  # the card's runtime matrix rows
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    tuned: dict[str, Any] | None = None  # zoo --tune: the configuration the model's search chose


def run_zoo(
    pattern: str | list[str] = "*", out: str | Path = "exports", epochs: int | None = None,
    quiet: bool = False, seed: int = 0, jobs: int = 1, threads: int = 1,
    data: str | Path | None = None, test_data: str | Path | None = None, task: str | None = None,
    tune: int | None = None,
) -> list[ZooRow]:
    """Train → export → verify each model matching ``pattern``; write REPORT.md and index.json.

    Before training, each model must pass the conformance kit's contract
    checks (output shapes, padding invariance); one that fails is not trained
    and its row names the check. ``data`` (a registered dataset name or a
    file; ``task`` for .npz/.csv files, ``test_data`` a file with the test
    part) trains every matching model whose task fits it on that data and
    adds a leaderboard to the report; without it each model trains on its
    spec's ``default_dataset``, or the built-in one for its task.

    ``epochs`` overrides every model's epoch budget (None keeps each model's own).
    ``tune`` (with ``data``): each model first searches its ``search_space`` with that many trials
    (:mod:`rnnzoo.tuning`, on the training part, study in ``OUT/tuning/MODEL``), then trains its choice.
    ``jobs`` > 1 runs that many models at once in worker processes (keep
    ``jobs * threads`` at or below the CPU count). Rows come back in registry
    order whatever finishes first. ``threads`` is the torch thread count every
    model trains with, in this process or a worker: float reductions depend on
    it, and for some models (attention pooling) so does the whole training
    trajectory, so it is pinned rather than left to torch. The same seed and
    ``threads`` give bit-identical weights, metrics and ONNX files for any
    ``jobs``; timings and the latency speedup are measurements and vary from
    run to run. A worker that dies (a signal, a crash in native code) fails
    that model's row only.
    Models registered in this process with ``rnnzoo.core.plugins.register_plugin``
    (not through an entry point) cannot be rebuilt in a fresh process, so they
    run here, alongside the workers.
    """
    _check_positive_int("epochs", epochs, allow_none=True)
    _check_positive_int("jobs", jobs)
    _check_positive_int("threads", threads)
    out = Path(out)
    names = list_models(pattern)
    if not names:
        raise UnknownModelError(_no_match(pattern))
    zoo_data, skipped = _user_data(names, data, test_data, task)
    zoo_data = _with_tuning(zoo_data, tune) if tune is not None else zoo_data
    if zoo_data is not None:
        names = [n for n in names if n not in skipped]
    with exclusive(out / ".zoo.lock", f"zoo folder {out}"):
        remove_stale_temps(out, _REPORT_FILES)  # what a killed run's atomic writes left
        return _run_all(names, out, epochs, quiet, seed, jobs, threads, zoo_data, skipped)


def _user_data(names: list[str], data: str | Path | None, test_data: str | Path | None,
               task: str | None) -> tuple[ZooData | None, dict[str, str]]:
    """The user's data, checked once, and the models it leaves out (with why); (None, {}) without ``data``."""
    if data is None:
        if test_data is not None or task is not None:
            raise InvalidHyperparameterError("test data and task describe the user's data: pass data= (--data) too")
        return None, {}
    zoo_data = describe_data(data, test_data, task)
    return zoo_data, split_by_fit(names, zoo_data)[1]


_REPORT_FILES = ("index.json", "REPORT.md", "junit.xml", "training_curves.png", "parity_latency.png")


def _run_all(names: list[str], out: Path, epochs: int | None, quiet: bool, seed: int, jobs: int,
             threads: int, data: ZooData | None = None, skipped: dict[str, str] | None = None) -> list[ZooRow]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(names), desc="zoo", unit="model", disable=quiet)
    try:
        if jobs == 1:
            rows = []
            for name in names:
                bar.set_postfix_str(name)
                rows.append(_one(name, out, epochs, seed, threads, data))
                bar.update()
        else:
            rows = _run_parallel(names, out, epochs, seed, jobs, threads, bar, data)
    finally:
        bar.close()
    write_report(out, rows, data, skipped)
    return rows


def _with_tuning(data: ZooData | None, trials: int) -> ZooData:
    _check_positive_int("tune", trials)
    if data is None:
        raise InvalidHyperparameterError("tune= searches each model on the user's data: pass data= (--data) too")
    return replace(data, tune_trials=trials)


def _check_positive_int(name: str, value: object, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    positive_int(name, value, InvalidHyperparameterError)


def _no_match(pattern: str | list[str]) -> str:
    shown = pattern if isinstance(pattern, str) else ", ".join(pattern)
    known = list_models()
    return (f"no registered model matches {shown!r}.{did_you_mean(pattern, known)} Run `rnnzoo list` to see all "
            f"{len(known)} registered models (patterns are shell wildcards, e.g. 'lstm_*').")


def _worker_one(name: str, out: str, epochs: int | None, seed: int, threads: int,
                data: ZooData | None = None) -> ZooRow:
    return _one(name, Path(out), epochs, seed, threads, data)


def _in_process_only(names: Iterable[str]) -> set[str]:
    """Models registered by an in-process plugin object: a spawned worker would not know them."""
    return {n for n in names if registered_by(n).in_process}


def _crashed_row(name: str, out: Path, exc: BaseException, data: ZooData | None = None) -> ZooRow:
    error = (f"worker process died while running {name} ({type(exc).__name__}: killed by a signal, "
             "out of memory or a crash in native code; its stderr is above)")
    return _record_error(_empty_row(name, data), out, error, f"{error}\n{exc!r}\n")


def _empty_row(name: str, data: ZooData | None = None) -> ZooRow:
    spec = get_spec(name)
    return ZooRow(name, spec.task, data.name if data is not None else default_dataset(spec))


def _record_error(row: ZooRow, out: Path, error: str, detail: str) -> ZooRow:
    """The row says what failed in one line; ``OUT/MODEL/error.txt`` keeps the whole story."""
    row.error = error
    (out / row.model).mkdir(parents=True, exist_ok=True)
    (out / row.model / "error.txt").write_text(detail, encoding="utf-8")
    return row


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _run_parallel(
    names: list[str], out: Path, epochs: int | None, seed: int, jobs: int, threads: int, bar: Any,
    data: ZooData | None = None,
) -> list[ZooRow]:
    """Pool first; models in flight when a worker dies are re-run one per process to find the culprit."""
    import concurrent.futures as cf
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    local = _in_process_only(names)
    remote = [n for n in names if n not in local]
    done: dict[str, ZooRow] = {}
    suspects: list[str] = []

    def record(name: str, fut: cf.Future[ZooRow]) -> None:
        try:
            done[name] = fut.result()
        except BrokenProcessPool:
            suspects.append(name)
            return
        except BaseException as exc:  # a row that failed to pickle, SystemExit in a plugin: still one row
            done[name] = _failed_row(name, out, exc, data)
        bar.update()

    def pool(size: int) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=size, mp_context=ctx)

    if remote:
        with pool(min(jobs, len(remote))) as ex:
            futures = {ex.submit(_worker_one, n, str(out), epochs, seed, threads, data): n for n in remote}
            for n in sorted(local):  # runs here while the workers train
                done[n] = _one(n, out, epochs, seed, threads, data)
                bar.update()
            for fut in cf.as_completed(futures):
                record(futures[fut], fut)
    else:
        for n in sorted(local):
            done[n] = _one(n, out, epochs, seed, threads, data)
            bar.update()
    # A dead worker breaks the whole pool: every model then in flight is a suspect. Run each
    # alone in its own process, `jobs` at a time; only the model that kills its process fails.
    for i in range(0, len(suspects), jobs):
        batch = sorted(suspects[i:i + jobs], key=names.index)
        executors = {n: pool(1) for n in batch}
        try:
            futures = {executors[n].submit(_worker_one, n, str(out), epochs, seed, threads, data): n
                       for n in batch}
            for fut in cf.as_completed(futures):
                n = futures[fut]
                try:
                    done[n] = fut.result()
                except BrokenProcessPool as exc:
                    done[n] = _crashed_row(n, out, exc, data)
                except BaseException as exc:
                    done[n] = _failed_row(n, out, exc, data)
                bar.update()
        finally:
            for ex in executors.values():
                ex.shutdown(wait=True)
    return [done[n] for n in names]


def _failed_row(name: str, out: Path, exc: BaseException, data: ZooData | None = None) -> ZooRow:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return _record_error(_empty_row(name, data), out, _one_line(exc), detail)


def _one(name: str, out: Path, epochs: int | None, seed: int, threads: int = 1, data: ZooData | None = None) -> ZooRow:
    from rnnzoo.zoo.bench import torch_threads

    # A failure of an earlier run left error.txt here; the exporter refuses folders that hold
    # anything but an export, so a stale one would fail this model forever.
    (out / name / "error.txt").unlink(missing_ok=True)
    with torch_threads(threads):  # pinned per model and restored: results depend on it
        return _train_export_verify(name, out, epochs, seed, data)


def _train_export_verify(name: str, out: Path, epochs: int | None, seed: int, data: ZooData | None = None) -> ZooRow:
    from rnnzoo.exporting.exporter import export
    from rnnzoo.zoo.bench import compare_latency
    from rnnzoo.zoo.contract import run_contract_checks

    row = _empty_row(name, data)
    try:
        contract = run_contract_checks(name)
        row.contract = contract.outcomes
        if contract.failed:  # wrong on ragged batches, or the wrong shape: training it would certify it
            return _record_error(row, out, contract.error(name), contract.detail())
        result = _train(row, epochs, seed, data, out)
        row.params = sum(p.numel() for p in result.model.parameters())
        start = time.perf_counter()
        exp = export(result, out / name, data=result.splits.val)
        row.export_s = time.perf_counter() - start
        _fill_from_card(row, exp.card, out / name)
        latency = compare_latency(result.model, out / name / "model.onnx", 16, 50, threads=1, repeats=10)
        row.speedup, row.onnx_ms = latency["speedup"], latency["onnx_ms"]
        row.passed = exp.passed
    except Exception as exc:  # one model's failure is reported in its row, never fatal
        _record_error(row, out, _one_line(exc), traceback.format_exc())
    return row


def _train(row: ZooRow, epochs: int | None, seed: int, data: ZooData | None, out: Path | None = None) -> Any:
    """Train the row's model on the user's data or its default dataset; fill the row's metrics and verdict."""
    from rnnzoo.training.trainer import train
    from rnnzoo.zoo.chance import judge_result

    spec = get_spec(row.model)
    extra: dict[str, Any] = {"epochs": epochs} if epochs is not None else {}
    if data is not None and data.test is not None:
        extra["test_data"] = data.test
    if data is not None and data.tune_trials and out is not None:
        from rnnzoo.tuning.tune import tuned_settings

        row.tuned, found = tuned_settings(row.model, data.source, trials=data.tune_trials, seed=seed,
                                          out=out / "tuning" / row.model, **extra)
        extra.update(found)
    start = time.perf_counter()
    result = train(row.model, data.source if data is not None else default_dataset(spec), quiet=True, seed=seed,
                   **extra)
    row.train_s, row.history = time.perf_counter() - start, result.history
    row.metric = "val_accuracy" if spec.task == "classification" else "val_rmse"
    row.value, row.val_loss = result.metrics.get(row.metric), result.metrics.get("val_loss")
    row.val_samples = len(result.splits.val) if result.splits.val is not None else 0
    row.test_value = (result.test_metrics or {}).get(row.metric.removeprefix("val_"))
    verdict = judge_result(result)
    row.chance = verdict.to_json() if verdict is not None else None
    return result


def _fill_from_card(row: ZooRow, card: ExportCard, folder: Path) -> None:
    row.onnx_kb = (folder / "model.onnx").stat().st_size / 1024
    int8 = card.variants.get("int8", {})
    if int8:
        row.int8_kb, row.int8_ratio = int8["size_bytes"] / 1024, int8["size_ratio"]
        agree, rel = int8.get("argmax_agreement"), int8.get("rel_error_vs_fp32")
        row.int8_fidelity = (f"agree {agree:.3f}" if agree is not None else
                             f"rel err {rel:.1e}" if rel is not None else "")
    if card.parity is not None:
        row.max_abs_ort = card.parity.max_abs("onnxruntime")
        row.max_abs_ref = card.parity.max_abs("reference")
    if card.runtimes is not None:
        row.runtimes = card.runtimes.to_json()["rows"]


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def write_report(out: Path, rows: list[ZooRow], data: ZooData | None = None,
                 skipped: dict[str, str] | None = None) -> None:
    """exports/index.json, exports/REPORT.md and the figures it links; a leaderboard for a ``data`` run."""
    from dataclasses import asdict

    from rnnzoo.deploy.junit import write_junit
    from rnnzoo.exporting.verify_all import zoo_reports
    from rnnzoo.zoo.leaderboard import chance_lines, leaderboard_json, leaderboard_lines, result_cell
    from rnnzoo.zoo.plots import plot_zoo

    out.mkdir(parents=True, exist_ok=True)
    figures = plot_zoo(rows, out)
    trained_on = f"trained on {data.describe()}" if data is not None else "trained on their default dataset"
    lines = [
        "# rnnzoo report", "",
        f"{sum(r.passed for r in rows)}/{len(rows)} models passed "
        f"(contract checks, {trained_on}, exported to ONNX, parity verified).", "",
        *chance_lines(rows),
        *(leaderboard_lines(rows, data, skipped or {}) if data is not None else []),
        "| model | task | dataset | val metric | params | ONNX KiB | int8 KiB (ratio) | int8 vs fp32 "
        "| parity max abs (ORT / reference) | ORT speedup vs torch | result |",
        "|---|---|---|---|---:|---:|---:|---|---|---:|---|",
    ]
    for r in rows:
        metric = f"{r.metric.removeprefix('val_')} {_fmt(r.value, '.3f')}" if r.metric else "-"
        result = result_cell(r)
        lines.append(
            f"| `{r.model}` | {r.task} | {r.dataset} | {metric} | {r.params:,} | {r.onnx_kb:.1f} | "
            f"{r.int8_kb:.1f} ({_fmt(r.int8_ratio, '.2f')}) | {r.int8_fidelity or '-'} | "
            f"{_fmt(r.max_abs_ort, '.1e')} / {_fmt(r.max_abs_ref, '.1e')} | {_fmt(r.speedup, '.2f')}x | "
            f"{result} |"
        )
    lines += ["", "ORT speedup: PyTorch eager / onnxruntime median latency, batch 16, 50 steps, 1 thread, "
              "measured side by side in this run. int8: every weight stored as int8 (compute stays float32, "
              "so latency equals float32); vs fp32: argmax agreement (classifiers) or relative error "
              "(regressors) on validation data.", ""]
    lines += runtime_matrix_lines(rows)
    lines += [f"![{f.stem}]({f.name})" for f in figures]
    text = "\n".join(lines) + "\n"
    index = {"rnnzoo": __version__, "python": platform.python_version(),
             "report_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),  # which REPORT.md it goes with
             "models": [{k: v for k, v in asdict(r).items() if k not in ("history", "runtimes")} for r in rows],
             # apart from the rows: its latencies are measurements, the rows' other fields results
             "runtime_matrix": {r.model: r.runtimes for r in rows}}
    if data is not None:
        index.update(data=asdict(data), leaderboard=leaderboard_json(rows), skipped=skipped or {})
    # both are complete before either is replaced, and replaced back to back (a kill between them is
    # told by report_sha256)
    atomic_write(out / "REPORT.md", lambda p: p.write_text(text, encoding="utf-8"))
    atomic_write(out / "index.json", lambda p: p.write_text(json.dumps(index, indent=2), encoding="utf-8"))
    write_junit(out / "junit.xml", zoo_reports(out, [(r.model, r.error) for r in rows]), name="rnnzoo zoo")
