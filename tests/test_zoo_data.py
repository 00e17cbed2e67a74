"""The zoo on the user's data (--data/--test), its contract pre-check, and the chance-level rule."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_distribution

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.core import plugins
from rnnzoo.scaffold import new_plugin
from rnnzoo.zoo.chance import ALPHA, baseline_verdict, binomial_tail, chance_verdict
from rnnzoo.zoo.run import ZooRow, run_zoo, write_report


@pytest.fixture
def no_default_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`rnnzoo new-plugin rnnx`, its spec's default_dataset line deleted, installed through its entry point."""
    root = new_plugin("rnnx", tmp_path)
    init = root / "src" / "rnnzoo_rnnx" / "__init__.py"
    source = init.read_text()
    assert '        default_dataset="sines",\n' in source
    init.write_text(source.replace('        default_dataset="sines",\n', ""))
    write_distribution(root / "src", "rnnzoo-rnnx", "rnnzoo_rnnx_ep", "from rnnzoo_rnnx import *\n",
                       ep_name="rnnx")
    monkeypatch.syspath_prepend(str(root / "src"))
    plugins.reload()
    assert rnnzoo.get_spec("rnnx_gru").default_dataset is None
    yield "rnnx_gru"
    monkeypatch.undo()
    for module in ("rnnzoo_rnnx", "rnnzoo_rnnx.model", "rnnzoo_rnnx_ep"):
        sys.modules.pop(module, None)
    plugins.reload(strict=False)


def _rows(folder: Path) -> dict[str, dict]:
    return {m["model"]: m for m in json.loads((folder / "index.json").read_text())["models"]}


def _italy_files(tmp_path: Path) -> tuple[Path, Path]:
    """The UCR ItalyPowerDemand train and test files (from the sktime wheel), as a user would have them."""
    import importlib.metadata as md
    import shutil

    files = []
    for part in ("TRAIN", "TEST"):
        src = Path(str(md.distribution("sktime").locate_file(
            f"sktime/datasets/data/ItalyPowerDemand/ItalyPowerDemand_{part}.ts")))
        files.append(Path(shutil.copy(src, tmp_path / f"power_{part.lower()}.ts")))  # not a _TRAIN/_TEST pair
    return files[0], files[1]


def test_zoo_on_the_users_files_ranks_every_model_that_fits(no_default_plugin, tmp_path) -> None:
    """`zoo 'rnn*' --data TRAIN --test TEST`: the plugin without default_dataset runs; the regressor is left out."""
    train, test = _italy_files(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["zoo", "rnn*", "--data", str(train), "--test", str(test), "--epochs", "3",
                                    "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    index = json.loads((out / "index.json").read_text())
    rows = {m["model"]: m for m in index["models"]}
    assert set(rows) == {"rnn_classifier", "rnnx_gru"}  # rnn_regressor does not fit a classification set
    assert index["skipped"] == {"rnn_regressor": "a regression model, the data is classification"}
    assert index["data"]["name"] == "power_train.ts" and index["data"]["test_samples"] == 1029
    for row in rows.values():
        assert row["passed"], row["error"]
        assert row["dataset"] == "power_train.ts"
        card = json.loads((out / row["model"] / "card.json").read_text())
        assert card["source_metadata"]["test_dataset"] == str(test)
        assert row["contract"] == dict.fromkeys(("builds_with_defaults", "forward_shapes", "padding_invariance"),
                                                "passed")
        assert 0 <= row["value"] <= 1 and 0 <= row["test_value"] <= 1 and row["onnx_ms"] > 0
        # judged on the standard test split (1029 samples), by the documented rule
        chance = row["chance"]
        assert (chance["split"], chance["n"]) == ("test", 1029)
        assert chance["accuracy"] == row["test_value"]
        assert chance["at_chance"] == (chance["p_value"] >= ALPHA)
        assert (out / row["model"] / "model.onnx").is_file()
    board = index["leaderboard"]
    assert [b["rank"] for b in board] == [1, 2]
    assert board[0]["value"] >= board[1]["value"]  # ranked by validation accuracy, never by test
    report = (out / "REPORT.md").read_text()
    assert "## Leaderboard" in report and "| rank | model | val accuracy | test accuracy |" in report
    assert "Not run (they do not fit this data): `rnn_regressor`" in report
    assert "Chance level:" in report
    assert f"power_train.ts (classification, 1096 samples, 1029 of them test from {test})" in report


def test_a_registered_real_dataset_is_described_with_its_standard_split() -> None:
    from rnnzoo.zoo.datasource import describe_data

    data = describe_data("italy_power_demand")
    assert (data.task, data.per_step, data.samples, data.test_samples) == ("classification", False, 1096, 1029)
    assert data.describe() == "italy_power_demand (classification, 1096 samples, 1029 of them test)"


def test_a_model_without_default_dataset_trains_on_its_tasks_builtin_set(no_default_plugin, tmp_path) -> None:
    """The main job used to fail such a plugin with a raw ValueError."""
    [row] = run_zoo(no_default_plugin, tmp_path, epochs=1, quiet=True)
    assert row.passed, row.error
    assert row.dataset == "sines" and row.value is not None
    assert rnnzoo.load_checkpoint(tmp_path / "rnnx_gru" / "checkpoint.safetensors").meta.dataset == "sines"


class _LastPaddedStep:
    """A plausible plugin bug: logits read at the last *padded* step, so padding changes every short sample."""

    @rnnzoo.hookimpl
    def rnnzoo_register_models(self, register):
        import torch

        class LastPaddedStep(torch.nn.Module):
            def __init__(self, input_size, output_size):
                super().__init__()
                self.gru = torch.nn.GRU(input_size, 8, batch_first=True)
                self.head = torch.nn.Linear(8, output_size)

            def forward(self, x, lengths=None):
                return self.head(self.gru(x)[0][:, -1])

        register(rnnzoo.ModelSpec(name="gru_padded_readout", task="classification", build=LastPaddedStep,
                                  description="reads the last padded step", default_dataset="sines"))


def test_the_contract_pre_check_fails_a_padding_dependent_model_by_name(tmp_path) -> None:
    plugins.register_plugin(_LastPaddedStep(), "padded")
    [row] = run_zoo("gru_padded_readout", tmp_path, epochs=1, quiet=True)
    assert not row.passed
    assert row.error.startswith("contract check padding_invariance failed (a sample alone must give the same "
                                "output as inside a padded, ragged batch)")
    assert row.contract["forward_shapes"] == "passed" and row.contract["padding_invariance"].startswith("FAILED")
    assert row.train_s == 0 and not row.history  # never trained, never exported, never certified
    assert not (tmp_path / "gru_padded_readout" / "model.onnx").exists()
    assert "padding_invariance: FAILED" in (tmp_path / "gru_padded_readout" / "error.txt").read_text()
    assert "**FAIL** contract check padding_invariance failed" in (tmp_path / "REPORT.md").read_text()


def test_a_mismatched_test_file_is_one_error_before_any_training(tmp_path) -> None:
    x = np.zeros((6, 24, 2), dtype=np.float32)  # italy_power_demand has 1 feature per step
    np.savez(tmp_path / "test.npz", X=x, y=np.array([0, 1, 0, 1, 0, 1]))
    res = CliRunner().invoke(main, ["zoo", "rnn_classifier", "--data", "italy_power_demand", "--test",
                                    str(tmp_path / "test.npz"), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 2, res.output
    assert "differ in features (1 vs 2 per step)" in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--test", "t.ts"], "test data and task describe the user's data: pass data= (--data) too"),
        (["--data", "x.csv"], "x.csv: .csv files do not declare their task; pass --task classification"),
        (["--data", "denoise"], "no model matching the pattern fits denoise (regression, per-step targets"),
        (["--data", "no_such_set"], "no_such_set"),
    ],
)
def test_bad_data_arguments_are_one_clear_error(tmp_path, args, message) -> None:
    pattern = "gru_attention_regressor" if "denoise" in args else "rnn_*"
    res = CliRunner().invoke(main, ["zoo", pattern, *args, "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------- chance level


def test_binomial_tail_is_exact() -> None:
    assert binomial_tail(10, 10, 0.5) == pytest.approx(1 / 1024, rel=1e-12)
    assert binomial_tail(0, 10, 0.3) == 1.0 and binomial_tail(11, 10, 0.3) == 0.0
    # P(X >= 2), X ~ Bin(3, 0.4) = 3 * 0.4^2 * 0.6 + 0.4^3
    assert binomial_tail(2, 3, 0.4) == pytest.approx(3 * 0.16 * 0.6 + 0.064, rel=1e-12)
    assert 0 < binomial_tail(6000, 10_000, 0.5) < 1e-80  # large n stays finite


@pytest.mark.parametrize(
    ("correct", "labels", "label"),
    [
        (52, [0] * 50 + [1] * 50, "at chance"),  # 0.52 on a balanced pair: p = 0.38
        (70, [0] * 50 + [1] * 50, "above chance"),  # p = 3.9e-5
        (90, [0] * 90 + [1] * 10, "at chance"),  # 0.90 looks good, but 90% is one class
        (99, [0] * 90 + [1] * 10, "above chance"),
        (6, [0, 1] * 3, "too few samples to tell"),  # even 6/6 happens 1.6% of the time by luck
        (40, [0] * 25 + [1] * 25 + [2] * 25 + [3] * 25, "above chance"),  # 4 balanced classes: p = 0.00069
        (33, [0] * 25 + [1] * 25 + [2] * 25 + [3] * 25, "at chance"),  # p = 0.045: 1-in-22 luck is not enough
    ],
)
def test_the_chance_rule_on_crafted_numbers(correct, labels, label) -> None:
    verdict = chance_verdict(correct / len(labels), labels, "test")
    assert verdict.label == label, verdict.describe()
    assert verdict.at_chance == (label == "at chance")
    assert verdict.majority_rate == pytest.approx(np.bincount(labels).max() / len(labels))


@pytest.mark.parametrize(
    ("wins", "n", "label"),
    [
        (60, 100, "no better than the mean"),  # closer on 60%: p = 0.028
        (70, 100, "beats the mean"),  # p = 3.9e-5
        (6, 6, "too few samples to tell"),  # 6/6 by a coin: 1.6%
        (7, 7, "beats the mean"),  # 7/7: 0.8%
    ],
)
def test_the_regression_rule_on_crafted_numbers(wins, n, label) -> None:
    model = np.r_[np.zeros(wins), np.ones(n - wins)]  # squared errors: the model is closer on `wins` samples
    verdict = baseline_verdict(model, np.full(n, 0.5), rmse=0.3, baseline_rmse=0.7, split="test")
    assert (verdict.wins, verdict.n, verdict.label) == (wins, n, label), verdict.describe()
    assert verdict.at_chance == (label == "no better than the mean")


def test_ties_with_the_mean_count_for_the_mean() -> None:
    verdict = baseline_verdict(np.full(50, 0.25), np.full(50, 0.25), rmse=0.5, baseline_rmse=0.5)
    assert verdict.wins == 0 and verdict.at_chance


def test_the_report_never_prints_an_at_chance_classifier_as_a_pass(tmp_path) -> None:
    labels = [0] * 50 + [1] * 50
    rows = [ZooRow("a_classifier", "classification", "d", passed=True, metric="val_accuracy", value=0.53,
                   chance=chance_verdict(0.51, labels, "test").to_json()),
            ZooRow("b_classifier", "classification", "d", passed=True, metric="val_accuracy", value=0.9,
                   chance=chance_verdict(0.88, labels, "test").to_json()),
            ZooRow("c_regressor", "regression", "d", passed=True, metric="val_rmse", value=0.7,
                   chance=baseline_verdict(np.ones(40), np.ones(40), 0.7, 0.7, "test").to_json())]
    write_report(tmp_path, rows)
    report = (tmp_path / "REPORT.md").read_text()
    line = next(x for x in report.splitlines() if x.startswith("| `a_classifier`"))
    assert "| **at chance** (exported and verified" in line and "| pass |" not in line
    assert next(x for x in report.splitlines() if x.startswith("| `b_classifier`")).endswith("| pass |")
    assert ("| **no better than the mean** (exported and verified, but no better than always predicting the "
            "training mean) |") in report
    assert "**2 of 3 models at chance level:** a_classifier, c_regressor." in report
    assert re.search(r"above chance only when p < 0\.01", report)
    models = _rows(tmp_path)
    assert models["a_classifier"]["chance"]["at_chance"] and not models["b_classifier"]["chance"]["at_chance"]


def test_the_leaderboard_ranks_by_validation_only() -> None:
    from rnnzoo.zoo.leaderboard import ranked

    def row(name, value, val_loss, test_value, metric="val_accuracy"):
        return ZooRow(name, "classification", "d", metric=metric, value=value, val_loss=val_loss,
                      test_value=test_value)

    rows = [row("failed", None, None, None), row("tie_high_loss", 1.0, 0.3, 0.99), row("tie_low_loss", 1.0, 0.1, 0.5),
            row("worse", 0.8, 0.05, 1.0)]
    assert [r.model for r in ranked(rows)] == ["tie_low_loss", "tie_high_loss", "worse", "failed"]
    rmse = [row("b", 0.5, 0.2, 0.1, "val_rmse"), row("a", 0.2, 0.3, 0.9, "val_rmse")]
    assert [r.model for r in ranked(rmse)] == ["a", "b"]  # lower RMSE first
