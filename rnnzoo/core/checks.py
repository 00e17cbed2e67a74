"""Argument checks shared by every layer, so each rule has one wording and one implementation."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable


def is_positive_int(value: object) -> bool:
    """True for 1, 2, ...; False for bools (``True`` is an int to Python), floats, strings and <= 0."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def positive_int(name: str, value: object, error: type[Exception]) -> int:
    """``value`` if it is a positive int, else ``error`` naming the argument and the value."""
    if not is_positive_int(value):
        raise error(f"{name} must be a positive int (1 or more), got {value!r}")
    return value  # type: ignore[return-value]


def did_you_mean(names: str | Iterable[str], known: Iterable[str], n: int = 3) -> str:
    """`` Did you mean: a, b?`` for the close matches of ``names`` among ``known``; empty when none is close."""
    wanted = [names] if isinstance(names, str) else list(names)
    pool = list(known)
    # best match first, as difflib ranks them
    close = list(dict.fromkeys(c for w in wanted for c in difflib.get_close_matches(w, pool, n=n, cutoff=0.5)))
    return f" Did you mean: {', '.join(close)}?" if close else ""


def env_int(name: str, default: int, error: type[Exception]) -> int:
    """A positive integer limit from the environment; a malformed value is ``error`` naming the variable."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise error(f"{name}={raw!r} is not a whole number (write e.g. {name}={default})") from None
    return positive_int(name, value, error)
