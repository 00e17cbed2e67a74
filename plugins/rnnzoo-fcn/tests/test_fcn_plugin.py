"""The plugin's own CI: rnnzoo's conformance kit, exactness on ragged batches, and parity on every runtime.

The kit runs here on one model per family (a classifier and a regressor of a
family share every layer but the head's width); rnnzoo's own
tests/test_conformance.py runs it on all six whenever the plugin is installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import rnnzoo
from rnnzoo.testing import parametrize_with_checks

MODELS = rnnzoo.list_models("*_fcn_*")
RUNTIMES = {"onnxruntime", "reference", "openvino", "tract", "web", "node"}
SMALL = {"hidden_size": 8, "width": 8}


def test_registered_through_the_entry_point() -> None:
    record = next(r for r in rnnzoo.list_plugins() if r["name"] == "fcn")
    assert record["distribution"] == "rnnzoo-fcn" and record["status"] == "ok"
    assert sorted(record["models"]) == MODELS and len(MODELS) == 6
    assert all(rnnzoo.get_spec(m).search_space for m in MODELS)


@parametrize_with_checks(["lstm_fcn_classifier", "gru_fcn_regressor", "mlstm_fcn_classifier"])
def test_conformance(model_name, check) -> None:
    check(model_name)


def test_padding_never_reaches_convolutions_pooling_or_squeeze_excite() -> None:
    torch.manual_seed(0)
    model = rnnzoo.create_model("mlstm_fcn_classifier", input_size=2, output_size=3, **SMALL).eval()
    x = torch.randn(1, 6, 2)  # shorter than the first kernel: every output step reads padding-side zeros
    padded = torch.cat([x, torch.full((1, 9, 2), 1e4)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(padded, torch.tensor([6])), atol=1e-6, rtol=1e-5)


def test_batch_norm_training_statistics_ignore_padding() -> None:
    """The running statistics (what eval and the export use) are the same however much padding a batch has."""
    stats = []
    for pad in (0, 20):
        torch.manual_seed(0)
        model = rnnzoo.create_model("gru_fcn_classifier", input_size=2, output_size=3, **SMALL).train()
        g = torch.Generator().manual_seed(1)
        x = torch.randn(4, 10, 2, generator=g)
        x = torch.cat([x, torch.full((4, pad, 2), 1e3)], dim=1)
        model(x, torch.tensor([10, 7, 3, 10]))
        stats.append(torch.cat([b.bn.running_mean for b in model.blocks] + [b.bn.running_var for b in model.blocks]))
    torch.testing.assert_close(stats[0], stats[1], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["mlstm_fcn_classifier"])  # every layer kind: LSTM, masked conv/BN/SE/pooling
def test_parity_on_every_installed_runtime(tmp_path: Path, name: str) -> None:
    """onnxruntime and onnx.reference (parity), then every installed runtime: OpenVINO, tract, web, node."""
    torch.manual_seed(0)
    model = rnnzoo.create_model(name, input_size=3, output_size=2, **SMALL)
    folder = rnnzoo.export(model, tmp_path / name, int8=False, fp16=False).folder
    report = rnnzoo.verify(folder, parity=False, runtimes="all")
    assert report["passed"], report["problems"]
    ran = {r["runtime"] for r in report["runtimes"] if r["passed"]}
    installed = {n for n in rnnzoo.list_runtimes() if rnnzoo.get_runtime(n).available() is None}
    assert ran >= installed & RUNTIMES and {"onnxruntime", "reference"} <= ran
