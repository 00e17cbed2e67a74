"""rnnzoo's pytest plugin (entry point ``pytest11``): the conformance kit as test items, off unless asked for.

Each test runs pytest in a subprocess, as a plugin's CI would, so the entry
point itself is what loads the plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import write_distribution

CHEAP = "builds_with_defaults,forward_shapes"  # the kit's quick checks; the others train and export

_WRONG_PLUGIN = '''
import rnnzoo
from torch import nn


class Wrong(nn.Module):
    def __init__(self, input_size, output_size):
        super().__init__()
        self.lin = nn.Linear(input_size, output_size + 1)

    def forward(self, x, lengths=None):
        return self.lin(x[:, -1])


@rnnzoo.hookimpl
def rnnzoo_register_models(register):
    register(rnnzoo.ModelSpec(name="acme_wrong", task="classification", build=Wrong, description="one logit too many",
                              expected_failures={"forward_shapes": "emits one logit too many"}))
'''


def _pytest(folder: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(folder),
                           str(folder), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_off_unless_asked_for_it_adds_nothing_and_imports_nothing_heavy(tmp_path) -> None:
    (tmp_path / "test_unrelated.py").write_text(
        "import sys\n\n\ndef test_plugin_loaded_but_inert():\n"
        "    assert 'rnnzoo.pytest_plugin' in sys.modules\n"
        "    assert not {'torch', 'rnnzoo.testing'} & set(sys.modules)\n")
    proc = _pytest(tmp_path, "-q")
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "rnnzoo-conformance" not in proc.stdout


def test_option_adds_one_item_per_model_and_check(tmp_path) -> None:
    proc = _pytest(tmp_path, "-v", "--rnnzoo-models", "gru_c*,rnn_classifier", "--rnnzoo-checks", CHEAP)
    assert proc.returncode == 0 and "4 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "rnnzoo-conformance::forward_shapes[gru_classifier] PASSED" in proc.stdout
    assert "rnnzoo-conformance::builds_with_defaults[rnn_classifier] PASSED" in proc.stdout


def test_ini_options_and_keyword_selection(tmp_path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nrnnzoo_models = rnn_*\nrnnzoo_checks = builds_with_defaults\n")
    proc = _pytest(tmp_path, "-v", "-k", "regressor")
    assert proc.returncode == 0 and "1 passed, 1 deselected" in proc.stdout, proc.stdout + proc.stderr
    assert "builds_with_defaults[rnn_regressor] PASSED" in proc.stdout


def test_expected_failures_are_xfail_with_the_specs_reason(tmp_path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, "acme-wrong", "acme_wrong_plugin", _WRONG_PLUGIN)
    tests = tmp_path / "tests"
    tests.mkdir()
    proc = _pytest(tests, "-rx", "--rnnzoo-models", "acme_*", "--rnnzoo-checks", CHEAP, pythonpath=site)
    assert proc.returncode == 0 and "1 passed, 1 xfailed" in proc.stdout, proc.stdout + proc.stderr
    assert "emits one logit too many" in proc.stdout


def test_a_pattern_that_matches_nothing_or_an_unknown_check_is_a_usage_error(tmp_path) -> None:
    proc = _pytest(tmp_path, "--rnnzoo-models", "nope_*")
    assert proc.returncode == 4 and "no registered model matches 'nope_*'" in proc.stderr, proc.stderr
    proc = _pytest(tmp_path, "--rnnzoo-models", "gru_*", "--rnnzoo-checks", "speed")
    assert proc.returncode == 4 and "unknown check(s) ['speed']" in proc.stderr, proc.stderr
