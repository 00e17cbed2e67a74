"""Plugin discovery through entry points, and isolation of broken plugins."""

from __future__ import annotations

import json

import pytest

import rnnzoo
from rnnzoo.core import plugins
from rnnzoo.errors import DuplicateNameError, PluginError, UnknownModelError

BUILTINS = {
    "rnn_classifier", "lstm_classifier", "gru_classifier",
    "rnn_regressor", "lstm_regressor", "gru_regressor",
}

GOOD = '''
import rnnzoo
from rnnzoo.models.builtin import builtin_specs

@rnnzoo.hookimpl
def rnnzoo_register_models(register):
    base = builtin_specs()[2]  # lstm_classifier
    register(rnnzoo.ModelSpec(name="{name}", task="classification", build=base.build,
                              description="a third-party model", family="lstm",
                              default_hparams=dict(base.default_hparams)))
'''


def _record(name: str) -> dict:
    return next(r for r in rnnzoo.list_plugins() if r["name"] == name)


def test_builtins_come_from_rnnzoos_own_entry_points() -> None:
    plugins.reload()
    rec = _record("builtin_models")
    assert rec["distribution"] == "rnnzoo" and rec["status"] == "ok"
    assert set(rec["models"]) == BUILTINS
    assert set(rnnzoo.list_models()) >= BUILTINS
    assert {"sines", "next_value", "denoise"} <= set(_record("builtin_datasets")["datasets"])


def test_fake_third_party_distribution_is_discovered(fake_dist) -> None:
    fake_dist("acme-rnn", "acme_rnn_plugin", GOOD.format(name="acme_lstm"))
    plugins.reload()
    assert "acme_lstm" in rnnzoo.list_models("acme_*")
    rec = _record("acme_rnn_plugin")
    assert (rec["distribution"], rec["version"], rec["models"]) == ("acme-rnn", "1.2.3", ["acme_lstm"])
    model = rnnzoo.create_model("acme_lstm", input_size=3, output_size=2)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_duplicate_name_names_both_distributions(fake_dist) -> None:
    fake_dist("acme-dup", "acme_dup_plugin", GOOD.format(name="gru_classifier"))
    with pytest.warns(RuntimeWarning, match="gru_classifier"):
        plugins.reload()
    with pytest.raises(DuplicateNameError, match=r"both rnnzoo .*and acme-dup"):
        rnnzoo.get_spec("gru_classifier")
    assert "lstm_classifier" in rnnzoo.list_models()  # the rest keeps working
    with pytest.raises(PluginError, match="acme-dup"):
        plugins.reload(strict=True)


def test_broken_import_is_reported_and_skipped(fake_dist) -> None:
    fake_dist("acme-broken", "acme_broken_plugin", "raise RuntimeError('boom at import')\n")
    with pytest.warns(RuntimeWarning, match="boom at import"):
        plugins.reload()
    rec = _record("acme_broken_plugin")
    assert rec["status"] == "error" and "acme-broken" in rec["distribution"]
    assert "RNNZOO_DISABLE_PLUGINS=acme_broken_plugin" in rec["errors"][0]
    assert set(rnnzoo.list_models()) >= BUILTINS
    with pytest.raises(PluginError, match="boom at import"):
        plugins.reload(strict=True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('register(rnnzoo.ModelSpec(name="Bad-Name", task="classification", build=len, '
         'description="x"))', "invalid"),
        ('register(rnnzoo.ModelSpec(name="ok_name", task="ranking", build=len, description="x"))',
         "task 'ranking'"),
        ('register(rnnzoo.ModelSpec(name="ok_name", task="regression", build=3, description="x"))',
         "build must be callable"),
        ('register({"name": "dict_spec"})', "expects rnnzoo.ModelSpec"),
    ],
)
def test_malformed_spec_is_reported_with_its_distribution(fake_dist, body, message) -> None:
    src = f"import rnnzoo\n@rnnzoo.hookimpl\ndef rnnzoo_register_models(register):\n    {body}\n"
    fake_dist("acme-malformed", "acme_malformed_plugin", src)
    with pytest.warns(RuntimeWarning, match="acme-malformed"):
        plugins.reload()
    rec = _record("acme_malformed_plugin")
    assert rec["status"] == "error" and message in rec["errors"][0] and rec["models"] == []
    assert set(rnnzoo.list_models()) >= BUILTINS


def test_misspelled_hook_fails_validation(fake_dist) -> None:
    src = "import rnnzoo\n@rnnzoo.hookimpl\ndef rnnzoo_register_modles(register):\n    pass\n"
    fake_dist("acme-typo", "acme_typo_plugin", src)
    with pytest.warns(RuntimeWarning, match="rnnzoo_register_modles"):
        plugins.reload()
    assert _record("acme_typo_plugin")["status"] == "error"


def test_environment_variable_disables_plugins(fake_dist, monkeypatch) -> None:
    fake_dist("acme-rnn", "acme_rnn_plugin", GOOD.format(name="acme_lstm"))
    monkeypatch.setenv("RNNZOO_DISABLE_PLUGINS", "acme_rnn_plugin")
    plugins.reload()
    assert "acme_lstm" not in rnnzoo.list_models()
    assert _record("acme_rnn_plugin")["status"] == "disabled"
    monkeypatch.setenv("RNNZOO_DISABLE_PLUGINS", "third-party")
    plugins.reload()
    assert _record("acme_rnn_plugin")["status"] == "disabled"
    assert set(rnnzoo.list_models()) >= BUILTINS  # rnnzoo's own stay on


def test_in_process_plugin_registration_and_removal() -> None:
    class Plugin:
        @rnnzoo.hookimpl
        def rnnzoo_register_models(self, register):
            from rnnzoo.models.builtin import builtin_specs

            spec = builtin_specs()[0]
            register(rnnzoo.ModelSpec(name="inproc_rnn", task="classification", build=spec.build,
                                      description="in-process", default_hparams=spec.default_hparams))

    plugins.register_plugin(Plugin(), "inproc")
    assert rnnzoo.list_models("inproc_*") == ["inproc_rnn"]
    plugins.unregister_plugin("inproc")
    with pytest.raises(UnknownModelError):
        rnnzoo.get_spec("inproc_rnn")


def test_plugins_listing_is_json_serializable() -> None:
    rows = json.loads(json.dumps(rnnzoo.list_plugins()))
    assert {"name", "distribution", "version", "status", "errors", "models", "datasets"} <= set(rows[0])


def test_in_repo_plugin_distribution_is_discovered_through_its_entry_point() -> None:
    """plugins/rnnzoo-attention is installed by `make setup` and found via importlib.metadata."""
    import importlib.metadata as md

    eps = [ep for ep in md.distribution("rnnzoo-attention").entry_points if ep.group == "rnnzoo"]
    assert [(ep.name, ep.value) for ep in eps] == [("attention", "rnnzoo_attention")]
    plugins.reload()
    rec = _record("attention")
    assert rec["distribution"] == "rnnzoo-attention" and rec["status"] == "ok" and len(rec["models"]) == 4
    assert rnnzoo.get_spec("gru_attention_classifier").family == "gru_attention"


def test_plugins_check_reports_a_model_that_breaks_the_forward_contract(fake_dist) -> None:
    from click.testing import CliRunner

    from rnnzoo.cli import main

    src = '''
import rnnzoo, torch

class Leaky(torch.nn.Module):
    def __init__(self, input_size, output_size):
        super().__init__()
        self.fc = torch.nn.Linear(input_size, output_size)
    def forward(self, x, lengths=None):
        return self.fc(x.sum(dim=1))   # sums the padding too

@rnnzoo.hookimpl
def rnnzoo_register_models(register):
    register(rnnzoo.ModelSpec(name="leaky_sum", task="classification", build=Leaky, description="leaks"))
'''
    fake_dist("acme-leaky", "acme_leaky_plugin", src)
    plugins.reload()
    res = CliRunner().invoke(main, ["plugins", "--check", "--json"])
    assert res.exit_code == 1
    rec = next(r for r in json.loads(res.output) if r["name"] == "acme_leaky_plugin")
    assert rec["status"] == "error" and "leaky_sum fails padding_invariance" in rec["errors"][0]
    assert "fix the model in acme-leaky" in rec["errors"][0]
    builtin = next(r for r in json.loads(res.output) if r["name"] == "builtin_models")
    assert builtin["status"] == "ok"
