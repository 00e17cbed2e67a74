"""The CLI end to end in a temporary folder: every command, bad arguments, missing files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from rnnzoo.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_filters_and_json() -> None:
    res = invoke("list", "rnn_*", "--json")
    assert res.exit_code == 0
    rows = json.loads(res.output)
    assert [r["name"] for r in rows] == ["rnn_classifier", "rnn_regressor"]
    assert rows[0]["plugin"] == "rnnzoo"
    res = invoke("list", "--task", "regression")
    assert "gru_regressor" in res.output and "gru_classifier" not in res.output


def test_plugins_and_datasets_listings() -> None:
    rows = json.loads(invoke("plugins", "--json").output)
    assert {r["name"] for r in rows} >= {"builtin_models", "builtin_datasets"}
    assert "sines" in invoke("datasets").output


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """train -> export through the CLI, shared by the checks below."""
    root = tmp_path_factory.mktemp("cli")
    res = invoke("train", "gru_classifier", "--epochs", "2", "--hp", "hidden_size=16", "--quiet",
                 "--out", str(root / "run"), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["checkpoint"].endswith("model.safetensors")
    res = invoke("export", str(root / "run" / "model.safetensors"), "--out", str(root / "exp"))
    assert res.exit_code == 0 and "parity ok" in res.output, res.output
    return root


def test_verify_passes_then_detects_an_edited_file(pipeline, tmp_path) -> None:
    res = invoke("verify", str(pipeline / "exp"), "--json")
    report = json.loads(res.output)
    assert res.exit_code == 0 and report["passed"] and report["parity"]["passed"]
    assert report["test_data_sets"][0]["passed"]
    import shutil

    copy = tmp_path / "exp"
    shutil.copytree(pipeline / "exp", copy)
    with open(copy / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    res = invoke("verify", str(copy))
    assert res.exit_code == 1 and "model.onnx: sha256 differs" in res.output


def test_predict_writes_csv_with_label_names(pipeline, tmp_path) -> None:
    x = np.random.default_rng(0).normal(size=(5, 12, 2)).astype(np.float32)
    np.savez(tmp_path / "in.npz", X=x, lengths=np.array([12, 3, 7, 1, 12]))
    res = invoke("predict", str(pipeline / "exp"), str(tmp_path / "in.npz"), "--out", str(tmp_path / "p.csv"))
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].startswith("index,prediction,p_period_4") and len(lines) == 6
    probs = [sum(map(float, line.split(",")[2:])) for line in lines[1:]]
    assert probs == pytest.approx([1.0] * 5, abs=1e-4)


def test_predict_runs_without_torch(pipeline, tmp_path) -> None:
    """Edge deployment: onnxruntime + numpy only. torch is made unimportable in the child."""
    np.savez(tmp_path / "in.npz", X=np.ones((3, 8, 2), np.float32))
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        from rnnzoo.cli import main
        sys.argv = ["rnnzoo", "predict", {str(pipeline / "exp")!r}, {str(tmp_path / "in.npz")!r},
                    "--out", {str(tmp_path / "p.json")!r}]
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        sys.argv = ["rnnzoo", "verify", {str(pipeline / "exp")!r}, "--no-parity"]
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "p.json").read_text())
    assert out["task"] == "classification" and len(out["outputs"]) == 3


def test_bench_prints_a_side_by_side_table(pipeline, tmp_path) -> None:
    res = invoke("bench", "gru_*", "--exports", str(pipeline), "--repeats", "2",
                 "--out", str(tmp_path / "b.json"))
    assert res.exit_code == 2  # the export folder is not named after the model: a clear error
    import shutil

    shutil.copytree(pipeline / "exp", tmp_path / "gru_classifier")
    res = invoke("bench", "gru_*", "--exports", str(tmp_path), "--repeats", "2", "--out", str(tmp_path / "b.json"))
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert {(r["batch"], r["length"]) for r in rows} == {(1, 50), (1, 500), (64, 50), (64, 500)}
    assert all(r["torch_ms"] > 0 and r["onnx_ms"] > 0 for r in rows)


def test_zoo_on_a_small_budget_writes_a_passing_report(tmp_path) -> None:
    res = invoke("zoo", "rnn_*", "--epochs", "2", "--out", str(tmp_path), "--quiet")
    assert res.exit_code == 0, res.output
    index = json.loads((tmp_path / "index.json").read_text())
    assert [m["model"] for m in index["models"]] == ["rnn_classifier", "rnn_regressor"]
    assert all(m["passed"] and m["max_abs_ort"] < 1e-4 for m in index["models"])
    report = (tmp_path / "REPORT.md").read_text()
    assert "2/2 models passed" in report and "![parity_latency](parity_latency.png)" in report
    assert (tmp_path / "parity_latency.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "rnn_classifier" / "model.onnx").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "lstm_clasifier"], "Did you mean: lstm_classifier"),
        (["train", "gru_classifier", "--data", "nope.npz"], "file not found"),
        (["train", "gru_classifier", "--epochs", "0"], "epochs must be a positive int"),
        (["export", "missing.safetensors"], "checkpoint not found"),
        (["verify", "."], "not an rnnzoo export folder"),
        (["predict", ".", "x.npz"], "not an rnnzoo export folder"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert res.output.strip().startswith("error:") and res.output.strip().count("\n") == 0


def test_bad_option_and_hparam_syntax() -> None:
    res = CliRunner().invoke(main, ["train", "gru_classifier", "--hp", "hidden_size"])
    assert res.exit_code == 2 and "KEY=VALUE" in res.output
    res = CliRunner().invoke(main, ["list", "--task", "ranking"])
    assert res.exit_code == 2 and "Invalid value" in res.output


def test_train_can_disable_clipping_and_early_stopping(tmp_path) -> None:
    res = invoke("train", "gru_regressor", "--epochs", "1", "--hp", "hidden_size=8", "--quiet", "--no-clip",
                 "--no-early-stop", "--out", str(tmp_path / "run"))
    assert res.exit_code == 0, res.output
    from rnnzoo import load_checkpoint

    config = load_checkpoint(tmp_path / "run" / "model.safetensors").meta.config
    assert config["clip_norm"] is None and config["patience"] is None
    res = CliRunner().invoke(main, ["train", "gru_regressor", "--clip-norm", "2", "--no-clip"])
    assert res.exit_code == 2 and "contradict" in res.output


def test_nproc_checks_settings_before_launching_workers() -> None:
    res = CliRunner().invoke(main, ["train", "gru_classifier", "--nproc", "2", "--epochs", "0"])
    assert res.exit_code == 2 and "epochs must be a positive int" in res.output


def test_predict_reports_a_corrupt_file_in_one_line_as_train_does(pipeline, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    for args in (["predict", str(pipeline / "exp"), str(bad)], ["train", "gru_classifier", "--data", str(bad)]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and "cannot read as a .npz archive" in res.output, res.output
        assert res.output.strip().startswith("error:") and res.output.strip().count("\n") == 0


def test_choices_mirror_the_constants_and_load_only_when_needed() -> None:
    from rnnzoo.deploy.card import MODEL_FILE
    from rnnzoo.exporting.variants import FP16_FILE, INT8_FILE
    from rnnzoo.training.config import OPTIMIZERS, SCHEDULES

    help_text = CliRunner().invoke(main, ["predict", "--help"]).output
    assert all(v in help_text for v in (MODEL_FILE, INT8_FILE, FP16_FILE))
    res = CliRunner().invoke(main, ["train", "gru_classifier", "--optimizer", "bogus"])
    assert res.exit_code == 2 and all(repr(o) in res.output for o in OPTIMIZERS)
    res = CliRunner().invoke(main, ["train", "gru_classifier", "--schedule", "bogus"])
    assert res.exit_code == 2 and all(repr(s) in res.output for s in SCHEDULES)
    code = "import sys, rnnzoo.cli; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
