"""The main job: train, export and verify every registered model, then write a readable report.

One model's failure is recorded in its row and never stops the others.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnzoo import __version__
from rnnzoo.checkpoint import atomic_write
from rnnzoo.registry import get_spec, list_models


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
    int8_recurrent: bool | None = None
    max_abs_ort: float | None = None
    max_abs_ref: float | None = None
    speedup: float | None = None
    train_s: float = 0.0
    export_s: float = 0.0
    error: str = ""
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)


def run_zoo(
    pattern: str | list[str] = "*", out: str | Path = "exports", epochs: int | None = None,
    quiet: bool = False, seed: int = 0,
) -> list[ZooRow]:
    """Train → export → verify each model matching ``pattern``; write REPORT.md and index.json."""
    from tqdm.auto import tqdm

    out = Path(out)
    names = list_models(pattern)
    rows = []
    bar = tqdm(names, desc="zoo", unit="model", disable=quiet)
    for name in bar:
        bar.set_postfix_str(name)
        rows.append(_one(name, out, epochs, seed))
    write_report(out, rows)
    return rows


def _one(name: str, out: Path, epochs: int | None, seed: int) -> ZooRow:
    from rnnzoo.bench import compare_latency
    from rnnzoo.exporter import export
    from rnnzoo.trainer import train

    spec = get_spec(name)
    row = ZooRow(name, spec.task, spec.default_dataset or "")
    try:
        if not spec.default_dataset:
            raise ValueError(f"{name} declares no default_dataset; the zoo cannot train it")
        start = time.perf_counter()
        extra = {"epochs": epochs} if epochs else {}
        result = train(name, spec.default_dataset, quiet=True, seed=seed, **extra)
        row.train_s, row.history = time.perf_counter() - start, result.history
        row.metric = "val_accuracy" if spec.task == "classification" else "val_rmse"
        row.value = result.metrics.get(row.metric)
        row.params = sum(p.numel() for p in result.model.parameters())
        start = time.perf_counter()
        exp = export(result, out / name, data=result.splits.val)
        row.export_s = time.perf_counter() - start
        _fill_from_card(row, exp.card, out / name)
        row.speedup = compare_latency(result.model, out / name / "model.onnx", 16, 50, threads=1,
                                      repeats=10)["speedup"]
        row.passed = exp.passed
    except Exception as exc:  # one model's failure is reported in its row, never fatal
        row.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    return row


def _fill_from_card(row: ZooRow, card: dict[str, Any], folder: Path) -> None:
    row.onnx_kb = (folder / "model.onnx").stat().st_size / 1024
    int8 = card["variants"].get("int8", {})
    if int8:
        row.int8_kb, row.int8_ratio = int8["size_bytes"] / 1024, int8["size_ratio"]
        row.int8_recurrent = int8["recurrent_quantized"]
    row.max_abs_ort = card["parity"]["max_abs_onnxruntime"]
    row.max_abs_ref = card["parity"]["max_abs_reference"]


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def write_report(out: Path, rows: list[ZooRow]) -> None:
    """exports/index.json, exports/REPORT.md and the figures it links."""
    from dataclasses import asdict

    from rnnzoo.plots import plot_zoo

    out.mkdir(parents=True, exist_ok=True)
    index = {"rnnzoo": __version__, "python": platform.python_version(),
             "models": [{k: v for k, v in asdict(r).items() if k != "history"} for r in rows]}
    atomic_write(out / "index.json", lambda p: p.write_text(json.dumps(index, indent=2), encoding="utf-8"))
    figures = plot_zoo(rows, out)
    lines = [
        "# rnnzoo report", "",
        f"{sum(r.passed for r in rows)}/{len(rows)} models passed "
        "(trained on their default dataset, exported to ONNX, parity verified).", "",
        "| model | task | dataset | val metric | params | ONNX KiB | int8 KiB (ratio) | int8 LSTM/GRU/RNN op "
        "| parity max abs (ORT / reference) | ORT speedup vs torch | result |",
        "|---|---|---|---|---:|---:|---:|---|---|---:|---|",
    ]
    for r in rows:
        metric = f"{r.metric.removeprefix('val_')} {_fmt(r.value, '.3f')}" if r.metric else "-"
        result = "pass" if r.passed else f"**FAIL** {r.error}"
        lines.append(
            f"| `{r.model}` | {r.task} | {r.dataset} | {metric} | {r.params:,} | {r.onnx_kb:.1f} | "
            f"{r.int8_kb:.1f} ({_fmt(r.int8_ratio, '.2f')}) | {_fmt(r.int8_recurrent, '')} | "
            f"{_fmt(r.max_abs_ort, '.1e')} / {_fmt(r.max_abs_ref, '.1e')} | {_fmt(r.speedup, '.2f')}x | "
            f"{result} |"
        )
    lines += ["", "ORT speedup: PyTorch eager / onnxruntime median latency, batch 16, 50 steps, 1 thread, "
              "measured side by side in this run. int8 LSTM/GRU/RNN op: whether onnxruntime's "
              "dynamic quantizer quantized the recurrent op itself (it has no GRU/RNN kernel).", ""]
    lines += [f"![{f.stem}]({f.name})" for f in figures]
    text = "\n".join(lines) + "\n"
    atomic_write(out / "REPORT.md", lambda p: p.write_text(text, encoding="utf-8"))
