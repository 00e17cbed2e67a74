"""Drift gates (``rnnzoo verify NEW --baseline OLD``), and the project's own: the zoo against tests/baselines/.

The first test is the CI gate: MODELS trained and exported as the zoo does
for a fixed seed must give the committed baseline's outputs within
THRESHOLDS (derived in tests/baselines/zoo_baseline.py from retraining under
AVX-512, AVX2 and plain kernels). ``make test-numerics`` runs it again with
torch's plain kernels, so the gate is known to hold across CPUs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from baselines.zoo_baseline import MODELS, THRESHOLDS, export_like_zoo
from click.testing import CliRunner

from rnnzoo.cli import main
from rnnzoo.deploy.drift import DriftThresholds, drift, read_baseline
from rnnzoo.exporting.exporter import export
from rnnzoo.training.checkpoint import load_checkpoint

BASELINES = Path(__file__).parent / "baselines"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("zoo")
    return {m: export_like_zoo(m, out) for m in MODELS}


def _gate(model: str) -> list[str]:
    th = THRESHOLDS[model]
    args = ["--max-abs-change", str(th.max_abs), "--max-metric-change", str(th.max_metric_change)]
    return args + (["--min-agreement", str(th.min_agreement)] if th.min_agreement is not None else [])


def test_zoo_outputs_match_the_committed_baseline(zoo) -> None:
    for model, folder in zoo.items():
        res = CliRunner().invoke(main, ["verify", str(folder), "--no-parity", "--baseline", str(BASELINES),
                                        *_gate(model)])
        assert res.exit_code == 0, (f"{model} drifted from tests/baselines/{model}:\n{res.output}\nIf the change "
                                    "is deliberate (training or export), run: python tests/baselines/zoo_baseline.py "
                                    "write, and commit the new baseline with it")
        assert "baseline:test_data_set_0" in res.output and "DRIFT" not in res.output


def test_a_changed_model_fails_the_gate_with_a_table(zoo, tmp_path) -> None:
    """The same weights but the head's bias moved by 0.01: what a broken exporter or runtime would look like."""
    ckpt = load_checkpoint(zoo["gru_classifier"] / "checkpoint.safetensors")
    with torch.no_grad():
        bias = [p for n, p in ckpt.model.named_parameters() if n.endswith("bias")][-1]
        bias += 0.01
    changed = export(ckpt, tmp_path / "gru_classifier", int8=False, fp16=False).folder
    res = CliRunner().invoke(main, ["verify", str(changed), "--no-parity", "--baseline", str(BASELINES),
                                    *_gate("gru_classifier")])
    assert res.exit_code == 1, res.output
    assert "DRIFT" in res.output and "compared on" in res.output  # the table
    assert "max abs change" in res.output and "limit 0.001" in res.output


def test_an_old_export_is_compared_both_ways_at_parity_tolerance_by_default(zoo) -> None:
    folder = zoo["lstm_regressor"]
    report = drift(folder, folder, DriftThresholds())
    assert report["passed"], report["problems"]
    assert {r["data"] for r in report["rows"]} == {"baseline:test_data_set_0", "new:test_data_set_0"}
    assert all(r["max_abs"] < 1e-4 for r in report["rows"])  # stored outputs are PyTorch's: parity-level differences
    assert "parity tolerance" in report["rows"][0]["message"]


def test_metric_change_is_gated_when_asked(zoo, tmp_path) -> None:
    base = shutil.copytree(BASELINES / "lstm_regressor", tmp_path / "lstm_regressor")
    info = json.loads((base / "baseline.json").read_text())
    info["metrics"]["val_rmse"] += 0.5
    (base / "baseline.json").write_text(json.dumps(info))
    assert drift(zoo["lstm_regressor"], base, DriftThresholds())["passed"]  # reported, not gated
    report = drift(zoo["lstm_regressor"], base, DriftThresholds(max_metric_change=0.1))
    assert not report["passed"] and any("metric val_rmse" in p for p in report["problems"])


def test_an_edited_baseline_is_not_trusted(tmp_path) -> None:
    base = shutil.copytree(BASELINES / "gru_classifier", tmp_path / "gru_classifier")
    with open(base / "test_data_set_0" / "output_0.pb", "ab") as f:
        f.write(b"\0")
    assert any("sha256 differs" in p for p in read_baseline(base).problems)


def test_save_baseline_then_compare(zoo, tmp_path) -> None:
    folder = zoo["gru_classifier"]
    res = CliRunner().invoke(main, ["verify", str(folder), "--no-parity", "--save-baseline", str(tmp_path / "b")])
    assert res.exit_code == 0 and "baseline written" in res.output, res.output
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["baseline.json", "test_data_set_0"]
    size = sum(p.stat().st_size for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert size < 16_000  # a few KB: fit to commit
    report = drift(folder, tmp_path / "b", DriftThresholds(max_abs=1e-4, min_agreement=1.0, max_metric_change=0.0))
    assert report["passed"], report["problems"]


def test_a_folder_that_is_no_baseline_says_how_to_make_one(zoo, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["verify", str(zoo["gru_classifier"]), "--no-parity", "--baseline",
                                    str(tmp_path / "empty")])
    assert res.exit_code == 2 and "--save-baseline" in res.output, res.output  # a usage error, one line
