"""``rnnzoo new-plugin NAME``: write a working plugin distribution a user can pip-install and grow.

The generated model uses only public API, honours the forward contract
(exact under padding) and names itself to rnnzoo's pytest plugin, which runs
the conformance kit; a GitHub Actions workflow and a noxfile run the kit and
verify a trained export with JUnit reports, so a new plugin starts green,
in CI from its first push.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from rnnzoo.core.atomic import current_umask
from rnnzoo.errors import RnnzooError

_PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "rnnzoo-{name}"
version = "0.1.0"
description = "rnnzoo plugin: {name}"
requires-python = ">=3.10"
dependencies = ["rnnzoo[torch]>=0.1"]

[project.entry-points.rnnzoo]
{name} = "rnnzoo_{name}"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# rnnzoo's pytest plugin runs its conformance kit on these models: one test per (model, check)
rnnzoo_models = ["{name}_*"]
'''

_PLUGIN = '''"""rnnzoo plugin {name}: registers its models through the `rnnzoo` entry point."""

from __future__ import annotations

import rnnzoo


def build(input_size: int, output_size: int, hidden_size: int = 32, num_layers: int = 1):
    from rnnzoo_{name}.model import LastStepGRU

    return LastStepGRU(input_size, output_size, hidden_size, num_layers)


@rnnzoo.hookimpl
def rnnzoo_register_models(register):
    register(rnnzoo.ModelSpec(
        name="{name}_gru",
        task="classification",
        build=build,
        description="GRU classifier from the {name} plugin",
        default_hparams={{"hidden_size": 32, "num_layers": 1}},
        default_dataset="sines",
        tolerance=rnnzoo.Tolerance(atol=1e-4, rtol=1e-3),
    ))
'''

_MODEL = '''"""A GRU whose logits are read at each sample's last valid step (exact under padding)."""

from __future__ import annotations

import torch
from torch import nn


class LastStepGRU(nn.Module):
    def __init__(self, input_size: int, output_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        out = self.gru(x)[0]  # a forward pass never looks ahead: padding cannot reach valid steps
        if lengths is None:
            return self.head(out[:, -1])
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
        return self.head(torch.gather(out, 1, index).squeeze(1))
'''

_TEST = '''"""The plugin's own tests.

rnnzoo's conformance kit (build, shapes, padding, gradients, training,
checkpoint, ONNX parity) needs no test here: rnnzoo's pytest plugin runs it
on the models named by ``rnnzoo_models`` in pyproject.toml, one test per
(model, check). ``pytest --rnnzoo-models '{name}_*' --rnnzoo-checks forward_shapes``
picks models and checks from the command line.
"""

import rnnzoo


def test_discovered_through_the_entry_point():
    record = next(r for r in rnnzoo.list_plugins() if r["name"] == "{name}")
    assert record["distribution"] == "rnnzoo-{name}" and record["models"] == ["{name}_gru"]
'''

# GitHub Actions. tests/test_scaffold_ci.py runs every `run:` step below in a fresh virtual environment.
_WORKFLOW = '''# rnnzoo parity tests: the conformance kit on every model of this plugin, then a trained export verified
# in onnxruntime, with JUnit reports for the CI dashboard.
name: parity
on:
  push:
  pull_request:
jobs:
  parity:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the plugin (CPU-only torch)
        run: |
          python -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -e . pytest
      - name: Conformance kit
        run: |
          python -m pytest -q --junit-xml=reports/conformance.xml
      - name: Train, export and verify
        run: |
          python -m rnnzoo train {name}_gru --epochs 2 --quiet --out runs/{name}_gru
          python -m rnnzoo export runs/{name}_gru/model.safetensors --out exports/{name}_gru --no-int8 --no-fp16
          python -m rnnzoo verify 'exports/*' --junit-xml reports/verify.xml
      - name: Keep the reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: parity-reports
          path: reports/
'''

_NOXFILE = '''"""The same checks as .github/workflows/parity.yml, locally: `nox` (pip install nox)."""

import nox


@nox.session
def parity(session):
    session.install("-e", ".", "pytest")
    session.run("python", "-m", "pytest", "-q", "--junit-xml=reports/conformance.xml")
    session.run("python", "-m", "rnnzoo", "train", "{name}_gru", "--epochs", "2", "--quiet", "--out", "runs/{name}_gru")
    session.run("python", "-m", "rnnzoo", "export", "runs/{name}_gru/model.safetensors", "--out", "exports/{name}_gru",
                "--no-int8", "--no-fp16")
    session.run("python", "-m", "rnnzoo", "verify", "exports/*", "--junit-xml", "reports/verify.xml")
'''

_README = '''# rnnzoo-{name}

An rnnzoo plugin. Install it and rnnzoo finds it through its entry point:

```bash
pip install -e .
rnnzoo list '{name}_*'
pytest                  # the rnnzoo conformance kit (rnnzoo's pytest plugin, see pyproject.toml)
nox                     # what CI runs (.github/workflows/parity.yml): the kit, then an export verified
```
'''


def new_plugin(name: str, parent: str | Path = ".") -> Path:
    """Create ``<parent>/rnnzoo-<name>/``; refuses bad names and existing folders."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise RnnzooError(f"plugin name {name!r} is invalid: use lowercase letters, digits and _")
    root = Path(parent) / f"rnnzoo-{name}"
    if root.exists():
        raise RnnzooError(f"{root} already exists; choose another name or remove it")
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/rnnzoo_{name}/__init__.py": _PLUGIN,
        f"src/rnnzoo_{name}/model.py": _MODEL,
        "tests/test_conformance.py": _TEST,
        ".github/workflows/parity.yml": _WORKFLOW,
        "noxfile.py": _NOXFILE,
    }
    # written aside and renamed in whole: a full disk leaves no half tree that a rerun would refuse
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for rel, template in files.items():
            path = stage / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(name=name) if "{name" in template else template, encoding="utf-8")
        os.chmod(stage, 0o777 & ~current_umask())
        os.replace(stage, root)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return root
