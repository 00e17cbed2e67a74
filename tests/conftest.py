"""Shared fixtures: fake third-party plugin distributions installed on sys.path."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rnnzoo.core import plugins


def write_distribution(root: Path, dist: str, module: str, source: str, ep_name: str | None = None) -> None:
    """A minimal installed distribution: a module plus dist-info with an rnnzoo entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[rnnzoo]\n{ep_name or module} = {module}\n")


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Install fake distributions for one test; the registry is reloaded before and after."""
    modules: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(dist: str, module: str, source: str, ep_name: str | None = None) -> None:
        write_distribution(tmp_path, dist, module, source, ep_name)
        modules.append(module)

    yield install
    monkeypatch.undo()
    for m in modules:
        sys.modules.pop(m, None)
    plugins.reload(strict=False)


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    yield
    if plugins._extra_plugins:
        plugins._extra_plugins.clear()
        plugins.reload(strict=False)
