"""The zoo job keeps going when one model fails, and says which and why."""

from __future__ import annotations

import json

import rnnzoo
from rnnzoo import plugins
from rnnzoo.cli import main


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
    assert "**FAIL** RuntimeError: kaboom in forward" in (tmp_path / "REPORT.md").read_text()
    assert "Traceback" in (tmp_path / "rnn_exploding" / "error.txt").read_text()
