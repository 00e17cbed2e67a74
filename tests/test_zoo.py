"""The zoo job keeps going when one model fails, and says which and why."""

from __future__ import annotations

import json

import pytest

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.core import plugins


class _Broken:
    @rnnzoo.hookimpl
    def rnnzoo_register_models(self, register):
        import torch

        class Exploding(torch.nn.Module):
            def __init__(self, input_size, output_size):
                super().__init__()
                self.fc = torch.nn.Linear(input_size, output_size)

            def forward(self, x, lengths=None):
                raise RuntimeError("kaboom in forward")

        register(rnnzoo.ModelSpec(name="rnn_exploding", task="classification", build=Exploding,
                                  description="fails on purpose", default_dataset="sines"))


def test_one_failing_model_does_not_stop_the_others(tmp_path) -> None:
    from click.testing import CliRunner

    plugins.register_plugin(_Broken(), "broken")
    res = CliRunner().invoke(main, ["zoo", "rnn_*", "--epochs", "1", "--out", str(tmp_path), "--quiet"])
    assert res.exit_code == 1, res.output
    rows = {m["model"]: m for m in json.loads((tmp_path / "index.json").read_text())["models"]}
    assert set(rows) == {"rnn_classifier", "rnn_regressor", "rnn_exploding"}
    assert not rows["rnn_exploding"]["passed"] and "kaboom in forward" in rows["rnn_exploding"]["error"]
    assert rows["rnn_classifier"]["passed"] and rows["rnn_regressor"]["passed"]
    # the contract checks run before training catch it, naming the check and the plugin's own message
    assert ("**FAIL** contract check forward_shapes failed (forward must return finite float32 [batch, outputs], "
            "with and without lengths): kaboom in forward") in (tmp_path / "REPORT.md").read_text()
    assert "kaboom in forward" in (tmp_path / "rnn_exploding" / "error.txt").read_text()
    assert not (tmp_path / "rnn_exploding" / "model.onnx").exists()


def _rows(folder) -> dict[str, dict]:
    return {m["model"]: m for m in json.loads((folder / "index.json").read_text())["models"]}


# Measurements, not results: they differ between any two runs, parallel or not.
TIMINGS = {"train_s", "export_s", "speedup", "onnx_ms"}


def test_jobs_2_gives_the_rows_and_weights_of_a_sequential_run(tmp_path) -> None:
    """Spawned workers reproduce the sequential run exactly (both pin torch to `threads`).

    Same seeds give bit-identical weights, metrics and ONNX files; the parity max-abs figures
    compare onnxruntime with torch on those weights and are checked to 1e-6 (observed: equal).
    """
    import torch

    from rnnzoo.zoo.run import run_zoo

    names = ["rnn_classifier", "rnn_regressor"]
    seq = run_zoo(names, tmp_path / "seq", epochs=1, quiet=True, seed=5)
    par = run_zoo(names, tmp_path / "par", epochs=1, quiet=True, seed=5, jobs=2)
    assert [r.model for r in par] == [r.model for r in seq] == names  # registry order
    a, b = _rows(tmp_path / "seq"), _rows(tmp_path / "par")
    for name in names:
        assert a[name]["passed"] and b[name]["passed"], (a[name]["error"], b[name]["error"])
        for key in set(a[name]) - TIMINGS - {"max_abs_ort", "max_abs_ref"}:
            assert a[name][key] == b[name][key], (name, key)
        for key in ("max_abs_ort", "max_abs_ref"):
            assert abs(a[name][key] - b[name][key]) <= 1e-6, (name, key)
        wa = rnnzoo.load_checkpoint(tmp_path / "seq" / name / "checkpoint.safetensors").model.state_dict()
        wb = rnnzoo.load_checkpoint(tmp_path / "par" / name / "checkpoint.safetensors").model.state_dict()
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
        drop = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
        row_a, row_b = next(r for r in seq if r.model == name), next(r for r in par if r.model == name)
        assert drop(row_a.history) == drop(row_b.history)
        onnx = [(tmp_path / run / name / "model.onnx").read_bytes() for run in ("seq", "par")]
        assert onnx[0] == onnx[1]
    report = (tmp_path / "par" / "REPORT.md").read_text()
    # one epoch may leave the classifier at chance level: then its row says so instead of pass
    assert report.count("| pass |") + report.count("| **at chance** (exported and verified") == 2


CRASHING = """
import os, signal
import torch
import rnnzoo


class Dies(torch.nn.Module):
    def __init__(self, input_size, output_size):
        super().__init__()
        os.kill(os.getpid(), signal.SIGKILL)  # a segfault in native code looks the same to the pool


@rnnzoo.hookimpl
def rnnzoo_register_models(register):
    register(rnnzoo.ModelSpec(name="rnn_dies", task="classification", build=Dies,
                              description="kills its process", default_dataset="sines"))
"""


def test_a_worker_that_dies_fails_only_its_own_row(fake_dist, tmp_path) -> None:
    from rnnzoo.zoo.run import run_zoo

    fake_dist("rnnzoo-dies", "rnnzoo_dies", CRASHING)
    plugins.reload()
    rows = {r.model: r for r in run_zoo(["rnn_classifier", "rnn_dies"], tmp_path, epochs=1, quiet=True, jobs=2)}
    assert rows["rnn_classifier"].passed, rows["rnn_classifier"].error
    assert not rows["rnn_dies"].passed and "worker process died" in rows["rnn_dies"].error
    assert "worker process died" in (tmp_path / "rnn_dies" / "error.txt").read_text()
    assert (tmp_path / "rnn_classifier" / "card.json").is_file()


def test_in_process_plugins_run_in_the_parent_next_to_the_workers(tmp_path) -> None:
    from rnnzoo.zoo.run import _in_process_only

    plugins.register_plugin(_Broken(), "broken")
    assert _in_process_only(["rnn_classifier", "rnn_exploding"]) == {"rnn_exploding"}


def test_a_failed_model_is_retried_cleanly_on_the_next_run(tmp_path) -> None:
    """error.txt from an earlier failure must not make the exporter refuse the folder forever."""
    from rnnzoo.zoo.run import run_zoo

    (tmp_path / "rnn_classifier").mkdir()
    (tmp_path / "rnn_classifier" / "error.txt").write_text("old failure")
    [row] = run_zoo("rnn_classifier", tmp_path, epochs=1, quiet=True)
    assert row.passed, row.error
    assert not (tmp_path / "rnn_classifier" / "error.txt").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_*"], "no registered model matches 'no_such_*'. Run `rnnzoo list`"),
        (["lstm_clasifier"], "no registered model matches 'lstm_clasifier'. Did you mean: lstm_"),
        (["rnn_*", "--epochs", "0"], "epochs must be a positive int (1 or more), got 0"),
        (["rnn_*", "--epochs", "-3"], "epochs must be a positive int (1 or more), got -3"),
        (["rnn_*", "--jobs", "0"], "jobs must be a positive int (1 or more), got 0"),
        (["rnn_*", "-j", "-1"], "jobs must be a positive int (1 or more), got -1"),
        (["rnn_*", "--threads", "0"], "threads must be a positive int (1 or more), got 0"),
    ],
)
def test_bad_zoo_arguments_are_one_clear_error_before_any_work(tmp_path, args, message) -> None:
    from click.testing import CliRunner

    res = CliRunner().invoke(main, ["zoo", *args, "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 2, res.output
    assert f"error: {message}" in res.output
    assert not (tmp_path / "out").exists()  # nothing trained, no empty report written
