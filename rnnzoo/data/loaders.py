"""Read user sequence data from ``.npz``, long-format ``.csv`` and UCR/UEA ``.ts`` files.

Every loader returns a :class:`SequenceDataset` whose ``name`` is the file
path, so the container's own validation errors point at the file. Problems
the container cannot see (a missing column, a non-numeric cell, an
undeclared class label) are reported here as :class:`DataError` with the
file and the line, column or key. Nothing is ever unpickled: a data file is
untrusted input, and ``np.load(..., allow_pickle=True)`` would run code.
Only numpy and the standard library are used, so the inference-only
install can read data too.
"""

from __future__ import annotations

import csv
import itertools
import math
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.core.checks import env_int
from rnnzoo.core.specs import TASKS
from rnnzoo.data.dataset import SequenceDataset, pad
from rnnzoo.errors import DataError

PathLike = str | Path

_RAGGED_HINT = (
    "rnnzoo never unpickles data files; ragged arrays must be padded into a numeric "
    "[N, T, F] X with a `lengths` array giving each sequence's true length"
)


# --------------------------------------------------------------------------- shared helpers


def _existing(path: PathLike) -> Path:
    """The path as a ``Path``, or a DataError the CLI can print without a traceback."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if not p.is_file():
        raise DataError(f"{p}: not a regular file")
    return p


def _require_task(task: str | None, name: str) -> str:
    """npz and csv files do not say what they are for, so the caller must."""
    if task is None:
        raise DataError(f"{name}: pass task= one of {TASKS}; this file type does not declare it")
    if task not in TASKS:
        raise DataError(f"{name}: task must be one of {TASKS}, got {task!r}")
    return task


def _as_number(text: str) -> float | None:
    """``float(text)`` or None, so callers can word their own error."""
    try:
        return float(text)
    except ValueError:
        return None


def _encode_labels(
    raw: list[str], name: str, label_names: list[str] | None = None
) -> tuple[np.ndarray, list[str] | None]:
    """Class labels as int64 indices 0..K-1 plus the names that index them.

    With ``label_names`` given, its order defines the indices. Otherwise
    integer labels already forming 0..K-1 pass through unchanged (no names);
    other integers are mapped in numeric order and string labels in sorted
    order, keeping the originals as ``label_names``. Non-integer numbers are
    rejected: they are almost always a regression target passed by mistake.
    """
    if label_names is not None:
        index = {label: i for i, label in enumerate(label_names)}
        unknown = sorted(set(raw) - set(index))
        if unknown:
            raise DataError(f"{name}: labels {unknown[:5]} are not in label_names {label_names}")
        return np.array([index[v] for v in raw], dtype=np.int64), list(label_names)
    numbers = [_as_number(v) for v in raw]
    if any(v is None for v in numbers):
        return _encode_labels(raw, name, sorted(set(raw)))
    values = np.array(numbers, dtype=np.float64)
    integral = np.isfinite(values) & (values == np.round(values))
    if not integral.all():
        bad = raw[int(np.argmin(integral))]
        raise DataError(
            f"{name}: class label {bad!r} is not an integer; use task='regression' for "
            "numeric targets"
        )
    ints = values.astype(np.int64)
    classes = np.unique(ints)
    if np.array_equal(classes, np.arange(len(classes))):
        return ints, None
    return np.searchsorted(classes, ints).astype(np.int64), [str(c) for c in classes]


# --------------------------------------------------------------------------- .npz


MAX_INPUT_BYTES_ENV = "RNNZOO_MAX_INPUT_BYTES"
_MAX_INPUT_BYTES = 2 << 30  # 2 GiB of arrays: far above any sequence set here; a zip bomb is refused before inflating


def _open_npz(p: Path) -> dict[str, np.ndarray]:
    """All arrays of an archive, read eagerly so the file handle is closed; sizes checked before allocating."""
    try:
        archive = np.load(p, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{p}: this is a single .npy array, not a .npz archive with X and y")
        with archive:
            _check_npz_size(p, archive)
            return {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except ValueError as exc:  # object arrays, or a pickle (np.load's guess for unknown bytes)
        raise DataError(f"{p}: not a plain numeric .npz archive ({exc}); {_RAGGED_HINT}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{p}: cannot read as a .npz archive: {exc}") from None


def _check_npz_size(p: Path, archive: np.lib.npyio.NpzFile) -> None:
    """Declared shape x dtype of every member, read from the .npy headers, against a limit the user can raise."""
    limit = env_int(MAX_INPUT_BYTES_ENV, _MAX_INPUT_BYTES, DataError)
    total, zf = 0, archive.zip
    assert zf is not None, "an open NpzFile has its zip"
    for member in zf.namelist():
        with zf.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh)  # the header only, no data
        total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if total > limit:
        raise DataError(f"{p}: its arrays take {total / 2**30:.1f} GiB unpacked, over the {limit / 2**30:.1f} GiB "
                        f"limit; split the file, or raise the limit with {MAX_INPUT_BYTES_ENV}=BYTES")


def _npz_key(arrays: dict[str, np.ndarray], key: str, name: str) -> np.ndarray:
    if key not in arrays:
        raise DataError(f"{name}: missing key {key!r} (keys in the file: {sorted(arrays)})")
    return arrays[key]


def _npz_features(x: np.ndarray, name: str) -> np.ndarray:
    """X as float32 [N, T, F]; a 2-D X is one feature per step."""
    if x.dtype.kind not in "iuf":
        raise DataError(f"{name}: X must be a numeric array, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise DataError(f"{name}: X must be [N, T, F] or [N, T], got shape {x.shape}")
    return x.astype(np.float32)


def _npz_label_names(arrays: dict[str, np.ndarray], name: str) -> list[str] | None:
    if "label_names" not in arrays:
        return None
    names = arrays["label_names"]
    if names.dtype.kind == "S":
        names = np.char.decode(names, "utf-8")
    if names.dtype.kind != "U" or names.ndim != 1:
        raise DataError(f"{name}: label_names must be a 1-D array of strings")
    return [str(v) for v in names]


def _npz_lengths(arrays: dict[str, np.ndarray], x: np.ndarray, name: str) -> np.ndarray:
    """``lengths`` as int64 (every step valid when absent); whole-number floats pass, as SequenceDataset allows.

    Converted here, before padding is zeroed, so that float lengths zero NaN
    padding too and training and inference read the same file the same way.
    Shape and range are checked by the caller, who knows what it needs.
    """
    if "lengths" not in arrays:
        return np.full(x.shape[0], x.shape[1], dtype=np.int64)
    lengths = arrays["lengths"]
    if lengths.dtype.kind in "iu":
        return lengths.astype(np.int64)
    if lengths.dtype.kind == "f" and np.isfinite(lengths).all() and np.all(lengths == np.round(lengths)):
        return lengths.astype(np.int64)
    raise DataError(f"{name}: lengths must be integers (whole numbers of steps), got dtype {lengths.dtype}")


def _zero_padding(x: np.ndarray, lengths: np.ndarray, y: np.ndarray | None = None) -> None:
    """Zero the steps past each length, in place.

    Padding is ignored by the models but NaN padding (a common convention)
    would still fail the finiteness check or poison a masked loss (NaN * 0
    is NaN). Skipped when ``lengths`` has the wrong shape: validation reports that.
    """
    if lengths.shape != (x.shape[0],):
        return
    pad = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    x[pad] = 0.0
    if y is not None and y.ndim == 3 and y.shape[:2] == x.shape[:2] and y.dtype.kind == "f":
        y[pad] = 0.0


def load_npz(path: PathLike, task: str, label_names: list[str] | None = None) -> SequenceDataset:
    """Arrays ``X`` ([N, T, F] or [N, T]), ``y`` and optional ``lengths`` / ``label_names``.

    Without ``lengths`` every step is valid. ``y`` is [N] class labels or
    regression targets, [N, O] targets, or [N, T, O] per-step targets.
    String class labels are mapped to indices (sorted, or in the order of
    ``label_names``). A ``label_names`` argument overrides one in the file.
    """
    p = _existing(path)
    name = str(p)
    task = _require_task(task, name)
    arrays = _open_npz(p)
    x = _npz_features(_npz_key(arrays, "X", name), name)
    y = _npz_key(arrays, "y", name)
    lengths = _npz_lengths(arrays, x, name)
    names = label_names if label_names is not None else _npz_label_names(arrays, name)
    if task == "classification" and y.dtype.kind in "US" and y.ndim == 1:
        y, names = _encode_labels([str(v) for v in y.astype(str)], name, names)
    if y.ndim == 3 and y.dtype.kind in "iu":
        y = y.astype(np.float32)
    _zero_padding(x, lengths, y)
    return SequenceDataset(x=x, lengths=lengths, y=y, task=task, name=name, label_names=names)


# --------------------------------------------------------------------------- .csv


@dataclass
class _Sequence:
    """The rows of one sequence id, as they come from the file."""

    times: list[float] = field(default_factory=list)
    features: list[list[float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def _csv_rows(p: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for every non-blank row; ``utf-8-sig`` drops an Excel BOM."""
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    yield reader.line_num, row
        except UnicodeDecodeError as exc:
            raise DataError(f"{p}: not UTF-8 text near line {reader.line_num + 1} ({exc.reason}); save it as UTF-8") \
                from None
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072 characters)
            raise DataError(f"{p}: line {reader.line_num}: {exc}; is this really a CSV file?") from None


def _csv_columns(
    header: list[str], name: str, required: list[str], feature_cols: list[str] | None
) -> list[str]:
    """Check the header and return the feature columns (by default all non-reserved ones)."""
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise DataError(f"{name}: duplicate column names {dupes}")
    wanted = required + (feature_cols or [])
    for col in wanted:
        if col not in header:
            raise DataError(f"{name}: missing column {col!r} (header: {header})")
    features = feature_cols if feature_cols is not None else [c for c in header if c not in required]
    if not features:
        raise DataError(f"{name}: no feature columns besides {required}")
    return list(features)


def _csv_float(text: str, name: str, line: int, col: str) -> float:
    value = _as_number(text)
    if value is None:
        raise DataError(f"{name}: line {line}, column {col!r}: {text!r} is not a number")
    if not math.isfinite(value):
        raise DataError(f"{name}: line {line}, column {col!r}: {text!r} is NaN or inf")
    return value


def _csv_read(
    p: Path, id_col: str, time_col: str, label_col: str | None, feature_cols: list[str] | None
) -> tuple[dict[str, _Sequence], list[str]]:
    """Group the rows by id (in order of first appearance), parsing numbers as we go.

    ``label_col=None``: features only (inference); a "label" column, if
    present, is then neither required nor read as a feature.
    """
    name = str(p)
    rows = _csv_rows(p)
    first = next(rows, None)
    if first is None:
        raise DataError(f"{name}: the file is empty")
    header = [c.strip() for c in first[1]]
    required = [id_col, time_col] + ([label_col] if label_col else [])
    if label_col is None and feature_cols is None:
        feature_cols = [c for c in header if c not in (id_col, time_col, "label")]
    features = _csv_columns(header, name, required, feature_cols)
    pos = {c: i for i, c in enumerate(header)}
    groups: dict[str, _Sequence] = {}
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(f"{name}: line {line} has {len(row)} fields, the header has {len(header)}")
        key = row[pos[id_col]].strip()
        if not key:
            raise DataError(f"{name}: line {line}: column {id_col!r} is empty")
        seq = groups.setdefault(key, _Sequence())
        seq.times.append(_csv_float(row[pos[time_col]], name, line, time_col))
        seq.features.append([_csv_float(row[pos[c]], name, line, c) for c in features])
        seq.labels.append(row[pos[label_col]].strip() if label_col else "")
        seq.lines.append(line)
    if not groups:
        raise DataError(f"{name}: the file has a header but no data rows")
    return groups, features


def _csv_sorted(seq: _Sequence, key: str, name: str) -> _Sequence:
    """The rows of one id in time order; a repeated time step is ambiguous, so an error."""
    order = sorted(range(len(seq.times)), key=seq.times.__getitem__)
    for a, b in itertools.pairwise(order):
        if seq.times[a] == seq.times[b]:
            raise DataError(
                f"{name}: id {key!r} has two rows at time {seq.times[a]:g} "
                f"(lines {seq.lines[a]} and {seq.lines[b]})"
            )
    return _Sequence(
        times=[seq.times[i] for i in order], features=[seq.features[i] for i in order],
        labels=[seq.labels[i] for i in order], lines=[seq.lines[i] for i in order],
    )


def _csv_label(seq: _Sequence, key: str, name: str, label_col: str) -> str:
    """The one label of a sequence; a label that changes within an id is an error."""
    for label, line in zip(seq.labels, seq.lines, strict=True):
        if label != seq.labels[0]:
            raise DataError(
                f"{name}: id {key!r} has label {seq.labels[0]!r} at line {seq.lines[0]} but "
                f"{label!r} at line {line}; column {label_col!r} must be constant within an id "
                "(use per_step=True for per-step regression targets)"
            )
    if not seq.labels[0]:
        raise DataError(f"{name}: line {seq.lines[0]}: column {label_col!r} is empty")
    return seq.labels[0]


def load_csv(
    path: PathLike,
    task: str,
    id_col: str = "id",
    time_col: str = "time",
    label_col: str = "label",
    feature_cols: list[str] | None = None,
    per_step: bool = False,
) -> SequenceDataset:
    """Long format: one row per (sequence id, time step), with a header row.

    Sequences keep the order in which their ids first appear; rows are
    sorted by the numeric ``time_col`` within each id. The feature columns
    default to every column except id, time and label. The label must be
    constant within an id, unless ``per_step=True`` (regression only), where
    it is a target for every step. Class labels become indices 0..K-1:
    strings in sorted order, integers not already 0..K-1 in numeric order,
    with the originals kept as ``label_names``.
    """
    p = _existing(path)
    name = str(p)
    task = _require_task(task, name)
    if per_step and task != "regression":
        raise DataError(f"{name}: per_step targets need task='regression', got {task!r}")
    groups, features = _csv_read(p, id_col, time_col, label_col, feature_cols)
    seqs = {key: _csv_sorted(seq, key, name) for key, seq in groups.items()}
    x = [np.asarray(s.features, dtype=np.float32) for s in seqs.values()]
    kwargs: dict[str, Any] = {"name": name, "feature_names": features}
    if per_step:
        y: Any = [
            np.array([_csv_float(v, name, ln, label_col) for v, ln in zip(s.labels, s.lines, strict=True)])
            for s in seqs.values()
        ]
        return SequenceDataset.from_sequences(x, y, task, per_step=True, **kwargs)
    labels = [_csv_label(s, key, name, label_col) for key, s in seqs.items()]
    if task == "classification":
        y, kwargs["label_names"] = _encode_labels(labels, name)
    else:
        y = np.array(
            [_csv_float(v, name, s.lines[0], label_col) for v, s in zip(labels, seqs.values(), strict=True)],
            dtype=np.float32,
        )
    return SequenceDataset.from_sequences(x, y, task, **kwargs)


def _csv_features(p: Path, feature_cols: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Padded features [N, T, F], lengths and feature names of a long-format CSV; labels not needed.

    ``feature_cols`` (e.g. the names a model was trained on) picks and
    orders the columns by name, so a CSV whose columns are in another order,
    or that still carries its label column, is read correctly.
    """
    groups, features = _csv_read(p, "id", "time", None, feature_cols)
    seqs = [np.asarray(_csv_sorted(seq, key, str(p)).features, dtype=np.float32) for key, seq in groups.items()]
    x, lengths = pad(seqs, str(p))
    return x, lengths, features


# --------------------------------------------------------------------------- .ts


@dataclass
class _TsHeader:
    """What the ``@`` lines of a .ts file declare (keys are case-insensitive in the wild)."""

    problem: str | None = None
    univariate: bool | None = None
    dimensions: int | None = None
    class_labels: list[str] | None = None
    target: bool = False
    saw_data: bool = False


def _ts_flag(value: list[str], key: str, name: str, line: int) -> bool:
    if not value or value[0].lower() not in ("true", "false"):
        raise DataError(f"{name}: line {line}: {key} must be followed by true or false")
    return value[0].lower() == "true"


def _ts_header_line(head: _TsHeader, text: str, name: str, line: int) -> None:
    """Apply one ``@key value...`` line; unknown keys are ignored for forward compatibility."""
    key, *value = text.split()
    key = key.lower()
    if key == "@problemname":
        head.problem = " ".join(value) or None
    elif key == "@timestamps" and _ts_flag(value, key, name, line):
        raise DataError(f"{name}: line {line}: timestamped .ts series are not supported")
    elif key == "@univariate":
        head.univariate = _ts_flag(value, key, name, line)
    elif key == "@dimensions":
        if len(value) != 1 or not value[0].isdigit() or int(value[0]) < 1:
            raise DataError(f"{name}: line {line}: @dimensions needs a positive integer")
        head.dimensions = int(value[0])
    elif key == "@classlabel" and _ts_flag(value, key, name, line):
        if len(value) < 2 or len(set(value[1:])) != len(value) - 1:
            raise DataError(f"{name}: line {line}: @classLabel true needs distinct class labels")
        head.class_labels = value[1:]
    elif key == "@targetlabel":
        head.target = _ts_flag(value, key, name, line)
    elif key == "@data":
        head.saw_data = True


def _ts_values(text: str, name: str, line: int, dim: int) -> np.ndarray:
    """One dimension of one series: comma-separated finite numbers, no ``?``."""
    parts = text.split(",")
    if "?" in (s.strip() for s in parts):
        raise DataError(
            f"{name}: line {line}, dimension {dim}: missing value '?'; rnnzoo needs complete "
            "series (impute or drop them first)"
        )
    try:
        values = np.array(parts, dtype=np.float64)
    except ValueError:
        bad = next(s for s in parts if _as_number(s) is None)
        raise DataError(f"{name}: line {line}, dimension {dim}: {bad.strip()!r} is not a number") from None
    if not np.isfinite(values).all():
        raise DataError(f"{name}: line {line}, dimension {dim}: NaN or inf value")
    return values


def _ts_instance(
    text: str, name: str, line: int, dims: int | None
) -> tuple[np.ndarray, str]:
    """(series [T, D], label) from one data line ``d1:d2:...:label``."""
    if "(" in text:
        raise DataError(f"{name}: line {line}: timestamped .ts series are not supported")
    *fields, label = text.split(":")
    if dims is not None and len(fields) != dims:
        raise DataError(f"{name}: line {line} has {len(fields)} dimensions, expected {dims}")
    series = [_ts_values(f, name, line, d) for d, f in enumerate(fields)]
    if len({len(s) for s in series}) != 1:
        raise DataError(
            f"{name}: line {line}: dimensions have different lengths {[len(s) for s in series]}"
        )
    return np.stack(series, axis=1), label.strip()


def _ts_task(head: _TsHeader, name: str) -> str:
    """Decided at ``@data``: without declared labels the last field would be misread."""
    if head.class_labels is not None and head.target:
        raise DataError(f"{name}: declares both @classLabel true and @targetLabel true")
    if head.class_labels is None and not head.target:
        raise DataError(
            f"{name}: declares no labels (@classLabel true ... or @targetLabel true); "
            "unlabelled series cannot be trained on"
        )
    return "classification" if head.class_labels is not None else "regression"


def _ts_lines(p: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for every non-blank, non-comment line."""
    number = 0
    with p.open(encoding="utf-8-sig") as fh:
        try:
            for number, raw in enumerate(fh, start=1):
                text = raw.strip()
                if text and not text.startswith("#"):
                    yield number, text
        except UnicodeDecodeError as exc:
            raise DataError(f"{p}: not UTF-8 text near line {number + 1} ({exc.reason}); save it as UTF-8") from None


def _ts_label(label: str, head: _TsHeader, name: str, line: int) -> int | float:
    if head.class_labels is not None:
        if label not in head.class_labels:
            raise DataError(
                f"{name}: line {line}: class label {label!r} is not declared in @classLabel "
                f"{head.class_labels}"
            )
        return head.class_labels.index(label)
    value = _as_number(label)
    if value is None or not math.isfinite(value):
        raise DataError(f"{name}: line {line}: target {label!r} is not a finite number")
    return value


def load_ts(path: PathLike) -> SequenceDataset:
    """A UCR/UEA (sktime) ``.ts`` file; the task and class names come from its header.

    Series may differ in length between instances (the dimensions of one
    instance may not). Class indices follow the order of ``@classLabel``,
    whose labels become ``label_names``; ``@targetLabel true`` means
    regression. Missing values (``?``) and timestamped series are rejected.
    """
    p = _existing(path)
    name = str(p)
    head = _TsHeader()
    task: str | None = None
    seqs: list[np.ndarray] = []
    targets: list[int | float] = []
    for line, text in _ts_lines(p):
        if task is None:
            if text.startswith("@"):  # other lines before @data are free text, e.g. "% ..."
                _ts_header_line(head, text, name, line)
            task = _ts_task(head, name) if head.saw_data else None
            continue
        dims = head.dimensions or (1 if head.univariate else None) or (
            seqs[0].shape[1] if seqs else None
        )
        series, label = _ts_instance(text, name, line, dims)
        seqs.append(series)
        targets.append(_ts_label(label, head, name, line))
    if task is None:
        raise DataError(f"{name}: no @data line; is this a .ts file?")
    if not seqs:
        raise DataError(f"{name}: the file has no data lines after @data")
    y = np.array(targets, dtype=np.int64 if task == "classification" else np.float32)
    return SequenceDataset.from_sequences(
        seqs, y, task, name=name, label_names=head.class_labels,
        feature_names=[f"dim_{d}" for d in range(seqs[0].shape[1])],
    )


# --------------------------------------------------------------------------- dispatch


def _load_npz_kw(path: Path, task: str | None, **kwargs: Any) -> SequenceDataset:
    return load_npz(path, _require_task(task, str(path)), **kwargs)


def _load_csv_kw(path: Path, task: str | None, **kwargs: Any) -> SequenceDataset:
    return load_csv(path, _require_task(task, str(path)), **kwargs)


def _load_ts_kw(path: Path, task: str | None, **kwargs: Any) -> SequenceDataset:
    if kwargs:
        raise DataError(f"{path}: options {sorted(kwargs)} do not apply to .ts files")
    ds = load_ts(path)
    if task is not None and task != ds.task:
        raise DataError(f"{path}: the file declares a {ds.task} task, but task={task!r} was asked")
    return ds


_LOADERS: dict[str, Callable[..., SequenceDataset]] = {
    ".npz": _load_npz_kw,
    ".csv": _load_csv_kw,
    ".ts": _load_ts_kw,
}


def _suffix(p: Path) -> str:
    """The file's lower-case suffix, if rnnzoo can read it."""
    suffix = p.suffix.lower()
    if suffix not in _LOADERS:
        raise DataError(
            f"{p}: unsupported file type {p.suffix or '(no suffix)'!r}; "
            f"supported: {', '.join(_LOADERS)}"
        )
    return suffix


def load_file(path: PathLike, task: str | None = None, **kwargs: Any) -> SequenceDataset:
    """Load by suffix: ``.npz`` / ``.csv`` (need ``task``) or ``.ts`` (declares its own).

    Extra keyword arguments go to the format's loader (e.g. ``id_col`` for
    csv, ``label_names`` for npz).
    """
    p = _existing(path)
    return _LOADERS[_suffix(p)](p, task, **kwargs)


def read_features(
    path: PathLike, feature_cols: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Features [N, T, F] (float32, zero past each length), lengths [N] and feature names, without labels.

    For inference. Why here and not in deploy: a file must be read the same
    way for ``predict`` as for ``train`` (same dtype rules, same errors, NaN
    padding zeroed), and nothing is ever unpickled. ``.npz`` needs ``X``
    (``y`` is not read) and has no feature names; a ``.csv`` is long format
    with ``id`` and ``time`` columns, its features picked and ordered by
    ``feature_cols`` when given (else every column but id, time and label);
    a ``.ts`` must still declare its labels, as :func:`load_ts` requires.
    The lengths' range is the caller's to check: it knows what it runs.
    """
    p = _existing(path)
    suffix = _suffix(p)
    if suffix == ".csv":
        return _csv_features(p, feature_cols)
    if suffix == ".ts":
        ds = load_ts(p)
        return ds.x, ds.lengths, ds.feature_names
    arrays = _open_npz(p)
    x = _npz_features(_npz_key(arrays, "X", str(p)), str(p))
    lengths = _npz_lengths(arrays, x, str(p))
    _zero_padding(x, lengths)
    return x, lengths, None
