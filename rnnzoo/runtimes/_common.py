"""What the built-in runtime specs share: installed-or-not checks and versions without importing the runtime."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.deploy.runtime import feeds
from rnnzoo.errors import MissingDependencyError

PlainRunner = Callable[[np.ndarray, np.ndarray], np.ndarray]
GraphRunner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


def plain(load_graph: Callable[[Path, int | None], GraphRunner]) -> Callable[[Path, int | None], PlainRunner]:
    """A runtime's ``load`` from its ``load_graph``: one way to run a file, so the two cannot disagree."""

    def load(path: Path, threads: int | None = None) -> PlainRunner:
        run = load_graph(path, threads)
        return lambda x, lengths: run(feeds(x, lengths))[0]

    return load


def availability(module: str, extra: str | None) -> Callable[[], str | None]:
    """``available()`` for a runtime importable as ``module``: None when found, else how to install it."""

    def available() -> str | None:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            return None
        how = f"pip install 'rnnzoo[{extra}]'" if extra else f"pip install {module}"
        return f"{module} is not installed: {how}"

    return available


def distribution_version(dist: str, extra: str | None) -> Callable[[], str]:
    """``version()`` for a runtime shipped as distribution ``dist``; ``MissingDependencyError`` when absent."""

    def version() -> str:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            how = f"pip install 'rnnzoo[{extra}]'" if extra else f"pip install {dist}"
            raise MissingDependencyError(f"{dist} is not installed: {how}") from None

    return version


def first_line(exc: BaseException) -> str:
    """One line of an exception for a report row: runtimes' messages span many lines."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def installed_version(spec: Any) -> str | None:
    """The runtime's version; None when it is not installed (or its plugin's ``version()`` is broken)."""
    try:
        return str(spec.version())
    except Exception:  # ImportError when not installed; a plugin's version() may raise anything
        return None


def unavailable(spec: Any) -> str | None:
    """Why the runtime cannot be used here, or None; a plugin whose ``available()`` raises is unavailable."""
    try:
        reason = spec.available()
    except Exception as exc:  # a plugin's available() may raise anything
        return f"available() raised {type(exc).__name__}: {first_line(exc)}"
    return None if reason is None else str(reason)
