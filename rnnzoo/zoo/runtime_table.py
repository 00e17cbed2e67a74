"""REPORT.md's model x runtime table, from the runtime matrix each export card records.

Apart from run.py so the main job's module stays about the job: what runs,
in which process, and what a failure leaves behind.
"""

from __future__ import annotations

from typing import Any


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def runtime_matrix_lines(rows: list[Any]) -> list[str]:
    """REPORT.md's model x runtime table, from each card's ``runtimes`` section (none when no card has one)."""
    names = list(dict.fromkeys(r["runtime"] for row in rows for r in row.runtimes))
    if not names:
        return []
    versions = {n: next((r["version"] for row in rows for r in row.runtimes if r["runtime"] == n and r["version"]),
                        None) for n in names}
    lines = ["## Runtime matrix", "",
             "The float32 `model.onnx` in every registered runtime on the small parity cases, vs PyTorch at the "
             "model's tolerance: pass/FAIL, max abs difference, then median latency at 1 thread, batch 1 x 50 "
             "steps / batch 64 x 300 steps (ms; `-`: not timed). Last column: the other files' rows that passed "
             "(int8/fp16 within 1e-4 of onnxruntime on the same file; `model.portable.onnx` and streaming vs "
             "PyTorch). Informational (`rnnzoo verify --runtime` is the gate); `info`: a "
             "runtime that is off from float32 by design (openvino_default: OpenVINO's own bf16/int8 defaults), "
             "measured, not judged. The card has each file's rows per runtime.", "",
             "| model | " + " | ".join(f"{n} {versions[n] or ''}".strip() for n in names) + " | other files pass |",
             "|---|" + "---|" * len(names) + "---:|"]
    for row in rows:
        by = {(r["runtime"], r["variant"]): r for r in row.runtimes}
        cells = [_runtime_cell(by.get((n, "fp32"))) for n in names]
        variants = [r for r in row.runtimes if r["variant"] != "fp32" and not r["skipped"]]
        agree = f"{sum(r['passed'] is True for r in variants)}/{len(variants)}" if variants else "-"
        lines.append(f"| `{row.model}` | " + " | ".join(cells) + f" | {agree} |")
    return [*lines, ""]


def _runtime_cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    if r["skipped"]:
        return "skipped"
    if not r["loads"]:
        return "**FAIL** (does not load)"
    verdict = "info" if r["passed"] is None else "pass" if r["passed"] else "**FAIL**"  # None: not a gate
    lat = r.get("latency_ms") or {}
    times = " / ".join(_fmt(v, ".3g") for v in lat.values()) if any(v is not None for v in lat.values()) else ""
    return f"{verdict} {_fmt(r['max_abs'], '.1e')}" + (f"; {times} ms" if times else "")
