"""Exclusive locks on a run folder or an export target, so two writers never interleave silently.

Two ``rnnzoo train --out RUN`` (or two exports to one folder) used to both
exit 0 with the second one's files on disk. A lock file held for the whole
write makes the second writer fail at once with a clear error instead.
``filelock`` uses ``fcntl`` locks, which the kernel drops when the process
dies, so a killed run never leaves a lock that blocks the next one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from rnnzoo.errors import BusyError


@contextlib.contextmanager
def exclusive(lock_path: Path, what: str) -> Iterator[None]:
    """Hold ``lock_path`` for the block; another holder means :class:`BusyError` naming ``what``."""
    import filelock

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise BusyError(f"{what} is being written by another rnnzoo process (lock {lock_path}); "
                        "wait for it to finish or use another folder") from exc
    except OSError as exc:
        raise BusyError(f"cannot lock {what} ({lock_path}): {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()
