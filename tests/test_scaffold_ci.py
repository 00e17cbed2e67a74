"""The CI that `rnnzoo new-plugin` writes really runs: every `run:` step of its workflow, in a fresh venv.

Why a fresh virtual environment and not this one: the steps install the
plugin, and a template that only works where everything is already set up
would pass here and fail on the plugin's first push. Installing torch into
a new environment takes minutes and the network, so the new environment
sees this one's packages through a ``site.addsitedir`` line (what
``--system-site-packages`` does for the base interpreter) and pip runs with
``PIP_NO_INDEX``: the install step resolves every dependency from what is
installed, and fails loudly if the template asked for anything else. The
``uses:`` steps (checkout, setup-python, upload-artifact) are GitHub's own;
the test stands in for them (the generated folder, this Python, the files
it then reads).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from rnnzoo.scaffold import new_plugin

STANDS_IN_FOR = {"actions/checkout", "actions/setup-python", "actions/upload-artifact"}


def _fresh_venv(where: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(where)
    site = next((where / "lib").glob("python3*/site-packages"))
    (site / "_rnnzoo_host.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    return where / "bin"


def _steps(root: Path) -> list[dict]:
    workflow = yaml.safe_load((root / ".github/workflows/parity.yml").read_text())
    [job] = workflow["jobs"].values()
    return job["steps"]


def test_generated_workflow_steps_run_in_a_fresh_venv(tmp_path) -> None:
    root = new_plugin("acme", tmp_path)
    steps = _steps(root)
    assert {s["uses"].split("@")[0] for s in steps if "uses" in s} <= STANDS_IN_FOR
    runs = [s for s in steps if "run" in s]
    assert len(runs) == 3
    bin_dir = _fresh_venv(tmp_path / "venv")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(bin_dir.parent),
           "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "RNNZOO_STRICT_PLUGINS": "1", "PYTHONWARNINGS": "ignore"}
    for step in runs:  # as GitHub runs a `run:` step: bash -e -o pipefail, in the checkout
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=root,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"step {step['name']!r}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    installed = subprocess.run([str(bin_dir / "python"), "-c", "import rnnzoo_acme; print(rnnzoo_acme.__file__)"],
                               capture_output=True, text=True, env=env, check=True).stdout
    assert str(root / "src") in installed  # the step's editable install, in the fresh venv, is what ran
    kit = ET.parse(root / "reports/conformance.xml").getroot()
    suite = kit if kit.tag == "testsuite" else kit.find("testsuite")
    assert suite is not None and suite.get("tests") == "8" and suite.get("failures") == "0", ET.tostring(kit)[:2000]
    names = {c.get("name") for c in suite.iter("testcase")}
    assert "export_and_parity[acme_gru]" in names and "test_discovered_through_the_entry_point" in names
    verify = ET.parse(root / "reports/verify.xml").getroot()
    assert verify.get("failures") == "0" and verify.get("errors") == "0"
    cases = {c.get("name") for c in verify.iter("testcase")}
    assert {"files", "test_data_set_0 [onnxruntime]", "parity:batch1_len1 [onnxruntime]"} <= cases


def test_generated_noxfile_lists_its_session(tmp_path) -> None:
    root = new_plugin("acme", tmp_path)
    proc = subprocess.run([sys.executable, "-m", "nox", "-l"], cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "parity" in proc.stdout, proc.stdout + proc.stderr
