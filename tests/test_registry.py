"""timm-style look-ups: wildcards, unknown names with suggestions, hyperparameter checks."""

from __future__ import annotations

import pytest

import rnnzoo
from rnnzoo.errors import InvalidHyperparameterError, UnknownDatasetError, UnknownModelError


def test_wildcards_and_task_filter() -> None:
    assert rnnzoo.list_models("rnn_*") == ["rnn_classifier", "rnn_regressor"]
    assert rnnzoo.list_models("lstm_c*") == ["lstm_classifier"]
    assert rnnzoo.list_models(["rnn_*", "gru_c*"]) == ["gru_classifier", "rnn_classifier", "rnn_regressor"]
    assert set(rnnzoo.list_models(task="regression")) >= {"rnn_regressor", "gru_regressor"}
    assert "lstm_classifier" not in rnnzoo.list_models(task="regression")
    assert rnnzoo.list_models("nothing_*") == []


def test_unknown_model_suggests_close_matches() -> None:
    with pytest.raises(UnknownModelError, match="Did you mean: lstm_classifier"):
        rnnzoo.create_model("lstm_clasifier", input_size=1, output_size=2)
    with pytest.raises(UnknownDatasetError, match="Did you mean: sines"):
        rnnzoo.load_dataset("sine")


def test_spec_carries_what_the_trainer_and_exporter_need() -> None:
    spec = rnnzoo.get_spec("gru_regressor")
    assert spec.task == "regression" and spec.family == "gru" and spec.supports_per_step
    assert spec.default_dataset in rnnzoo.list_datasets()
    assert spec.tolerance.atol > 0


@pytest.mark.parametrize(
    ("hparams", "message"),
    [
        ({"hidden_sise": 8}, "no hyperparameter 'hidden_sise'"),
        ({"hidden_size": -4}, "hidden_size must be a positive int"),
        ({"num_layers": 0}, "num_layers must be a positive int"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ({"dropout": -0.1}, "dropout"),
        ({"nonlinearity": "sigmoid"}, "nonlinearity"),
        ({"per_step": True}, "no hyperparameter 'per_step'"),  # classifiers have no per-step mode
    ],
)
def test_bad_hyperparameters_are_refused_by_name(hparams, message) -> None:
    with pytest.raises(InvalidHyperparameterError, match=message):
        rnnzoo.create_model("rnn_classifier", input_size=3, output_size=2, **hparams)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(InvalidHyperparameterError, match="input_size"):
        rnnzoo.create_model("gru_classifier", input_size=0, output_size=2)


def test_import_and_listing_do_not_import_torch() -> None:
    """The CLI and edge inference start fast: torch loads only when a model is built."""
    import subprocess
    import sys

    code = "import sys, rnnzoo; rnnzoo.list_models(); rnnzoo.list_datasets(); assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_registered_by_names_the_distribution_or_the_in_process_plugin() -> None:
    from rnnzoo.core import plugins

    builtin = rnnzoo.registered_by("gru_classifier")
    assert builtin.distribution == "rnnzoo" and not builtin.in_process
    assert rnnzoo.registered_by("sines", kind="dataset").distribution == "rnnzoo"

    class Local:
        @rnnzoo.hookimpl
        def rnnzoo_register_models(self, register):
            register(rnnzoo.ModelSpec(name="local_rnn", task="regression", build=lambda i, o: None,
                                      description="registered in this process"))

    plugins.register_plugin(Local(), "local", distribution="notebook")
    owner = rnnzoo.registered_by("local_rnn")
    assert owner.in_process and owner.distribution == "notebook" and owner.models == ["local_rnn"]
    with pytest.raises(UnknownModelError, match="Did you mean"):
        rnnzoo.registered_by("local_rn")


def test_pluggy_calls_the_hooks_so_a_plugins_own_wrapper_runs_around_them() -> None:
    """rnnzoo asks pluggy to call each plugin's hooks (not the functions one by one): wrappers and ordering apply."""
    from rnnzoo.core import plugins

    calls: list[str] = []

    class Wrapped:
        @rnnzoo.hookimpl(wrapper=True)
        def rnnzoo_register_models(self, register):
            calls.append("before")
            result = yield
            calls.append("after")
            return result

        @rnnzoo.hookimpl(tryfirst=True)
        def rnnzoo_register_datasets(self, register):
            calls.append("datasets")

    plugins.register_plugin(Wrapped(), "wrapped")
    assert calls == ["before", "after", "datasets"]
