"""What the built-in runtime specs share: installed-or-not checks and versions without importing the runtime."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from collections.abc import Callable

from rnnzoo.errors import MissingDependencyError


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
