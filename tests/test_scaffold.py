"""`rnnzoo new-plugin` writes a plugin that installs with pip and passes its own tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from rnnzoo.cli import main


def test_scaffolded_plugin_installs_and_its_tests_pass(tmp_path) -> None:
    res = CliRunner().invoke(main, ["new-plugin", "acme", "--dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    root = tmp_path / "rnnzoo-acme"
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--disable-pip-version-check", "--target", str(site), str(root)]
    proc = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(site.glob("rnnzoo_acme-0.1.0.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": str(site), "RNNZOO_STRICT_PLUGINS": "1"}
    tests = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests"),
             "--rootdir", str(root)]
    proc = subprocess.run(tests, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "8 passed" in proc.stdout


@pytest.mark.parametrize(("name", "message"), [("Bad-Name", "invalid"), ("acme", "already exists")])
def test_bad_names_and_existing_folders_are_refused(name, message, tmp_path) -> None:
    (tmp_path / "rnnzoo-acme").mkdir()
    res = CliRunner().invoke(main, ["new-plugin", name, "--dir", str(tmp_path)])
    assert res.exit_code == 2 and message in res.output
