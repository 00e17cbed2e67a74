"""Where a study lives: Optuna's own storages, so several processes and machines share one study.

A path (or ``journal:PATH``) is Optuna's journal file, which every process
appends to under a file lock: enough for workers on one machine or on a
shared filesystem. An RDB URL (``sqlite:///``, ``postgresql://``,
``mysql://``) is passed to Optuna's RDBStorage (the server's driver is the
user's to install).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnzoo.errors import InvalidHyperparameterError

RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")


def is_rdb(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in RDB_SCHEMES and "://" in url


def journal_path(url: str) -> Path | None:
    """The journal file a storage URL names, or None for an RDB URL."""
    if is_rdb(url):
        return None
    if "://" in url:
        raise InvalidHyperparameterError(
            f"storage {url!r} is neither a journal file path nor an RDB URL "
            f"({', '.join(s + '://' for s in RDB_SCHEMES)}); e.g. --storage /shared/study.journal")
    return Path(url.removeprefix("journal:"))


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url`` (a journal file is created with its folder)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    path = journal_path(url)
    if path is None:
        return optuna.storages.RDBStorage(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


class BudgetLock:
    """Serializes the budget top-up of coordinators sharing a journal file (RDB: a no-op).

    Two machines started at once would otherwise both see an empty study and
    both enqueue the whole budget.
    """

    def __init__(self, url: str) -> None:
        path = journal_path(url)
        self._lock: Any = None
        if path is not None:
            from optuna.storages.journal import JournalFileOpenLock

            self._lock = JournalFileOpenLock(str(path) + ".budget")

    def __enter__(self) -> BudgetLock:
        if self._lock is not None:
            self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
