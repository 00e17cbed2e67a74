"""``rnnzoo benchmark`` (rnnzoo.zoo.benchmark): the real-data table, its per-seed chance column, its errors."""

from __future__ import annotations

import importlib.metadata as md
import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnnzoo.cli import main
from rnnzoo.zoo.benchmark import cell_text, markdown, plan, summarize
from rnnzoo.zoo.chance import ALPHA, baseline_verdict, chance_verdict

try:
    md.distribution("sktime")
    HAS_REAL = True
except md.PackageNotFoundError:
    HAS_REAL = False
needs_real = pytest.mark.skipif(not HAS_REAL, reason="the offline sets ship in sktime (pip install 'rnnzoo[real]')")


@needs_real
def test_a_tiny_run_prints_and_stores_the_table_with_chance_references_and_time(tmp_path) -> None:
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(main, ["benchmark", "--models", "rnn_classifier,rnn_regressor", "--datasets",
                                    "italy_power_demand,covid_3month", "--seeds", "1", "--epochs", "1",
                                    "--out", str(out), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    text = res.output
    assert "cpu: " in text and "versions: " in text  # the machine record above the table
    assert "| dataset | majority | rnn_classifier | fcn | resnet | dtw | lstm_fcn | time (s) |" in text
    assert "| dataset | mean-RMSE | rnn_regressor |" in text
    assert "| italy_power_demand | 0.501 | 0." in text and "| 0.961 | 0.963 | 0.955 | 0.962 |" in text
    assert "Not the default settings:** epochs=1" in text and "chance.py" in text
    summary = json.loads(out.read_text())
    assert out.with_suffix(".md").read_text().strip() == summary["markdown"].strip()
    assert summary["seeds"] == 1 and summary["config"] == {"epochs": 1} and summary["machine"]["cpu_model"]
    by_set = {r["dataset"]: r for r in summary["runs"]}
    verdict = by_set["italy_power_demand"]["chance"]
    assert verdict["alpha"] == ALPHA and verdict["split"] == "test" and verdict["n"] == 1029
    assert by_set["covid_3month"]["chance"]["label"] in ("no better than the mean", "beats the mean")
    for row in summary["table"].values():
        assert row["seconds"] >= 0 and set(row["models"]) <= {"rnn_classifier", "rnn_regressor"}


def _row(model: str, seed: int, accuracy: float, labels: np.ndarray) -> dict:
    return {"model": model, "dataset": "gunpoint", "seed": seed, "accuracy": accuracy,
            "chance": chance_verdict(accuracy, labels, "test").to_json(), "seconds": 2.0}


@needs_real
def test_each_seed_is_judged_on_its_own_and_the_cell_says_how_many_were_at_chance() -> None:
    labels = np.array([0] * 76 + [1] * 74)  # gunpoint's test split: majority rate 0.507, n=150
    rows = [_row("gru_classifier", 0, 0.90, labels), _row("gru_classifier", 1, 0.52, labels),
            _row("gru_classifier", 2, 0.88, labels)]
    summary = summarize(rows, wall=6.0, jobs=1)
    cell = summary["table"]["gunpoint"]["models"]["gru_classifier"]
    assert (cell["at_chance_seeds"], cell["judged"]) == (1, 3)
    assert cell_text(cell, "accuracy").endswith("(**at chance 1/3**)")
    assert summary["table"]["gunpoint"]["baseline"] == pytest.approx(76 / 150)
    assert summary["targets"]["at_chance"] == ["gru_classifier on gunpoint (1/3 seeds)"]
    assert "| gunpoint | 0.507 | 0.767 ± 0.175 (**at chance 1/3**) |" in markdown({**summary, "seeds": 3})


def test_a_regressor_is_judged_by_the_zoo_sign_test_not_by_its_rmse_ratio() -> None:
    # RMSE 0.95 of the mean predictor's (the old "above 0.9 x" rule said chance), yet closer on 50 of 61 samples.
    base = np.full(61, 1.0)
    model = np.where(np.arange(61) < 50, 0.8, 1.4)
    verdict = baseline_verdict(model, base, float(np.sqrt(model.mean())), 1.0, "test").to_json()
    assert 0.9 < verdict["rmse"] < 1.0 and not verdict["at_chance"]
    cell = {"mean": verdict["rmse"], "std": 0.0, "runs": 1, "errors": 0, "judged": 1, "undecided_seeds": 0,
            "at_chance_seeds": int(verdict["at_chance"])}
    assert "chance" not in cell_text(cell, "rmse") and "mean" not in cell_text(cell, "rmse")
    assert cell_text({**cell, "at_chance_seeds": 1}, "rmse").endswith("(**no better than the mean 1/1**)")


def test_help_lists_the_options() -> None:
    res = CliRunner().invoke(main, ["benchmark", "--help"])
    assert res.exit_code == 0
    for option in ("--models", "--datasets", "--seeds", "--jobs", "--out", "--epochs"):
        assert option in res.output


@pytest.mark.parametrize(("args", "message"), [
    (["--datasets", "gunpont"], "error: no dataset matches 'gunpont'. Did you mean: gunpoint?"),
    (["--datasets", "sines"], "error: no dataset matches 'sines'."),
    (["--models", "grue_classifier"], "error: no model matches 'grue_classifier'. Did you mean: gru_classifier"),
    (["--models", "*_regressor", "--datasets", "gunpoint"], "error: none of the models"),
])
def test_an_unknown_or_unfit_name_is_one_error_line_before_any_training(args, message, tmp_path) -> None:
    res = CliRunner().invoke(main, ["benchmark", *args, "--out", str(tmp_path / "b.json")])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message) and "Traceback" not in res.output
    assert not (tmp_path / "b.json").exists()


@needs_real
def test_the_plan_pairs_models_with_the_sets_of_their_task() -> None:
    runs = plan("gru_classifier,gru_regressor", "gunpoint,tecator", seeds=2)
    assert {(r.model, r.dataset) for r in runs} == {("gru_classifier", "gunpoint"), ("gru_regressor", "tecator")}
    assert sorted({r.seed for r in runs}) == [0, 1]
