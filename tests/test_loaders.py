"""File loaders: .npz, long-format .csv and UCR/UEA .ts, good files and bad ones.

Every bad file must fail with a DataError that says what is wrong and where
(file, line, column or key), never with a numpy/csv traceback.
"""

from __future__ import annotations

import importlib.metadata as md
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnnzoo.data.loaders import load_csv, load_file, load_npz, load_ts, read_features
from rnnzoo.errors import DataError

# --------------------------------------------------------------------------- .npz


def _npz(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)
    return path


def _ragged_x() -> np.ndarray:
    return np.array([np.zeros((2, 1)), np.zeros((3, 1))], dtype=object)


def test_npz_round_trip_classification(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 2)).astype(np.float32)
    lengths = np.array([5, 2, 3])
    path = _npz(
        tmp_path / "d.npz", X=x, y=np.array([1, 0, 2]), lengths=lengths,
        label_names=np.array(["cat", "dog", "eel"]),
    )
    ds = load_npz(path, "classification")
    assert ds.name == str(path)
    assert ds.x.dtype == np.float32 and ds.x.shape == (3, 5, 2)
    for i, n in enumerate(lengths):
        np.testing.assert_array_equal(ds.x[i, :n], x[i, :n])
        assert not ds.x[i, n:].any()  # padding is zeroed
    np.testing.assert_array_equal(ds.lengths, lengths)
    assert ds.lengths.dtype == np.int64
    np.testing.assert_array_equal(ds.y, [1, 0, 2])
    assert ds.label_names == ["cat", "dog", "eel"] and ds.output_size == 3


def test_npz_2d_x_without_lengths_is_one_feature_all_steps_valid(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    ds = load_npz(_npz(tmp_path / "d.npz", X=x, y=np.array([0.5, 1.5, 2.5])), "regression")
    assert ds.x.shape == (3, 4, 1)
    np.testing.assert_array_equal(ds.x[..., 0], x)
    np.testing.assert_array_equal(ds.lengths, [4, 4, 4])
    assert ds.y.shape == (3, 1) and not ds.per_step
    np.testing.assert_allclose(ds.y[:, 0], [0.5, 1.5, 2.5])


def test_npz_per_step_targets_with_nan_padding(tmp_path: Path) -> None:
    x = np.full((2, 4, 1), np.nan)
    x[0, :4, 0] = [1, 2, 3, 4]
    x[1, :2, 0] = [5, 6]
    y = np.full((2, 4, 1), np.nan)
    y[0, :, 0] = [10, 20, 30, 40]
    y[1, :2, 0] = [50, 60]
    path = _npz(tmp_path / "d.npz", X=x, y=y, lengths=np.array([4, 2]))
    ds = load_npz(path, "regression")
    assert ds.per_step and ds.y.shape == (2, 4, 1) and ds.y.dtype == np.float32
    np.testing.assert_array_equal(ds.x[:, :, 0], [[1, 2, 3, 4], [5, 6, 0, 0]])
    np.testing.assert_array_equal(ds.y[:, :, 0], [[10, 20, 30, 40], [50, 60, 0, 0]])


def test_npz_string_labels_map_to_sorted_or_given_names(tmp_path: Path) -> None:
    path = _npz(tmp_path / "d.npz", X=np.zeros((3, 2)), y=np.array(["dog", "cat", "dog"]))
    ds = load_npz(path, "classification")
    assert ds.label_names == ["cat", "dog"]
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    ds = load_npz(path, "classification", label_names=["dog", "cat", "eel"])
    assert ds.label_names == ["dog", "cat", "eel"] and ds.output_size == 3
    np.testing.assert_array_equal(ds.y, [0, 1, 0])


def _write_pickle(path: Path) -> Path:
    path.write_bytes(pickle.dumps({"X": [[1.0], [2.0, 3.0]], "y": [0, 1]}))
    return path


def _write_npy(path: Path) -> Path:
    with path.open("wb") as fh:
        np.save(fh, np.zeros((2, 3)))
    return path


_X = np.zeros((3, 4, 2))
_NAN_X = _X.copy()
_NAN_X[1, 2, 0] = np.nan
_INF_X = _X.copy()
_INF_X[2, 0, 1] = np.inf
_Y3 = np.array([0, 1, 1])

BAD_NPZ: list[tuple[str, Callable[[Path], Path], str, str]] = [
    ("nan", lambda p: _npz(p, X=_NAN_X, y=_Y3), "classification",
     r"features contain NaN or inf \(first at sample 1, step 2\)"),
    ("inf", lambda p: _npz(p, X=_INF_X, y=_Y3), "classification",
     r"features contain NaN or inf \(first at sample 2, step 0\)"),
    ("string features", lambda p: _npz(p, X=np.array([["a", "b"], ["c", "d"]]), y=_Y3[:2]),
     "classification", "X must be a numeric array, got dtype <U1"),
    ("ragged object X", lambda p: _npz(p, X=_ragged_x(), y=_Y3[:2]), "classification",
     "ragged arrays must be padded .* `lengths`"),
    ("pickle file", _write_pickle, "classification", "never unpickles"),
    ("npy not npz", _write_npy, "classification", "single .npy array, not a .npz archive"),
    ("label out of range", lambda p: _npz(p, X=_X, y=np.array([0, 1, 2]),
     label_names=np.array(["a", "b"])), "classification", r"labels must lie in \[0, 1\], got \[0, 2\]"),
    ("negative label", lambda p: _npz(p, X=_X, y=np.array([0, -1, 1])), "classification",
     r"labels must lie in \[0, 1\], got \[-1, 1\]"),
    ("non-integer float labels", lambda p: _npz(p, X=_X, y=np.array([0.0, 0.5, 1.0])),
     "classification", "class labels must be integers 0..K-1"),
    ("string label not in names", lambda p: _npz(p, X=_X, y=np.array(["a", "b", "zebra"]),
     label_names=np.array(["a", "b"])), "classification", r"labels \['zebra'\] are not in label_names"),
    ("empty", lambda p: _npz(p, X=np.zeros((0, 4, 2)), y=np.zeros(0, dtype=int)), "classification",
     "the dataset is empty"),
    ("x/y size mismatch", lambda p: _npz(p, X=_X, y=np.array([0, 1])), "classification",
     "3 samples but 2 targets"),
    ("length beyond time axis", lambda p: _npz(p, X=_X, y=_Y3, lengths=np.array([4, 9, 1])),
     "classification", "sample 1 has length 9 but the time axis holds 4"),
    ("length zero", lambda p: _npz(p, X=_X, y=_Y3, lengths=np.array([4, 2, 0])), "classification",
     "sample 2 has length 0; every sequence needs >= 1 step"),
    ("lengths wrong shape", lambda p: _npz(p, X=_X, y=_Y3, lengths=np.array([4, 2])),
     "classification", r"lengths must have shape \(3,\)"),
    ("missing y", lambda p: _npz(p, X=_X, lengths=np.array([1, 2, 3])), "classification",
     r"missing key 'y' \(keys in the file: \['X', 'lengths'\]\)"),
    ("missing X", lambda p: _npz(p, x=_X, y=_Y3), "classification", "missing key 'X'"),
    ("4-d X", lambda p: _npz(p, X=np.zeros((3, 4, 2, 1)), y=_Y3), "classification",
     r"X must be \[N, T, F\] or \[N, T\], got shape \(3, 4, 2, 1\)"),
    ("nan target", lambda p: _npz(p, X=_X, y=np.array([1.0, np.nan, 2.0])), "regression",
     "targets contain NaN or inf"),
    ("per-step target steps", lambda p: _npz(p, X=_X, y=np.zeros((3, 2, 1))), "regression",
     "per-step targets have 2 steps, x has 4"),
    ("bad task", lambda p: _npz(p, X=_X, y=_Y3), "forecasting", "task must be one of"),
]


@pytest.mark.parametrize(("make", "task", "message"), [c[1:] for c in BAD_NPZ],
                         ids=[c[0] for c in BAD_NPZ])
def test_bad_npz(tmp_path: Path, make: Callable[[Path], Path], task: str, message: str) -> None:
    path = make(tmp_path / "bad.npz")
    with pytest.raises(DataError, match=message) as info:
        load_npz(path, task)
    assert str(info.value).startswith(str(path))  # every message names the file


def test_corrupt_npz(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(DataError, match=r"cannot read as a \.npz archive"):
        load_npz(path, "classification")


# --------------------------------------------------------------------------- .csv


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SHUFFLED = """\
id,time,a,b,label
s2,1,20,21,dog
s1,2,12,13,cat
s1,0,10,11,cat
s2,0,30,31,dog

s1,1,14,15,cat
s3,0,40,41,cat
"""


def test_csv_round_trip_sorts_time_and_keeps_first_appearance_order(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", SHUFFLED)
    ds = load_csv(path, "classification")
    assert ds.name == str(path)
    assert ds.feature_names == ["a", "b"] and ds.label_names == ["cat", "dog"]
    np.testing.assert_array_equal(ds.lengths, [2, 3, 1])  # s2, s1, s3
    np.testing.assert_array_equal(ds.y, [1, 0, 0])
    np.testing.assert_array_equal(ds.x[0, :2], [[30, 31], [20, 21]])
    np.testing.assert_array_equal(ds.x[1], [[10, 11], [14, 15], [12, 13]])
    np.testing.assert_array_equal(ds.x[2, :1], [[40, 41]])
    assert not ds.x[0, 2:].any() and not ds.x[2, 1:].any()


def test_csv_custom_columns_bom_and_feature_subset(tmp_path: Path) -> None:
    text = "\ufeffseq,t,noise,v,cls\n7,0.5,9,1.5,0\n7,0.25,9,2.5,0\n8,0,9,3.5,1\n"
    path = _csv(tmp_path / "d.csv", text)
    ds = load_csv(path, "classification", id_col="seq", time_col="t", label_col="cls",
                  feature_cols=["v"])
    assert ds.feature_names == ["v"] and ds.num_features == 1
    np.testing.assert_array_equal(ds.x[:, :, 0], [[2.5, 1.5], [3.5, 0]])
    np.testing.assert_array_equal(ds.y, [0, 1])
    assert ds.label_names is None  # already 0..K-1


def test_csv_numeric_labels_not_0_to_k_are_mapped_in_numeric_order(tmp_path: Path) -> None:
    text = "id,time,f,label\na,0,1,10\nb,0,2,9\nc,0,3,10.0\nd,0,4,2\n"
    ds = load_csv(_csv(tmp_path / "d.csv", text), "classification")
    assert ds.label_names == ["2", "9", "10"]
    np.testing.assert_array_equal(ds.y, [2, 1, 2, 0])


def test_csv_sequence_to_one_regression(tmp_path: Path) -> None:
    text = "id,time,f,label\na,0,1,0.5\na,1,2,0.5\nb,0,3,-1.25\n"
    ds = load_csv(_csv(tmp_path / "d.csv", text), "regression")
    assert ds.y.shape == (2, 1) and ds.y.dtype == np.float32 and not ds.per_step
    np.testing.assert_allclose(ds.y[:, 0], [0.5, -1.25])


def test_csv_per_step_regression(tmp_path: Path) -> None:
    text = "id,time,f,label\na,1,2,20\na,0,1,10\nb,0,3,30\n"
    ds = load_csv(_csv(tmp_path / "d.csv", text), "regression", per_step=True)
    assert ds.per_step and ds.y.shape == (2, 2, 1)
    np.testing.assert_array_equal(ds.y[:, :, 0], [[10, 20], [30, 0]])
    np.testing.assert_array_equal(ds.x[:, :, 0], [[1, 2], [3, 0]])


HEADER = "id,time,a,label\n"
BAD_CSV: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("string feature", HEADER + "s,0,1,x\ns,1,abc,x\n", "classification", {},
     r"line 3, column 'a': 'abc' is not a number"),
    ("nan feature", HEADER + "s,0,nan,x\n", "classification", {},
     r"line 2, column 'a': 'nan' is NaN or inf"),
    ("inf feature", HEADER + "s,0,1,x\nt,0,-inf,y\n", "classification", {},
     r"line 3, column 'a': '-inf' is NaN or inf"),
    ("empty cell", HEADER + "s,0,,x\n", "classification", {}, r"line 2, column 'a': '' is not a number"),
    ("non-numeric time", HEADER + "s,noon,1,x\n", "classification", {},
     r"line 2, column 'time': 'noon' is not a number"),
    ("missing label column", "id,time,a\ns,0,1\n", "classification", {}, "missing column 'label'"),
    ("missing feature column", HEADER + "s,0,1,x\n", "classification", {"feature_cols": ["b"]},
     "missing column 'b'"),
    ("no feature columns", "id,time,label\ns,0,x\n", "classification", {}, "no feature columns"),
    ("empty file", "", "classification", {}, "the file is empty"),
    ("header only", HEADER + "\n", "classification", {}, "has a header but no data rows"),
    ("inconsistent label", HEADER + "s1,0,1,a\ns1,1,2,b\n", "classification", {},
     "id 's1' has label 'a' at line 2 but 'b' at line 3"),
    ("inconsistent regression target", HEADER + "s1,0,1,0.5\ns1,1,2,0.7\n", "regression", {},
     "id 's1' has label '0.5'"),
    ("non-integer class labels", HEADER + "s,0,1,0.5\nt,0,1,1\n", "classification", {},
     "class label '0.5' is not an integer; use task='regression'"),
    ("one class", HEADER + "s,0,1,x\nt,0,1,x\n", "classification", {}, "at least 2 classes, got 1"),
    ("duplicate time", HEADER + "s,1,1,x\ns,1.0,2,x\n", "classification", {},
     r"id 's' has two rows at time 1 \(lines 2 and 3\)"),
    ("short row", HEADER + "s,0,1,x\ns,1\n", "classification", {},
     "line 3 has 2 fields, the header has 4"),
    ("empty id", HEADER + ",0,1,x\n", "classification", {}, "line 2: column 'id' is empty"),
    ("empty label", HEADER + "s,0,1,\n", "classification", {}, "line 2: column 'label' is empty"),
    ("duplicate columns", "id,time,a,a,label\ns,0,1,1,x\n", "classification", {},
     r"duplicate column names \['a'\]"),
    ("per-step classification", HEADER + "s,0,1,x\n", "classification", {"per_step": True},
     "per_step targets need task='regression'"),
    ("non-numeric per-step target", HEADER + "s,0,1,1\ns,1,1,high\n", "regression",
     {"per_step": True}, r"line 3, column 'label': 'high' is not a number"),
]


@pytest.mark.parametrize(("text", "task", "kwargs", "message"), [c[1:] for c in BAD_CSV],
                         ids=[c[0] for c in BAD_CSV])
def test_bad_csv(tmp_path: Path, text: str, task: str, kwargs: dict[str, Any], message: str) -> None:
    path = _csv(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=message) as info:
        load_csv(path, task, **kwargs)
    assert str(info.value).startswith(str(path))


# --------------------------------------------------------------------------- .ts

GOOD_TS = """\
# a comment
% free text before @data is ignored, as sktime's own reader does
@problemName Toy
@timestamps false
@univariate false
@dimensions 2
@equallength false
@classLabel true up down
@data
1,2,3:4,5,6:down

0.5,1.5:-1,-2:up
7:8:down
"""


def test_ts_variable_length_multivariate(tmp_path: Path) -> None:
    path = _csv(tmp_path / "toy.ts", GOOD_TS)
    ds = load_ts(path)
    assert ds.task == "classification" and ds.name == str(path)
    assert ds.label_names == ["up", "down"]  # declaration order, not sorted
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    np.testing.assert_array_equal(ds.lengths, [3, 2, 1])
    assert ds.x.shape == (3, 3, 2) and ds.feature_names == ["dim_0", "dim_1"]
    np.testing.assert_array_equal(ds.x[0], [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(ds.x[1], [[0.5, -1], [1.5, -2], [0, 0]])
    np.testing.assert_array_equal(ds.x[2, 0], [7, 8])


def test_ts_regression_target(tmp_path: Path) -> None:
    text = "@problemName R\n@univariate true\n@targetLabel true\n@data\n1,2,3:0.25\n4,5:-2\n"
    ds = load_ts(_csv(tmp_path / "r.ts", text))
    assert ds.task == "regression" and ds.label_names is None
    np.testing.assert_allclose(ds.y[:, 0], [0.25, -2])
    np.testing.assert_array_equal(ds.lengths, [3, 2])
    np.testing.assert_array_equal(ds.x[:, :, 0], [[1, 2, 3], [4, 5, 0]])


def test_ts_japanese_vowels_real_file() -> None:
    try:
        dist = md.distribution("sktime")
    except md.PackageNotFoundError:
        pytest.skip("sktime is not installed")
    path = Path(str(dist.locate_file("sktime/datasets/data/JapaneseVowels/JapaneseVowels_TRAIN.ts")))
    if not path.is_file():
        pytest.skip("this sktime wheel does not bundle JapaneseVowels")
    ds = load_file(path)
    assert ds.task == "classification" and len(ds) == 270 and ds.num_features == 12
    assert ds.label_names == [str(i) for i in range(1, 10)]
    np.testing.assert_array_equal(np.bincount(ds.y), [30] * 9)  # 30 utterances per speaker
    assert ds.lengths.min() >= 7 and ds.lengths.max() <= 29 and ds.x.shape[1] == ds.lengths.max()
    # Cross-check the first instance against an independent parse of its data line.
    lines = path.read_text().splitlines()
    first = lines[lines.index("@data") + 1]
    *dims, label = first.split(":")
    expected = np.array([[float(v) for v in d.split(",")] for d in dims], dtype=np.float32).T
    assert ds.lengths[0] == len(expected) and ds.label_names[ds.y[0]] == label
    np.testing.assert_array_equal(ds.x[0, : len(expected)], expected)
    assert ds.x[0, 0, 0] == np.float32(1.860936)


HEAD = "@problemName B\n@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n"
BAD_TS: list[tuple[str, str, str]] = [
    ("missing value", HEAD + "1,2:3,4:a\n1,?,3:4,5,6:b\n", r"line 7, dimension 0: missing value '\?'"),
    ("dimension lengths differ", HEAD + "1,2,3:4,5:a\n",
     r"line 6: dimensions have different lengths \[3, 2\]"),
    ("undeclared label", HEAD + "1:2:c\n", r"class label 'c' is not declared in @classLabel \['a', 'b'\]"),
    ("wrong dimension count", HEAD + "1:2:3:a\n", "line 6 has 3 dimensions, expected 2"),
    ("not a number", HEAD + "1,x:2,3:a\n", "line 6, dimension 0: 'x' is not a number"),
    ("nan value", HEAD + "1,NaN:2,3:a\n", "line 6, dimension 0: NaN or inf value"),
    ("no labels declared", "@univariate true\n@classLabel false\n@data\n1,2,3\n",
     r"declares no labels \(@classLabel true \.\.\. or @targetLabel true\)"),
    ("both label kinds", "@classLabel true a b\n@targetLabel true\n@data\n1:a\n",
     "both @classLabel true and @targetLabel true"),
    ("no @data", "@problemName X\n@classLabel true a b\n1:a\n", "no @data line"),
    ("no data lines", HEAD + "# nothing\n", "no data lines after @data"),
    ("empty file", "", "no @data line"),
    ("timestamps", "@timeStamps true\n@classLabel true a b\n@data\n(0,1),(1,2):a\n", "timestamped"),
    ("class labels missing", "@classLabel true\n@data\n1:a\n", "needs distinct class labels"),
    ("bad regression target", "@targetLabel true\n@data\n1,2:high\n",
     "line 3: target 'high' is not a finite number"),
    ("one class declared", "@classLabel true a\n@data\n1:a\n2:a\n", "at least 2 classes, got 1"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in BAD_TS], ids=[c[0] for c in BAD_TS])
def test_bad_ts(tmp_path: Path, text: str, message: str) -> None:
    path = _csv(tmp_path / "bad.ts", text)
    with pytest.raises(DataError, match=message) as info:
        load_ts(path)
    assert str(info.value).startswith(str(path))


# --------------------------------------------------------------------------- load_file


def test_load_file_dispatches_by_suffix(tmp_path: Path) -> None:
    csv_path = _csv(tmp_path / "d.CSV", "seq,time,f,label\na,0,1,x\nb,0,2,y\n")
    ds = load_file(csv_path, "classification", id_col="seq")
    assert ds.label_names == ["x", "y"] and len(ds) == 2
    npz_path = _npz(tmp_path / "d.npz", X=np.ones((2, 3)), y=np.array(["b", "a"]))
    ds = load_file(npz_path, task="classification", label_names=["b", "a"])
    np.testing.assert_array_equal(ds.y, [0, 1])
    ts_path = _csv(tmp_path / "d.ts", GOOD_TS)
    assert load_file(ts_path).task == "classification"
    assert load_file(ts_path, task="classification").label_names == ["up", "down"]


def test_load_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=f"^file not found: {re.escape(str(missing))}$"):
        load_file(missing, "classification")
    for loader in (load_npz, load_csv):
        with pytest.raises(DataError, match="file not found"):
            loader(tmp_path / "nope", "classification")
    with pytest.raises(DataError, match="file not found"):
        load_ts(tmp_path / "nope.ts")
    with pytest.raises(DataError, match="not a regular file"):
        load_file(tmp_path, "classification")
    txt = _csv(tmp_path / "d.txt", "1,2\n")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'; supported: \.npz, \.csv, \.ts"):
        load_file(txt, "classification")
    csv_path = _csv(tmp_path / "d.csv", "id,time,f,label\na,0,1,x\nb,0,2,y\n")
    with pytest.raises(DataError, match="pass task= one of"):
        load_file(csv_path)
    npz_path = _npz(tmp_path / "d.npz", X=np.ones((2, 3)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="pass task= one of"):
        load_file(npz_path)
    ts_path = _csv(tmp_path / "d.ts", GOOD_TS)
    with pytest.raises(DataError, match="declares a classification task, but task='regression'"):
        load_file(ts_path, task="regression")
    with pytest.raises(DataError, match=r"options \['id_col'\] do not apply to .ts files"):
        load_file(ts_path, id_col="seq")


# --------------------------------------------------------------------------- read_features (inference)


def test_read_features_reads_each_format_without_labels(tmp_path: Path) -> None:
    x = np.arange(24, dtype=np.float64).reshape(3, 4, 2)
    x[1, 2:] = np.nan  # NaN padding is zeroed, as in training
    got_x, lengths, names = read_features(_npz(tmp_path / "d.npz", X=x, lengths=np.array([4.0, 2.0, 4.0])))
    assert got_x.dtype == np.float32 and lengths.dtype == np.int64 and names is None
    np.testing.assert_array_equal(got_x[1, 2:], 0)
    np.testing.assert_array_equal(lengths, [4, 2, 4])
    got_x, lengths, names = read_features(_npz(tmp_path / "d2.npz", X=np.ones((2, 3))))  # 2-D: one feature
    assert got_x.shape == (2, 3, 1) and lengths.tolist() == [3, 3]
    got_x, lengths, names = read_features(_csv(tmp_path / "d.csv", SHUFFLED), ["b", "a"])
    assert names == ["b", "a"] and lengths.tolist() == [2, 3, 1] and got_x[1, 0].tolist() == [11, 10]
    got_x, lengths, names = read_features(_csv(tmp_path / "d.ts", GOOD_TS))
    assert names == ["dim_0", "dim_1"] and lengths.tolist() == [3, 2, 1]


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.ones((2, 3, 1), dtype=np.complex64), "X must be a numeric array, got dtype complex64"),
        (np.ones((2, 3, 1), dtype=bool), "X must be a numeric array, got dtype bool"),
        (np.full((2, 3), np.datetime64("2024-01-01")), r"X must be a numeric array, got dtype datetime64\[D\]"),
        (np.array([["a", "b"], ["c", "d"]]), "X must be a numeric array, got dtype <U1"),
    ],
    ids=["complex", "bool", "datetime", "string"],
)
def test_read_features_refuses_what_training_refuses(tmp_path: Path, x: np.ndarray, message: str) -> None:
    path = _npz(tmp_path / "bad.npz", X=x, y=np.zeros(len(x)))
    for read in (lambda: read_features(path), lambda: load_npz(path, "regression")):
        with pytest.raises(DataError, match=message):
            read()


def test_read_features_errors_are_one_line_data_errors(tmp_path: Path) -> None:
    corrupt = tmp_path / "bad.npz"
    corrupt.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(DataError, match=r"cannot read as a \.npz archive"):
        read_features(corrupt)
    with pytest.raises(DataError, match="missing key 'X'"):
        read_features(_npz(tmp_path / "nox.npz", x=np.ones((2, 3))))
    with pytest.raises(DataError, match=r"lengths must be integers .* got dtype float64"):
        read_features(_npz(tmp_path / "frac.npz", X=np.ones((2, 3)), lengths=np.array([1.5, 2.0])))
    with pytest.raises(DataError, match="lengths must be integers"):
        load_npz(_npz(tmp_path / "frac2.npz", X=np.ones((2, 3)), y=np.zeros(2), lengths=np.array([1.5, 2])),
                 "regression")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        read_features(_csv(tmp_path / "d.txt", "1,2\n"))
    with pytest.raises(DataError, match="file not found"):
        read_features(tmp_path / "nope.npz")
