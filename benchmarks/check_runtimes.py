"""Edge runtimes: does each export load and agree with onnxruntime in OpenVINO and tract; onnxruntime latency.

    .venv/bin/python benchmarks/check_runtimes.py [--repeats 21] [--before-commit 096dae1] [--json out.json]

Exports the six built-ins plus a 2-layer bidirectional GRU, a bidirectional
LSTM, a relu RNN, a per-step regressor and every installed plugin model
(input 3, output 2, default hidden size, untrained: loading and agreement do
not depend on the weights) twice:

* ``after``: ``rnnzoo.export(model, folder, int8=False, fp16=False)`` of the
  working tree (portable graph, parity-checked);
* ``before``: the graph as rnnzoo wrote it at ``--before-commit``: that
  commit's ``lowering.py`` and last-step readout, read with ``git show``,
  traced by today's tracer without the portable rewrite.

Each ``model.onnx`` runs in OpenVINO (CPU, f32) and tract on a ragged batch
of 7 x 20 (the fused-RNN branch of the lowering) and a ragged batch of
40 x 20 (the Scan branch); the table gives the max abs difference from
onnxruntime over both, or why it did not load or run; the onnxruntime column
compares onnxruntime's own outputs after vs before. Then onnxruntime's
latency, 1 thread, median of ``--repeats`` calls (20x as many at batch 1 x 50,
where a call takes ~0.05 ms), before and after measured interleaved in one
run (only ratios from one run mean anything on a shared machine). openvino
and tract are optional: a missing one is reported, not fatal. tract 0.23's
Python API has no ``into_optimized``: ``into_runnable`` optimizes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

import rnnzoo
from rnnzoo.deploy.runtime import make_session
from rnnzoo.exporting.exporter import resolve_source
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.exporting.trace import onnx_metadata, trace
from rnnzoo.models.recurrent import RecurrentEncoder
from rnnzoo.zoo.machine import describe, machine_info

OPSET = 18
BUILTINS = ("rnn_classifier", "rnn_regressor", "lstm_classifier", "lstm_regressor", "gru_classifier",
            "gru_regressor")
CASES: list[tuple[str, str, dict[str, Any]]] = [
    *((name, name, {}) for name in BUILTINS),
    ("gru 2-layer bidir", "gru_classifier", {"num_layers": 2, "bidirectional": True}),
    ("lstm bidir", "lstm_classifier", {"bidirectional": True}),
    ("rnn relu", "rnn_classifier", {"nonlinearity": "relu"}),
    ("rnn per-step", "rnn_regressor", {"per_step": True}),
]
Feeds = dict[str, np.ndarray]
Runner = Callable[[Feeds], np.ndarray]


def inputs(features: int = 3) -> list[Feeds]:
    """Ragged 7 x 20 (below the lowering's batch threshold) and ragged 40 x 20 (above it)."""
    rng = np.random.default_rng(0)
    small = np.array([20, 1, 7, 13, 2, 20, 9], np.int64)
    large = rng.integers(1, 21, 40).astype(np.int64)
    return [{"x": rng.normal(size=(len(lens), 20, features)).astype(np.float32), "lengths": lens}
            for lens in (small, large)]


# ---------------------------------------------------------------- runtimes


def ort_runner(path: Path) -> Runner:
    session = make_session(path, threads=1)
    return lambda feeds: session.run(None, feeds)[0]


def openvino_runner(path: Path) -> Runner:
    import openvino

    compiled = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return lambda feeds: np.asarray(compiled(feeds)[compiled.output(0)])


def tract_runner(path: Path) -> Runner:
    """tract 0.23's Python API: ``into_runnable`` optimizes; the file's own input facts keep batch/time symbolic."""
    import tract

    runnable = tract.onnx().load(str(path)).into_model().into_runnable()
    return lambda feeds: runnable.run([feeds["x"], feeds["lengths"]])[0].to_numpy()


EDGE: dict[str, Callable[[Path], Runner]] = {"openvino": openvino_runner, "tract": tract_runner}


def edge_result(make: Callable[[Path], Runner], path: Path, cases: list[Feeds], want: list[np.ndarray]) -> str:
    """Max abs diff vs onnxruntime over ``cases``, or the first line of why the runtime failed."""
    try:
        run = make(path)
        return f"{max(float(np.max(np.abs(run(f) - w))) for f, w in zip(cases, want, strict=True)):.1e}"
    except ImportError as exc:
        return f"not installed ({exc.name})"
    except Exception as exc:  # each runtime raises its own types
        return "FAIL: " + _first_line(str(exc))


def _first_line(text: str) -> str:
    """The most telling line of a runtime's multi-line error."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for key in ("Shapes", "Condition failed", "Number of", "Duplicate", "Check '"):
        hit = next((ln for ln in lines if key in ln), None)
        if hit:
            return hit[:110]
    return (lines[0] if lines else "?")[:110]


# ---------------------------------------------------------------- the two graphs


def legacy_code(commit: str) -> tuple[Callable[[Any], Any], Callable[..., Any]] | None:
    """``lower_recurrent`` and ``RecurrentEncoder.last_state`` as they were at ``commit`` (``None`` without git)."""
    modules = []
    for path in ("rnnzoo/exporting/lowering.py", "rnnzoo/models/recurrent.py"):
        try:
            src = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True, check=True,
                                 cwd=Path(__file__).resolve().parents[1]).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        module = types.ModuleType(f"legacy_{Path(path).stem}")
        exec(compile(src, f"{commit}:{path}", "exec"), module.__dict__)
        modules.append(module)
    return modules[0].lower_recurrent, modules[1].RecurrentEncoder.last_state


@contextlib.contextmanager
def patched(owner: type, name: str, value: Any) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


def export_pair(name: str, hp: dict[str, Any], folder: Path, legacy: Any) -> dict[str, Path]:
    """``{"before": path, "after": path}`` for one model (``before`` only when the old code could be read)."""
    torch.manual_seed(0)
    model = rnnzoo.create_model(name, input_size=3, output_size=2, **hp)
    paths = {"after": rnnzoo.export(model, folder / "after", int8=False, fp16=False).folder / "model.onnx"}
    if legacy is not None:
        lower, last_state = legacy
        net, meta = resolve_source(model)
        io = IoSpec.from_meta(meta)
        with patched(RecurrentEncoder, "last_state", last_state):
            proto = trace(net, io.sample_inputs("trace")[0], io, OPSET, model=meta.model,
                          metadata=onnx_metadata(meta, OPSET, io), rewrite=lower)
        paths["before"] = folder / "before.onnx"
        paths["before"].write_bytes(proto.SerializeToString())
    return paths


# ---------------------------------------------------------------- latency


def latency_ms(runners: dict[str, Runner], feeds: Feeds, repeats: int) -> dict[str, float]:
    """Median ms per runner, the runners interleaved (order alternating) so drift hits them alike."""
    times: dict[str, list[float]] = {k: [] for k in runners}
    for run in runners.values():
        run(feeds)
    for r in range(repeats):
        for key in (list(runners) if r % 2 == 0 else list(reversed(runners))):
            start = time.perf_counter()
            runners[key](feeds)
            times[key].append((time.perf_counter() - start) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}


def bench_feeds(batch: int, length: int) -> Feeds:
    return dict(IoSpec.for_model(3).sample_inputs("bench", batch=batch, length=length)[0].feeds)


def ort_latency(paths: dict[str, Path], shapes: list[tuple[int, int]], repeats: int) -> dict[str, dict[str, float]]:
    """``{"b1x50": {"before": ms, "after": ms}, ...}``; 20x the repeats where a call is short."""
    ort = {k: ort_runner(p) for k, p in paths.items()}
    return {f"b{b}x{t}": latency_ms(ort, bench_feeds(b, t), repeats * (20 if b * t < 1000 else 1))
            for b, t in shapes}


def runtime_rows(label: str, paths: dict[str, Path], cases: list[Feeds]) -> list[dict[str, str]]:
    """One table row per graph (before, then after): onnxruntime vs before, then each edge runtime vs onnxruntime."""
    ort = {k: ort_runner(p) for k, p in paths.items()}
    wants = {graph: [ort[graph](f) for f in cases] for graph in paths}
    return [{"model": label, "graph": graph, "onnxruntime": _vs_before(wants, graph),
             **{rt: edge_result(make, path, cases, wants[graph]) for rt, make in EDGE.items()}}
            for graph, path in sorted(paths.items(), reverse=True)]


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--before-commit", default="096dae1", help="the commit whose export is 'before'")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    machine = machine_info((1,))  # where the figures come from: CPU, ISA, cores, versions, sgemm peak
    print("\n".join(describe(machine)))
    onnxruntime.set_default_logger_severity(3)
    torch.set_num_threads(1)
    print(f"torch={torch.__version__} onnxruntime={onnxruntime.__version__} openvino={_version('openvino')} "
          f"tract={_version('tract')}")
    legacy = legacy_code(args.before_commit)
    if legacy is None:
        print(f"(no 'before' columns: cannot read {args.before_commit} with git)")
    plugins = [(name, name, {}) for name in rnnzoo.list_models() if name not in BUILTINS]  # installed plugins too
    shapes = [(1, 50), (64, 300)]
    with tempfile.TemporaryDirectory() as tmp:
        exported = [(label, export_pair(name, hp, Path(tmp, label.replace(" ", "_")), legacy))
                    for label, name, hp in CASES + plugins]
        # latency first: OpenVINO's and tract's worker threads, once started, compete for the same cores
        lat_rows = [{"model": label, **ort_latency(paths, shapes, args.repeats)} for label, paths in exported]
        rows = [row for label, paths in exported for row in runtime_rows(label, paths, inputs())]
    _print_table(rows)
    _print_latency(lat_rows, shapes)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "runtimes": rows, "latency_ms": lat_rows}, indent=2))


def _vs_before(wants: dict[str, list[np.ndarray]], graph: str) -> str:
    """onnxruntime's outputs on this graph vs on the ``before`` graph: 0 means the change kept them bit-identical."""
    if graph == "before" or "before" not in wants:
        return "ok"
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(wants[graph], wants["before"], strict=True))
    return f"{diff:.1e} vs before"


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__ if module != "tract" else __import__(module).version())
    except ImportError:
        return "not installed"


def _print_table(rows: list[dict[str, str]]) -> None:
    print("\nmodel x runtime: max abs diff vs onnxruntime over ragged 7x20 and 40x20, or why it failed")
    print(f"{'model':<26}{'graph':<8}{'onnxruntime':<20}{'openvino':<62}{'tract':<62}")
    for r in rows:
        print(f"{r['model']:<26}{r['graph']:<8}{r['onnxruntime']:<20}{r['openvino']:<62.61}{r['tract']:<62.61}")


def _print_latency(rows: list[dict[str, Any]], shapes: list[tuple[int, int]]) -> None:
    print("\nonnxruntime latency, 1 thread, median ms (before -> after, ratio after/before)")
    print(f"{'model':<26}" + "".join(f"{f'batch {b} x {t}':>30}" for b, t in shapes))
    for r in rows:
        cells = []
        for b, t in shapes:
            m = r[f"b{b}x{t}"]
            cells.append(f"{m.get('before', float('nan')):>9.3f} -> {m['after']:>8.3f} "
                         f"({m['after'] / m.get('before', float('nan')):>5.2f}x)")
        print(f"{r['model']:<26}" + "".join(f"{c:>30}" for c in cells))


if __name__ == "__main__":
    main()
