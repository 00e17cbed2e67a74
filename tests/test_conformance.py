"""Every registered model, built-in or third-party, passes the conformance kit."""

from __future__ import annotations

import pytest

import rnnzoo
from rnnzoo.core import plugins
from rnnzoo.testing import CHECKS, check_model, contract_errors, parametrize_with_checks


@parametrize_with_checks(rnnzoo.list_models())
def test_conformance(model_name, check) -> None:
    check(model_name)


class _Leaky:
    """A plugin whose model reads the padding: the kit must catch it."""

    @rnnzoo.hookimpl
    def rnnzoo_register_models(self, register):
        import torch

        class LeakyMean(torch.nn.Module):
            def __init__(self, input_size, output_size, hidden_size=8):
                super().__init__()
                self.fc = torch.nn.Linear(input_size, output_size)

            def forward(self, x, lengths=None):
                return self.fc(x.mean(dim=1))  # averages over padding too: contract violation

        register(rnnzoo.ModelSpec(
            name="leaky_mean", task="classification", build=LeakyMean, description="broken on purpose",
            default_hparams={"hidden_size": 8},
            expected_failures={"training_reduces_loss": "demonstrates expected-failure reporting"},
        ))


def test_kit_catches_a_model_that_reads_padding() -> None:
    plugins.register_plugin(_Leaky(), "leaky")
    results = check_model("leaky_mean")
    assert results["padding_invariance"].startswith("FAILED")
    assert results["forward_shapes"] == "passed"
    assert set(results) == set(CHECKS)
    assert not results["training_reduces_loss"].startswith("FAILED")


def test_parametrize_marks_expected_failures() -> None:
    plugins.register_plugin(_Leaky(), "leaky")
    marker = parametrize_with_checks(["leaky_mean"])
    params = marker.args[1]
    xfails = [p for p in params if any(m.name == "xfail" for m in p.marks)]
    assert [p.id for p in xfails] == ["leaky_mean-training_reduces_loss"]
    assert isinstance(marker, pytest.MarkDecorator) and marker.name == "parametrize"  # a real pytest mark
    assert marker.args[0] == ("model_name", "check") and len(params) == len(CHECKS)


class _Silent:
    """A plugin whose model fails with an exception that has no message."""

    @rnnzoo.hookimpl
    def rnnzoo_register_models(self, register):
        import torch

        class Silent(torch.nn.Linear):
            def forward(self, x, lengths=None):
                raise RuntimeError()

        register(rnnzoo.ModelSpec(name="silent_fail", task="regression", build=Silent, description="no message"))


def test_contract_errors_name_a_failure_that_has_no_message() -> None:
    """`rnnzoo plugins --check` used to crash with IndexError on an empty message."""
    plugins.register_plugin(_Silent(), "silent")
    assert check_model("silent_fail", ["forward_shapes"]) == {"forward_shapes": "FAILED: RuntimeError"}
    errors = contract_errors(["silent_fail"], "acme-silent")
    assert errors and all(e.startswith("model silent_fail fails ") for e in errors)
    assert "forward_shapes: RuntimeError (fix the model in acme-silent;" in " ".join(errors)
