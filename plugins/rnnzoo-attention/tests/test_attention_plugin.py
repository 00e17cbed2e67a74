"""The plugin's own CI: rnnzoo's conformance kit in one line, plus what is specific to attention."""

from __future__ import annotations

import torch

import rnnzoo
from rnnzoo.testing import parametrize_with_checks

MODELS = rnnzoo.list_models("*_attention_*")


def test_registered_through_the_entry_point() -> None:
    record = next(r for r in rnnzoo.list_plugins() if r["name"] == "attention")
    assert record["distribution"] == "rnnzoo-attention" and record["status"] == "ok"
    assert sorted(record["models"]) == MODELS and len(MODELS) == 4


@parametrize_with_checks(MODELS)
def test_conformance(model_name, check) -> None:
    check(model_name)


def test_padding_gets_zero_attention_weight() -> None:
    torch.manual_seed(0)
    model = rnnzoo.create_model("gru_attention_classifier", input_size=2, output_size=3).eval()
    x = torch.randn(1, 6, 2)
    padded = torch.cat([x, torch.full((1, 4, 2), 1e4)], dim=1)
    with torch.no_grad():
        # atol: BLAS may sum in another order for another T
        torch.testing.assert_close(model(x), model(padded, torch.tensor([6])), atol=1e-6, rtol=1e-5)
