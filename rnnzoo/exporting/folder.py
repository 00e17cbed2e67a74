"""The export target on disk: locked, built aside, swapped in whole, and never at the cost of a user's file.

An export is written into a hidden sibling folder and renamed over the
target only once it is complete, so a killed export leaves the previous
export (or nothing), never a mix, and files of an earlier export (an int8
file, a streaming graph) can never be hashed into the new card.

What may be replaced is decided by rnnzoo's own marker, not by the mere
presence of a file called ``card.json``: the card must parse as an rnnzoo
card, and every file in the folder must be one that card lists. A folder
holding anything else (a user's notes, an app's sources) is refused with
the names of those files, so nothing of the user's is ever deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rnnzoo.core.atomic import current_umask
from rnnzoo.core.locks import exclusive
from rnnzoo.deploy.card import (
    CARD_FILE,
    CHECKPOINT_FILE,
    FP16_FILE,
    INT8_FILE,
    LITERT_FILE,
    LITERT_VARIANT_FILES,
    MODEL_FILE,
    PORTABLE_FILE,
    STREAM_FILE,
)
from rnnzoo.errors import ExportError

# Names only an export writes: a stale int8 file of an earlier export is replaced, not taken for the user's.
_WRITTEN_BY_RNNZOO = re.compile(
    "|".join(map(re.escape, (CARD_FILE, CHECKPOINT_FILE, MODEL_FILE, PORTABLE_FILE, INT8_FILE, FP16_FILE,
                             STREAM_FILE, LITERT_FILE, *LITERT_VARIANT_FILES.values())))
    + r"|test_data_set_[0-9]+/(input|output)_[0-9]+\.pb")


def resolve_target(out_dir: str | Path) -> Path:
    """The absolute target; the working directory or one of its parents is refused (it would be swapped away)."""
    target = Path(out_dir).expanduser().resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents or target.parent == target:
        raise ExportError(f"cannot export into {out_dir!s}: it is the working directory or one of its parents; "
                          "name a subfolder such as exports/MODEL")
    return target


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Lock ``target``, build into a hidden sibling, then swap it in whole (see the module docstring)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(target.parent / f".{target.name}.lock", f"export folder {target}"):
        _recover(target)
        check_replaceable(target)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".export", dir=target.parent))
        os.chmod(stage, 0o777 & ~current_umask())  # mkdtemp makes it private; an export is meant to be shared
        try:
            yield stage
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        if stage.exists():  # a failed export has moved it to <target>.failed
            _swap(stage, target)


def _swap(stage: Path, target: Path) -> None:
    old = stage.with_suffix(".old")
    if target.exists():
        os.replace(target, old)
    os.replace(stage, target)
    shutil.rmtree(old, ignore_errors=True)


def check_replaceable(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise ExportError(f"{target} exists and is a file; export into a new or empty folder")
    if not any(target.iterdir()):
        return
    listed = _listed_files(target)
    if listed is None:
        raise ExportError(f"{target} exists and is not an rnnzoo export folder; export into a new or empty folder")
    foreign = sorted(rel for rel in (p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
                     if rel not in listed and not _WRITTEN_BY_RNNZOO.fullmatch(rel))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ExportError(f"{target} holds files the previous export did not write ({shown}); move them out "
                          "or export into another folder: re-exporting replaces the whole folder")


def _listed_files(folder: Path) -> set[str] | None:
    """The files an rnnzoo card in ``folder`` lists, or None when there is no rnnzoo card there."""
    try:
        card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(card, dict) or not isinstance(card.get("rnnzoo.model"), str) or \
            not isinstance(card.get("source_metadata"), dict) or not isinstance(card.get("files"), dict):
        return None
    return {str(k) for k in card["files"]}


def _recover(target: Path) -> None:
    """Undo what a killed export left; the caller holds the lock, so no other export is using these.

    A kill between the two renames of a swap leaves the previous export in
    ``.NAME.*.old`` (restored if the target is gone); a kill while building
    leaves a ``.NAME.*.export`` staging folder (deleted).
    """
    stem = re.escape(target.name)
    olds = _siblings(target, rf"\.{stem}\.[A-Za-z0-9_]+\.old")  # mkdtemp's suffix, nothing wider
    if olds and not target.exists() and (olds[-1] / CARD_FILE).is_file():
        os.replace(olds.pop(), target)
    for stale in [*olds, *_siblings(target, rf"\.{stem}\.[A-Za-z0-9_]+\.export")]:
        shutil.rmtree(stale, ignore_errors=True)


def _siblings(target: Path, pattern: str) -> list[Path]:
    mine = re.compile(pattern)
    return sorted((p for p in target.parent.iterdir() if mine.fullmatch(p.name)), key=lambda p: p.stat().st_mtime)
