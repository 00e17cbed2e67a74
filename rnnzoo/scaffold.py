"""``rnnzoo new-plugin NAME``: write a working plugin distribution a user can pip-install and grow.

The generated model uses only public API, honours the forward contract
(exact under padding) and ships a test that runs the conformance kit, so a
new plugin starts green.
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

_TEST = '''"""rnnzoo's conformance kit: build, shapes, padding, gradients, training, checkpoint, ONNX parity."""

import rnnzoo
from rnnzoo.testing import parametrize_with_checks


def test_discovered_through_the_entry_point():
    record = next(r for r in rnnzoo.list_plugins() if r["name"] == "{name}")
    assert record["distribution"] == "rnnzoo-{name}" and record["models"] == ["{name}_gru"]


@parametrize_with_checks(["{name}_gru"])
def test_conformance(model_name, check):
    check(model_name)
'''

_README = '''# rnnzoo-{name}

An rnnzoo plugin. Install it and rnnzoo finds it through its entry point:

```bash
pip install -e .
rnnzoo list '{name}_*'
pytest tests            # the rnnzoo conformance kit
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
