"""The ``rnnzoo`` command: parsing and wiring only; the work happens in the public API.

Option choices come from the constants they mirror. Modules that import
torch (or numpy) are imported inside the commands, never at start, so
every command starts fast and ``predict``/``verify`` run without torch.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from rnnzoo.core.specs import TASKS
from rnnzoo.errors import ExportError, ParityError, RnnzooError


class _LazyChoice(click.Choice[str]):
    """A Choice whose values are loaded on first use (parsing the option, or --help).

    Why: the values are constants of modules that import torch (the
    optimizers) or numpy; importing them when the CLI starts would make
    every command pay for torch, and copying them here would drift.
    """

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._loaded: tuple[str, ...] | None = None
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:
        if self._loaded is None:
            self._loaded = tuple(self._load())
        return self._loaded

    @choices.setter
    def choices(self, value: Iterable[str]) -> None:
        self._loaded = tuple(value)


def _optimizers() -> Iterable[str]:
    from rnnzoo.training.config import OPTIMIZERS

    return OPTIMIZERS


def _schedules() -> Iterable[str]:
    from rnnzoo.training.config import SCHEDULES

    return SCHEDULES


def _predict_variants() -> Iterable[str]:
    """The files ``predict`` can run: the float32 graph and the variants the exporter writes (not streaming)."""
    from rnnzoo.deploy.card import FP16_FILE, INT8_FILE, MODEL_FILE, PORTABLE_FILE

    return (MODEL_FILE, PORTABLE_FILE, INT8_FILE, FP16_FILE)


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """User errors become one line on stderr and exit code 2; --debug shows the traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (RnnzooError, OSError) as exc:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            click.echo(f"error: {_one_line(exc)}", err=True)
            sys.exit(2)

    return wrapper


def _one_line(exc: BaseException) -> str:
    """An OS error names the path and the reason (read-only, disk full...), not a traceback."""
    if isinstance(exc, OSError) and not isinstance(exc, RnnzooError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc} (check the path, its permissions and free disk space)"
    return str(exc)


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(package_name="rnnzoo")
def main(debug: bool) -> None:
    """rnnzoo: train, export and verify recurrent sequence models."""


@main.command("list")
@click.argument("pattern", default="*")
@click.option("--task", type=click.Choice(TASKS), help="Only this task.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_friendly
def list_cmd(pattern: str, task: str | None, as_json: bool) -> None:
    """List registered models matching PATTERN (shell wildcards, e.g. 'lstm_*')."""
    from rnnzoo.core.plugins import catalog
    from rnnzoo.core.registry import list_models

    cat = catalog()
    rows = []
    for name in list_models(pattern, task=task):
        spec, owner = cat.models[name], cat.owner("model", name)
        rows.append({
            "name": name, "task": spec.task, "family": spec.family,
            "plugin": owner.distribution if owner else "?", "dataset": spec.default_dataset or "",
            "description": spec.description,
        })
    _emit(rows, as_json, ["name", "task", "family", "plugin", "dataset", "description"])


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--check", is_flag=True, help="Also build each model and check the forward contract.")
@_friendly
def plugins(as_json: bool, check: bool) -> None:
    """List plugin distributions: version, status and what each registered."""
    from rnnzoo.core.plugins import list_plugins

    rows = list_plugins()
    if check:
        from rnnzoo.testing import contract_errors

        for r in rows:
            errors = contract_errors(r["models"], r["distribution"])
            if errors:
                r["status"] = "error"
                r["errors"] += errors
    if as_json:
        _emit(rows, True, [])
    else:
        for r in rows:
            what = ", ".join(r["models"] + r["datasets"] + r.get("runtimes", [])) or "-"
            click.echo(f"{r['distribution']} {r['version']} [{r['name']}] {r['status']}: {what}")
            for err in r["errors"]:
                click.echo(f"    ! {err}")
    if check and any(r["status"] == "error" for r in rows):
        sys.exit(1)


@main.command()
@click.argument("pattern", default="*")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_friendly
def datasets(pattern: str, as_json: bool) -> None:
    """List registered datasets matching PATTERN: task, samples (train/test), lengths, features, source."""
    from rnnzoo.core.registry import get_dataset_spec, list_datasets

    rows = []
    for name in list_datasets(pattern):
        spec = get_dataset_spec(name)
        rows.append({"name": name, "task": spec.task + (" per step" if spec.per_step else ""),
                     "samples": _pair(spec.samples, "/"), "length": _pair(spec.length, "-"),
                     "features": spec.features if spec.features is not None else "?",
                     "source": spec.source or "?", "description": spec.description})
    _emit(rows, as_json, ["name", "task", "samples", "length", "features", "source", "description"])


def _pair(pair: tuple[int, int] | None, sep: str) -> str:
    """``(50, 150)`` as ``50/150``, ``(24, 24)`` as ``24`` (facts are optional: ``?`` when not declared)."""
    if pair is None:
        return "?"
    return str(pair[0]) if sep == "-" and pair[0] == pair[1] else f"{pair[0]}{sep}{pair[1]}"


def _parse_hparams(pairs: tuple[str, ...]) -> dict[str, Any]:
    """--hp hidden_size=32 --hp bidirectional=true → typed values (JSON, else string)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--hp")
        try:
            out[key] = json.loads(raw.lower() if raw.lower() in ("true", "false") else raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@main.command()
@click.argument("model")
@click.option("--data", help="Dataset name or file (.npz/.csv/.ts). Default: the model's default dataset.")
@click.option("--test", "test_data", metavar="NAME|FILE",
              help="Held-out test set, measured once at the end (never used to pick weights). Default: the "
                   "dataset's standard test split, or NAME_TEST.ts beside NAME_TRAIN.ts.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Run folder [runs/MODEL].")
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int)
@click.option("--lr", type=float)
@click.option("--optimizer", type=_LazyChoice(_optimizers))
@click.option("--schedule", type=_LazyChoice(_schedules))
@click.option("--clip-norm", type=float, help="Gradient-norm clip [1.0].")
@click.option("--no-clip", is_flag=True, help="Disable gradient clipping.")
@click.option("--patience", type=int, help="Early-stopping patience in epochs [5].")
@click.option("--no-early-stop", is_flag=True, help="Train every epoch; keep the best epoch's weights.")
@click.option("--seed", type=int)
@click.option("--device", default="cpu", show_default=True)
@click.option("--hp", "hparams", multiple=True, help="Model hyperparameter KEY=VALUE (repeatable).")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.safetensors.")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel worker processes on this machine (relaunches under torchrun).")
@click.option("--quiet", is_flag=True, help="No progress bars or per-epoch lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the final metrics as JSON.")
@_friendly
def train(model: str, data: str | None, test_data: str | None, out_dir: str | None, hparams: tuple[str, ...],
          as_json: bool, nproc: int, **opts: Any) -> None:
    """Train MODEL; writes OUT/model.safetensors, last.safetensors, history.csv/json, curves.png.

    --batch-size is the global batch: with --nproc N (or under torchrun) each
    worker takes 1/N of every batch, and only worker 0 writes files.
    """
    from rnnzoo.core.registry import get_spec
    from rnnzoo.training.trainer import train as run

    spec = get_spec(model)
    dataset = data or spec.default_dataset
    if dataset is None:
        raise click.UsageError(f"{model} has no default dataset; pass --data")
    if opts.pop("no_clip"):
        opts["clip_norm"] = None if opts["clip_norm"] is None else _conflict("--clip-norm", "--no-clip")
        config = {"clip_norm": None}
    else:
        config = {}
    if opts.pop("no_early_stop"):
        opts["patience"] = None if opts["patience"] is None else _conflict("--patience", "--no-early-stop")
        config["patience"] = None
    config.update({k: v for k, v in opts.items() if v is not None and v is not False})
    out = out_dir or f"runs/{model}"
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        _check_before_launch(spec.task, dataset, {**spec.train_defaults, **config, "out_dir": out}, test_data)
        sys.exit(_torchrun(nproc))
    result = run(model, dataset, test_data=test_data, out_dir=out, hparams=_parse_hparams(hparams), **config)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if as_json:
        click.echo(json.dumps({"checkpoint": str(result.checkpoint), **result.metrics}, indent=2))
        return
    chosen = "  ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if not k.startswith("test_"))
    click.echo(f"{model}: {chosen}")
    if result.test_metrics is not None:
        held_out = "  ".join(f"{k}={v:.4g}" for k, v in result.test_metrics.items())
        click.echo(f"test ({result.meta.test_dataset}, measured once, not used for selection): {held_out}")
    click.echo(f"checkpoint: {result.checkpoint}")


def _check_before_launch(task: str, dataset: str, config: dict[str, Any], test_data: str | None) -> None:
    """Settings and data fail here as one error line, not once per worker under torchrun's traceback."""
    from rnnzoo.training.config import make_config
    from rnnzoo.training.trainer import resolve_data

    cfg = make_config(config)
    resolve_data(dataset, task, test_data)
    if cfg.out_dir:  # a busy or unwritable run folder, before any worker starts
        from rnnzoo.core.locks import exclusive

        with exclusive(Path(cfg.out_dir) / ".rnnzoo.lock", f"run folder {cfg.out_dir}"):
            pass


def _torchrun(nproc: int) -> int:
    """Run this same command under torchrun on this machine, without --nproc; its exit code."""
    import subprocess

    args, skip = [], False
    for a in sys.argv[1:]:
        if skip or a.startswith("--nproc="):
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        args.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "rnnzoo", *args]
    return subprocess.call(cmd)


def _conflict(a: str, b: str) -> Any:
    raise click.UsageError(f"{a} and {b} contradict each other; pass one")


@main.command()
@click.argument("model")
@click.option("--data", help="Dataset name or file (.npz/.csv/.ts). Default: the model's default dataset.")
@click.option("--test", "test_data", metavar="NAME|FILE",
              help="Held-out test set, measured for the best configuration only. Default: the dataset's standard "
                   "test split, or NAME_TEST.ts beside NAME_TRAIN.ts.")
@click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True,
              help="Trials in the whole study (all workers, all machines); re-running tops it up to this.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine sharing the study.")
@click.option("--storage", metavar="PATH|URL",
              help="Optuna storage: a journal file (on a shared filesystem for several machines) or an RDB URL "
                   "(postgresql://..., mysql://..., sqlite:///...). Default: OUT/study.journal.")
@click.option("--study", "study", metavar="NAME", help="Study to create, join or resume [MODEL-DATASET].")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for trials.csv, tuning.png, best/, export/ "
                                                              "[runs/tune/MODEL].")
@click.option("--epochs", type=int, help="Epoch budget of every trial [the model's own].")
@click.option("--metric", help="Validation metric to optimize [val_loss; val_rmse for regression].")
@click.option("--pruner", type=click.Choice(["median", "hyperband", "none"]), default="median", show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per trial, each on another validation split of the training part, averaged.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-export", is_flag=True, help="Keep the best checkpoint without exporting it.")
@click.option("--quiet", is_flag=True, help="No per-trial lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_friendly
def tune(model: str, data: str | None, test_data: str | None, epochs: int | None, no_export: bool, as_json: bool,
         **opts: Any) -> None:
    """Search MODEL's hyperparameters (Optuna TPE, pruning); retrain and export the best.

    Several machines share one study: give each the same --storage and --study.
    """
    from rnnzoo.core.registry import get_spec
    from rnnzoo.tuning.tune import tune as run

    dataset = data or get_spec(model).default_dataset
    if dataset is None:
        raise click.UsageError(f"{model} has no default dataset; pass --data")
    extra: dict[str, Any] = {"epochs": epochs} if epochs is not None else {}
    result = run(model, dataset, test_data=test_data, export=not no_export, **opts, **extra)
    if as_json:
        keep = ("study", "storage", "metric", "best_value", "best_params", "best_trial", "best_metrics", "checkpoint",
                "export", "test_metrics", "seconds")
        click.echo(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in vars(result).items()
                               if k in keep}, indent=2))
        return
    states = [r["state"] for r in result.trials]
    click.echo(f"study {result.study}: {len(states)} trials ({states.count('complete')} complete, "
               f"{states.count('pruned')} pruned, {states.count('fail')} failed) in {result.seconds:.0f}s")
    chosen = "  ".join(f"{k}={v:.4g}" for k, v in result.best_metrics.items())
    click.echo(f"best trial {result.best_trial} (by {result.metric}): {chosen} {result.best_params}")
    if result.test_metrics is not None:
        held_out = "  ".join(f"{k}={v:.4g}" for k, v in result.test_metrics.items())
        click.echo(f"test (best configuration only, not used for selection): {held_out}")
    click.echo(f"checkpoint: {result.checkpoint}  export: {result.export}  trials: {result.folder / 'trials.csv'}")


@main.command("export")
@click.argument("checkpoint", type=click.Path())
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Export folder [exports/MODEL].")
@click.option("--opset", type=int, default=18, show_default=True)
@click.option("--no-int8", is_flag=True, help="Skip the int8 variant.")
@click.option("--no-fp16", is_flag=True, help="Skip the float16 variant.")
@click.option("--no-portable", is_flag=True, help="Skip model.portable.onnx (no If/Scan: the file for tract).")
@click.option("--streaming", is_flag=True, help="Also write model.streaming.onnx (hidden state in/out).")
@click.option("--litert", metavar="BATCHxTIME",
              help="Also write model.tflite for LiteRT with this fixed shape, e.g. 1x128 (needs rnnzoo[litert]).")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def export_cmd(checkpoint: str, out_dir: str | None, opset: int, no_int8: bool, no_fp16: bool, no_portable: bool,
               streaming: bool, litert: str | None, as_json: bool) -> None:
    """Export CHECKPOINT (a .safetensors from `rnnzoo train`) to ONNX and verify parity."""
    from rnnzoo.exporting.exporter import export
    from rnnzoo.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    out = out_dir or f"exports/{ckpt.meta.model}"
    try:
        result = export(ckpt, out, opset=opset, int8=not no_int8, fp16=not no_fp16, streaming=streaming,
                        litert=litert, portable=not no_portable)
    except ParityError as exc:  # a failed check, not a usage error: exit 1, the message names what failed
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    summary = result.card.parity.summary if result.card.parity else "parity not checked"
    if as_json:
        click.echo(json.dumps({"folder": str(result.folder), "parity": summary, "variants": result.card.variants,
                               **({"litert": result.card.litert} if result.card.litert else {})}, indent=2))
    else:
        click.echo(f"{result.folder}: {summary}")
        if result.card.litert:
            lite = result.card.litert
            worst = max(c["max_abs_vs_pytorch"] for c in lite["parity"]["cases"])
            click.echo(f"{result.folder}/{lite['file']}: LiteRT, fixed batch {lite['shape']['batch']} x time "
                       f"{lite['shape']['time']}, builtin ops only, max abs vs PyTorch {worst:.2g}")


@main.command()
@click.argument("folders", nargs=-1, required=True, metavar="FOLDER...")
@click.option("--no-parity", is_flag=True, help="Skip the PyTorch comparison (no torch needed).")
@click.option("--runtime", "runtimes", metavar="NAME[,NAME]|all",
              help="Also run the stored test data in these inference runtimes (`all`: every installed one).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON (one folder: its report; several: {passed, exports: [...]}).")
@click.option("--junit-xml", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write JUnit XML: one testcase per export x check x runtime.")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False), metavar="OLD",
              help="Drift gate: compare with a previous export or baseline folder (or a folder of them, by name).")
@click.option("--max-abs-change", type=click.FloatRange(min=0), metavar="X",
              help="Drift gate: largest allowed output change [the model's parity tolerance].")
@click.option("--min-agreement", type=click.FloatRange(0, 1), metavar="P",
              help="Drift gate: least argmax agreement, classifiers [reported, not gated].")
@click.option("--max-metric-change", type=click.FloatRange(min=0), metavar="X",
              help="Drift gate: largest change of a recorded val/test metric [reported, not gated].")
@click.option("--save-baseline", type=click.Path(file_okay=False), metavar="DIR",
              help="After verifying, copy the stored test data and metrics to DIR (a few KB) for a later --baseline.")
@_friendly
def verify(folders: tuple[str, ...], no_parity: bool, runtimes: str | None, as_json: bool, junit_xml: str | None,
           baseline: str | None, max_abs_change: float | None, min_agreement: float | None,
           max_metric_change: float | None, save_baseline: str | None) -> None:
    """Re-check export FOLDERs (or a glob): hashes, onnx.checker, test_data_set_*, parity vs the checkpoint.

    With --baseline, also how far each export's outputs moved from a previous export's; exit 1 when a
    threshold is exceeded.
    """
    from rnnzoo.deploy.drift import DriftThresholds
    from rnnzoo.deploy.junit import write_junit
    from rnnzoo.exporting.verify_all import expand, save_baselines, verify_all

    paths = expand(folders)
    thresholds = DriftThresholds(max_abs_change, min_agreement, max_metric_change)
    reports = verify_all(paths, parity=False if no_parity else None, runtimes=runtimes, baseline=baseline,
                         thresholds=thresholds)
    if junit_xml:
        write_junit(junit_xml, reports)
    elif len(reports) == 1 and "error" in reports[0]:  # one folder that is no export: a usage error, as elsewhere
        raise ExportError(reports[0]["error"])
    passed = all(r["passed"] for r in reports)
    if as_json:
        doc = reports[0] if len(reports) == 1 else {"passed": passed, "exports": reports}
        click.echo(json.dumps(doc, indent=2, default=str))
    else:
        for report in reports:
            _echo_report(report)
    if passed and save_baseline:
        for dest in save_baselines(paths, save_baseline):
            click.echo(f"baseline written to {dest}", err=as_json)
    if not passed:
        sys.exit(1)


def _echo_report(report: dict[str, Any]) -> None:
    from rnnzoo.deploy.drift import drift_table

    for row in report.get("runtimes", []):
        click.echo(f"  {_runtime_line(row)}")
    if "drift" in report:
        click.echo(f"  drift vs {report['drift']['baseline']}:")
        click.echo("\n".join(f"    {line}" for line in drift_table(report["drift"]).splitlines()))
    for p in report["problems"]:
        click.echo(f"  ! {p}")
    extra = f"; {report['parity']['summary']}" if "parity" in report else ""
    click.echo(f"{report['folder']}: {'ok' if report['passed'] else 'FAILED'}{extra}")

def _runtime_line(row: dict[str, Any]) -> str:
    """``runtime openvino 2026.4.1: ok, max abs 1.2e-07 over 1 case`` (or skipped/FAILED and why)."""
    on = f" on {row['file']}" if row.get("file", "model.onnx") != "model.onnx" else ""  # model.portable.onnx's row
    head = f"runtime {row['runtime']} {row['version'] or '(not installed)'}{on}:"
    if row["skipped"]:
        return f"{head} skipped ({row['skipped']})"
    if not row["loads"]:
        return f"{head} FAILED ({row['error']})"
    n = len(row["cases"])
    diff = f"max abs {row['max_abs']:.1e}" if row["max_abs"] is not None else "no comparable output"
    return f"{head} {'ok' if row['passed'] else 'FAILED'}, {diff} over {n} case{'s' * (n != 1)}"


@main.command()
@click.argument("folder", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="Write predictions (.csv, .npy or .json).")
@click.option("--variant", type=_LazyChoice(_predict_variants), help="Model file to run [the float32 model].")
@_friendly
def predict(folder: str, data: str, out: str | None, variant: str | None) -> None:
    """Run the exported model in FOLDER on DATA with onnxruntime only (no torch needed)."""
    from rnnzoo.deploy.card import MODEL_FILE
    from rnnzoo.deploy.predict import predict as run

    result = run(folder, data, out, variant=variant or MODEL_FILE)
    y = result["outputs"]
    if out:
        click.echo(f"wrote {len(y)} predictions to {out}")
        return
    names = result["labels"]
    for i, row in enumerate(y[:20]):
        is_label = result["task"] == "classification" and names
        shown = names[int(row.argmax())] if is_label else row.round(4).tolist()
        click.echo(f"{i}\t{shown}")
    if len(y) > 20:
        click.echo(f"... {len(y) - 20} more (use --out)")


@main.command()
@click.argument("pattern", default="*")
@click.option("--exports", default="exports", show_default=True, type=click.Path(file_okay=False))
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the table as JSON.")
@click.option("--runtime", "runtimes", metavar="NAME[,NAME]|all",
              help="Also time model.onnx in these runtimes, one column each (`all`: every installed one but the "
                   "slow `reference`).")
@_friendly
def bench(pattern: str, exports: str, threads: int, repeats: int, out: str | None, runtimes: str | None) -> None:
    """Latency of exported models: PyTorch eager vs onnxruntime vs int8 (vs --runtime), side by side in one run."""
    from rnnzoo.core.registry import list_models
    from rnnzoo.deploy.card import MODEL_FILE
    from rnnzoo.zoo.bench import (
        bench_environment,
        benchmark_zoo,
        matmul_peak_gflops,
        select_runtimes,
        table_header,
        table_row,
    )

    names = [n for n in list_models(pattern) if (Path(exports) / n / MODEL_FILE).exists()]
    if not names:
        raise click.UsageError(f"no exported models under {exports}/; run `rnnzoo zoo` first")
    extra = select_runtimes(runtimes) if runtimes is not None else []
    peak = matmul_peak_gflops(threads)
    header = bench_environment(threads, peak)
    if extra:
        header["runtimes"] = ",".join(extra)
    for line in table_header(header, extra):
        click.echo(line)
    rows = benchmark_zoo(Path(exports), names, threads, repeats, peak_gflops=peak, runtimes=extra)
    for r in rows:
        click.echo(table_row(r, extra))
    for r in rows:
        for name, why in r.get("runtime_errors", {}).items():
            click.echo(f"  ! {r['model']} batch {r['batch']} len {r['length']}: runtime {name}: {why}", err=True)
    if out:
        from rnnzoo.core.atomic import atomic_write

        text = json.dumps({**header, "rows": rows}, indent=2)
        atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
        click.echo(f"wrote {out}")


@main.command()
@click.argument("pattern", default="*")
@click.option("--out", default="exports", show_default=True, type=click.Path(file_okay=False))
@click.option("--epochs", type=int, help="Override every model's epoch budget (e.g. 2 for a smoke run).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="Models run at once, each in its own worker process. Rows do not depend on it.")
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch threads per model (keep jobs x threads <= CPUs). Results depend on it.")
@click.option("--data", help="Train every model that fits this dataset name or file (.npz/.csv/.ts) instead of "
                             "each model's default; adds a leaderboard to the report.")
@click.option("--test", "test_data", type=click.Path(dir_okay=False),
              help="With --data: a file with the test part (reported beside, never used for selection).")
@click.option("--task", type=click.Choice(TASKS), help="With --data: the task of a .npz/.csv file.")
@click.option("--fail-at-chance", is_flag=True,
              help="Exit 1 also when a model is at chance level (classifier) or no better than the mean (regressor).")
@click.option("--tune", type=click.IntRange(min=1), metavar="N",
              help="With --data: each model first searches its hyperparameters with N trials (as rnnzoo tune; "
                   "study in OUT/tuning/MODEL), then trains the chosen configuration for the leaderboard.")
@click.option("--quiet", is_flag=True)
@_friendly
def zoo(pattern: str, out: str, epochs: int | None, seed: int, jobs: int, threads: int, data: str | None,
        test_data: str | None, task: str | None, fail_at_chance: bool, quiet: bool, tune: int | None = None) -> None:
    """The main job: train, export and verify every model matching PATTERN; write OUT/REPORT.md.

    With --data, every matching model whose task fits the data trains on it, and the
    report ranks them by validation metric.
    """
    from rnnzoo.zoo.leaderboard import at_chance
    from rnnzoo.zoo.run import run_zoo

    rows = run_zoo(pattern, out, epochs=epochs, quiet=quiet, seed=seed, jobs=jobs, threads=threads, data=data,
                   test_data=test_data, task=task, tune=tune)
    width = max([18, *(len(r.model) for r in rows)])
    for r in rows:
        verdict = r.chance["label"].upper() if r.chance else ""
        status = "pass" if r.passed and not at_chance(r) else verdict if r.passed else f"FAIL {r.error}"
        value = f"{r.metric}={r.value:.3f}" if r.value is not None else ""
        parity = "-" if r.max_abs_ort is None else f"{r.max_abs_ort:.1e}"
        click.echo(f"{r.model:<{width}} {value:<22} parity={parity:<8} {status}")
    chance = [r.model for r in rows if r.passed and at_chance(r)]
    note = f"; {len(chance)} at chance level" if chance else ""
    click.echo(f"{sum(r.passed for r in rows)}/{len(rows)} passed{note}; report: {Path(out) / 'REPORT.md'}")
    if not all(r.passed for r in rows) or (fail_at_chance and chance):
        sys.exit(1)


@main.command()
@click.option("--models", metavar="PATTERN[,PATTERN]", help="Models to train (shell wildcards) [every registered one].")
@click.option("--datasets", metavar="PATTERN[,PATTERN]",
              help="Offline real sets (see `rnnzoo datasets`; shell wildcards) [every one].")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per (model, dataset), seeds 0..N-1.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs at once, each in its own worker process on one torch thread.")
@click.option("--epochs", type=click.IntRange(min=1),
              help="Override every run's epoch budget (smoke runs; the table then says it is not the defaults).")
@click.option("--out", default="runs/benchmark.json", show_default=True, type=click.Path(dir_okay=False),
              help="Results as JSON, and the table as Markdown beside it (same name, .md).")
@click.option("--quiet", is_flag=True, help="No machine record or per-run lines on stderr.")
@_friendly
def benchmark(models: str | None, datasets: str | None, seeds: int, jobs: int, epochs: int | None, out: str,
              quiet: bool) -> None:
    """Train the models on every offline real dataset (standard split, default settings, several seeds).

    Prints a Markdown table of test accuracy or RMSE (mean ± spread over seeds) beside published
    results, the chance baseline and seconds per dataset; a cell says when seeds were at chance level
    (the zoo's rule, each seed judged on its own). The six built-ins on every set: about 2 minutes, -j 2.
    """
    from rnnzoo.zoo.benchmark import run_benchmark

    progress = None if quiet else functools.partial(click.echo, err=True)
    summary = run_benchmark(models, datasets, seeds, jobs, out, config={"epochs": epochs} if epochs else None,
                            progress=progress)
    click.echo(summary["markdown"])
    click.echo(f"\nwrote {Path(out).with_suffix('.json')} and {Path(out).with_suffix('.md')}")


@main.command("new-plugin")
@click.argument("name")
@click.option("--dir", "parent", default=".", show_default=True, type=click.Path(file_okay=False))
@_friendly
def new_plugin(name: str, parent: str) -> None:
    """Write a working plugin distribution rnnzoo-NAME (model, entry point, conformance test)."""
    from rnnzoo.scaffold import new_plugin as scaffold

    root = scaffold(name, parent)
    click.echo(f"created {root}\nnext: pip install -e {root} && pytest {root}/tests")
