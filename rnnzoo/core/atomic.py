"""Atomic file writes: a reader (or a crash) never sees half a file. Standard library only.

Checkpoints, exports, reports and predictions all go through here; it is
its own module so the torch-free inference path can use it too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write through a temp file in the same folder, fsync, then rename over ``path``.

    The temp file is hidden (``.NAME.*.tmp``) and removed if ``write`` fails,
    so a killed process leaves at most a stray hidden file, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it private; give it what open() would have
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def remove_stale_temps(folder: Path, names: tuple[str, ...]) -> None:
    """Delete the hidden temp files a killed :func:`atomic_write` of any of ``names`` left in ``folder``."""
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def current_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask
