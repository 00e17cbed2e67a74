"""Inference runtimes as plugins, and ``rnnzoo verify --runtime``."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.core import plugins
from rnnzoo.errors import DuplicateNameError, PluginError, UnknownRuntimeError

NODE_RUNTIMES = {"web", "node"}  # onnxruntime-web (wasm) and onnxruntime-node, in Node.js (make node-runtimes)
BUILTIN_RUNTIMES = {"onnxruntime", "reference", "openvino", "openvino_default", "tract"} | NODE_RUNTIMES
GATES = BUILTIN_RUNTIMES - {"openvino_default"}  # what `--runtime all` judges (openvino_default: gate=False)
ROW_KEYS = {"runtime", "file", "version", "loads", "max_abs", "max_rel", "passed", "skipped", "error", "cases"}

# A third-party runtime built on onnxruntime: {offset} is added to every output, so a non-zero offset is a runtime
# that returns wrong numbers; {reason} is what available() says (None: installed).
RUNTIME_PLUGIN = '''
import rnnzoo
from rnnzoo.runtimes import onnxruntime as ort_rt

REASON = {reason!r}


def load(path, threads):
    run = ort_rt.load(path, threads)
    return lambda x, lengths: run(x, lengths) + {offset}


def version():
    if REASON is not None:
        raise ImportError("acme runtime is not installed")
    return "9.9"


@rnnzoo.hookimpl
def rnnzoo_register_runtimes(register):
    register(rnnzoo.RuntimeSpec(name="{name}", description="a third-party runtime", load=load,
                                version=version, available=lambda: REASON))
'''


def _plugin(name: str, offset: float = 0.0, reason: str | None = None) -> str:
    return RUNTIME_PLUGIN.format(name=name, offset=offset, reason=reason)


def _record(name: str) -> dict:
    return next(r for r in rnnzoo.list_plugins() if r["name"] == name)


def _export(folder: Path, name: str, **hparams: object) -> Path:
    torch.manual_seed(0)
    model = rnnzoo.create_model(name, input_size=3, output_size=2, **hparams)
    return rnnzoo.export(model, folder, int8=False, fp16=False).folder


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runtime_exports")
    cases = {"rnn": ("rnn_classifier", {}), "lstm": ("lstm_classifier", {}), "gru": ("gru_classifier", {}),
             "gru_bidir": ("gru_classifier", {"bidirectional": True})}
    return {label: _export(root / label, name, **hp) for label, (name, hp) in cases.items()}


def _installed() -> set[str]:
    return {n for n in rnnzoo.list_runtimes() if rnnzoo.get_runtime(n).available() is None}


# ---------------------------------------------------------------- registry


def test_builtin_runtimes_are_registered_with_versions() -> None:
    plugins.reload()
    assert set(rnnzoo.list_runtimes()) >= BUILTIN_RUNTIMES
    assert rnnzoo.list_runtimes("o*") == ["onnxruntime", "openvino", "openvino_default"]
    rec = _record("builtin_runtimes")
    assert rec["distribution"] == "rnnzoo" and rec["status"] == "ok"
    assert set(rec["runtimes"]) == BUILTIN_RUNTIMES | {"litert"}  # litert runs model.tflite: test_litert.py
    for name in BUILTIN_RUNTIMES:
        spec = rnnzoo.get_runtime(name)
        assert isinstance(spec, rnnzoo.RuntimeSpec) and spec.name == name
        if spec.available() is None:
            assert spec.version()[0].isdigit()
        else:
            assert ("make node-runtimes" if name in NODE_RUNTIMES else "pip install") in str(spec.available())
            with pytest.raises(ImportError):
                spec.version()
    # the two that ship with rnnzoo's own dependencies are always usable
    assert {"onnxruntime", "reference"} <= _installed()


def test_unknown_runtime_suggests_close_names() -> None:
    with pytest.raises(UnknownRuntimeError, match="Did you mean: openvino"):
        rnnzoo.get_runtime("openvno")
    assert issubclass(UnknownRuntimeError, rnnzoo.UnknownModelError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad-Name"}, "invalid"),
        ({"description": "two\nlines"}, "description"),
        ({"load": 3}, "load must be callable"),
        ({"available": "yes"}, "available must be callable"),
    ],
)
def test_runtime_spec_is_validated(kwargs: dict, message: str) -> None:
    fields = {"name": "ok_rt", "description": "fine", "load": lambda p, t: None, "version": lambda: "1",
              "available": lambda: None, **kwargs}
    with pytest.raises(PluginError, match=message):
        rnnzoo.RuntimeSpec(**fields)


def test_malformed_runtime_from_a_plugin_is_isolated(fake_dist) -> None:
    src = ("import rnnzoo\n@rnnzoo.hookimpl\ndef rnnzoo_register_runtimes(register):\n"
           "    register(rnnzoo.RuntimeSpec(name='acme_rt', description='x', load=3, version=str, "
           "available=lambda: None))\n")
    fake_dist("acme-badrt", "acme_badrt_plugin", src)
    with pytest.warns(RuntimeWarning, match="acme-badrt"):
        plugins.reload()
    rec = _record("acme_badrt_plugin")
    assert rec["status"] == "error" and "load must be callable" in rec["errors"][0] and rec["runtimes"] == []
    assert "acme_rt" not in rnnzoo.list_runtimes()
    assert set(rnnzoo.list_runtimes()) >= BUILTIN_RUNTIMES


def test_duplicate_runtime_names_both_distributions(fake_dist) -> None:
    fake_dist("acme-tract", "acme_tract_plugin", _plugin("tract"))
    with pytest.warns(RuntimeWarning, match="runtime name 'tract'"):
        plugins.reload()
    with pytest.raises(DuplicateNameError, match=r"both rnnzoo .*and acme-tract"):
        rnnzoo.get_runtime("tract")
    assert "tract" not in rnnzoo.list_runtimes()
    assert {"onnxruntime", "reference", "openvino"} <= set(rnnzoo.list_runtimes())  # the rest keeps working


# ---------------------------------------------------------------- verify --runtime


@pytest.mark.parametrize("label", ["rnn", "lstm", "gru", "gru_bidir"])
def test_verify_all_runtimes_pass(exports: dict[str, Path], label: str) -> None:
    report = rnnzoo.verify(exports[label], parity=False, runtimes="all")
    assert report["passed"], report["problems"]
    rows = {r["runtime"]: r for r in report["runtimes"]}
    assert set(rows) >= GATES and "openvino_default" not in rows
    for name, row in rows.items():
        assert set(row) == ROW_KEYS
        if name in _installed():
            assert row["loads"] and row["passed"] and row["skipped"] is None and row["error"] is None
            assert row["version"] and row["max_abs"] is not None and row["max_abs"] < 1e-4
            assert [c["name"] for c in row["cases"]] == ["test_data_set_0"]
        else:
            assert row["skipped"] and row["passed"] is None


def test_verify_without_runtime_is_unchanged(exports: dict[str, Path]) -> None:
    report = rnnzoo.verify(exports["gru"], parity=False)
    assert report["passed"] and "runtimes" not in report


def test_verify_runtime_cli(exports: dict[str, Path]) -> None:
    res = CliRunner().invoke(main, ["verify", str(exports["gru"]), "--no-parity", "--runtime", "onnxruntime,reference"])
    assert res.exit_code == 0, res.output
    assert "runtime onnxruntime" in res.output and "runtime reference" in res.output and "openvino" not in res.output
    res = CliRunner().invoke(main, ["verify", str(exports["gru"]), "--no-parity", "--runtime", "all", "--json"])
    assert res.exit_code == 0, res.output
    assert {r["runtime"] for r in json.loads(res.output)["runtimes"]} >= GATES
    res = CliRunner().invoke(main, ["verify", str(exports["gru"]), "--no-parity", "--runtime", "openvno"])
    assert res.exit_code != 0 and "Did you mean: openvino" in res.output


def test_uninstalled_runtime_is_skipped_under_all_and_fails_when_named(fake_dist, exports: dict[str, Path]) -> None:
    reason = "acme_missing is not installed: pip install acme-missing"
    fake_dist("acme-missing", "acme_missing_plugin", _plugin("acme_missing", reason=reason))
    plugins.reload()
    report = rnnzoo.verify(exports["gru"], parity=False, runtimes="all")
    assert report["passed"], report["problems"]
    row = next(r for r in report["runtimes"] if r["runtime"] == "acme_missing")
    assert row["skipped"] == reason and row["passed"] is None and row["version"] is None and not row["loads"]

    report = rnnzoo.verify(exports["gru"], parity=False, runtimes=["acme_missing"])
    assert not report["passed"]
    assert any("acme_missing" in p and reason in p for p in report["problems"])
    res = CliRunner().invoke(main, ["verify", str(exports["gru"]), "--no-parity", "--runtime", "acme_missing"])
    assert res.exit_code == 1 and reason in res.output


def test_runtime_with_wrong_numbers_fails_verify_naming_it(fake_dist, exports: dict[str, Path]) -> None:
    fake_dist("acme-wrong", "acme_wrong_plugin", _plugin("acme_wrong", offset=0.5))
    plugins.reload()
    report = rnnzoo.verify(exports["lstm"], parity=False, runtimes="all")
    assert not report["passed"]
    row = next(r for r in report["runtimes"] if r["runtime"] == "acme_wrong")
    assert row["loads"] and row["passed"] is False and row["max_abs"] == pytest.approx(0.5, rel=1e-3)
    assert report["problems"] and all("runtime acme_wrong: test_data_set_0" in p for p in report["problems"])
    res = CliRunner().invoke(main, ["verify", str(exports["lstm"]), "--no-parity", "--runtime", "acme_wrong"])
    assert res.exit_code == 1 and "runtime acme_wrong: test_data_set_0" in res.output


def test_runtime_that_cannot_load_fails_verify(fake_dist, exports: dict[str, Path]) -> None:
    src = _plugin("acme_broken").replace("run = ort_rt.load(path, threads)", "raise RuntimeError('unsupported op')")
    fake_dist("acme-broken", "acme_broken_rt_plugin", src)
    plugins.reload()
    report = rnnzoo.verify(exports["rnn"], parity=False, runtimes="all")
    row = next(r for r in report["runtimes"] if r["runtime"] == "acme_broken")
    assert not report["passed"] and not row["loads"] and row["error"] == "unsupported op"
    assert any(p.startswith("runtime acme_broken: cannot load model.onnx: unsupported op") for p in report["problems"])


# ---------------------------------------------------------------- web and node (Node.js)


def _node_missing() -> str | None:
    from rnnzoo.runtimes import web

    return web.WEB.available() or web.NODE.available()


needs_node = pytest.mark.skipif(_node_missing() is not None, reason=str(_node_missing()))


@pytest.fixture(scope="module")
def node_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("node_exports")
    cases = {"gru": ("gru_classifier", {}), "lstm_bidir": ("lstm_classifier", {"bidirectional": True}),
             "rnn": ("rnn_classifier", {})}
    return {label: _export(root / label, name, **hp) for label, (name, hp) in cases.items()}


@needs_node
@pytest.mark.parametrize("label", ["gru", "lstm_bidir", "rnn"])
def test_verify_web_and_node_runtimes(node_exports: dict[str, Path], label: str) -> None:
    report = rnnzoo.verify(node_exports[label], parity=False, runtimes=["web", "node"])
    assert report["passed"], report["problems"]
    rows = {r["runtime"]: r for r in report["runtimes"]}
    assert set(rows) == NODE_RUNTIMES
    for row in rows.values():
        assert row["loads"] and row["passed"] and row["max_abs"] < 1e-5 and row["version"][0].isdigit()


@needs_node
def test_web_and_node_run_int8_like_onnxruntime(tmp_path: Path) -> None:
    import numpy as np

    from rnnzoo.runtimes import onnxruntime as ort_rt
    from rnnzoo.runtimes import web

    torch.manual_seed(0)
    model = rnnzoo.create_model("gru_classifier", input_size=3, output_size=2)
    int8 = rnnzoo.export(model, tmp_path / "gru", int8=True, fp16=False).folder / "model.int8.onnx"
    x = np.random.default_rng(0).standard_normal((4, 9, 3)).astype(np.float32)
    lengths = np.array([9, 4, 1, 6], dtype=np.int64)
    want = ort_rt.load(int8, None)(x, lengths)
    for spec in (web.WEB, web.NODE):
        got = spec.load(int8, None)(x, lengths)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=spec.name)


@needs_node
def test_node_worker_errors_name_the_runtime(node_exports: dict[str, Path], tmp_path: Path) -> None:
    import numpy as np

    from rnnzoo.runtimes import web

    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(web.NodeRuntimeError, match="runtime web: "):
        web.WEB.load(bad, None)
    run = web.NODE.load(node_exports["gru"] / "model.onnx", None)
    x, lengths = np.zeros((2, 5, 3), np.float32), np.array([5, 3], np.int64)
    before = run(x, lengths)
    worker = web._worker("node")
    assert worker.proc is not None
    worker.proc.stdin.close()  # the worker ends at end of input, as if it had died
    worker.proc.wait(timeout=10)
    np.testing.assert_array_equal(run(x, lengths), before)  # a dead worker is restarted on the next call
    web.shutdown()
    assert worker.proc is None
    np.testing.assert_array_equal(run(x, lengths), before)  # and after shutdown too
    # a worker that dies while answering: a clear error naming the runtime, then a fresh worker next time
    pid = worker.proc.pid
    os.kill(pid, signal.SIGSTOP)
    threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(web.NodeRuntimeError, match=r"runtime node: its Node.js process \(node run.mjs\) exited"):
        run(x, lengths)
    np.testing.assert_array_equal(run(x, lengths), before)


def test_web_and_node_say_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rnnzoo.runtimes import web

    monkeypatch.setattr(web, "NODE_DIR", tmp_path)
    for spec in (web.WEB, web.NODE):
        assert "make node-runtimes" in str(spec.available())
        with pytest.raises(ImportError, match="make node-runtimes"):
            spec.version()
    monkeypatch.setattr(web.shutil, "which", lambda _: None)
    assert "node (Node.js >= 18) is not on PATH" in str(web.WEB.available())


def test_a_runtime_that_is_not_a_gate_is_measured_never_judged(fake_dist, exports: dict[str, Path]) -> None:
    """OpenVINO's defaults (bf16 on AMX CPUs) are off by design: shown to users, never a failed verify."""
    src = _plugin("acme_lossy", offset=0.5).replace("available=lambda: REASON)",
                                                   "available=lambda: REASON, gate=False)")
    fake_dist("acme-lossy", "acme_lossy_plugin", src)
    plugins.reload()
    assert "acme_lossy" not in [r["runtime"] for r in rnnzoo.verify(exports["lstm"], parity=False,
                                                                     runtimes="all")["runtimes"]]
    report = rnnzoo.verify(exports["lstm"], parity=False, runtimes="acme_lossy")
    row = report["runtimes"][0]
    assert report["passed"] and not report["problems"]
    assert row["passed"] is None and row["gate"] is False and row["max_abs"] == pytest.approx(0.5, rel=1e-3)
    assert "differs from the stored output" in row["error"]  # the difference is still said


def test_openvino_default_is_registered_as_an_informational_runtime() -> None:
    exact, default = rnnzoo.get_runtime("openvino"), rnnzoo.get_runtime("openvino_default")
    assert exact.gate and not default.gate and "bfloat16" in default.limitations
    assert exact.load_graph is not None and default.load_graph is not None


@pytest.mark.parametrize("bad", ["yes", 1])
def test_runtime_spec_gate_must_be_a_bool(bad: object) -> None:
    with pytest.raises(rnnzoo.PluginError, match="gate must be True or False"):
        rnnzoo.RuntimeSpec(name="x", description="d", load=lambda p, t: None, version=lambda: "1",
                           available=lambda: None, gate=bad)  # type: ignore[arg-type]


def test_reference_checks_sequences_longer_than_64_steps(tmp_path: Path) -> None:
    """onnx.reference's stock GatherElements (np.choose) stops at 64 positions: most real datasets are longer."""
    from rnnzoo.data.dataset import SequenceDataset

    rng = np.random.default_rng(0)
    n, t = 6, 150
    lengths = np.array([150, 149, 100, 65, 64, 3])
    x = rng.normal(size=(n, t, 3)).astype(np.float32)
    x[np.arange(t)[None, :] >= lengths[:, None]] = 0
    data = SequenceDataset(x, lengths, rng.integers(0, 2, n), "classification", name="long")
    torch.manual_seed(0)
    model = rnnzoo.create_model("gru_classifier", input_size=3, output_size=2, hidden_size=8)
    exp = rnnzoo.export(model, tmp_path / "long", int8=False, fp16=False, data=data)
    assert exp.card.parity.passed
    row = exp.card.runtimes.row("reference")
    assert row.loads and row.passed and row.error is None
    report = rnnzoo.verify(exp.folder, parity=False, runtimes="reference")
    assert report["passed"] and report["runtimes"][0]["passed"]


def test_rnnzoo_plugins_lists_what_a_runtime_plugin_registered() -> None:
    res = CliRunner().invoke(main, ["plugins"])
    line = next(ln for ln in res.output.splitlines() if "[builtin_runtimes]" in ln)
    assert res.exit_code == 0 and "onnxruntime" in line and "tract" in line, res.output
