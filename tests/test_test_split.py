"""The user's own train/test split: ``train(..., test_data=...)``, ``--test``, and NAME_TRAIN/NAME_TEST.ts pairs.

The property that matters most: test data is measured once, at the end, and
never reaches early stopping or the choice of weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.data.builtin import sines
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.data.pairing import archive_pair, with_test
from rnnzoo.errors import DataError

FAST = {"quiet": True, "epochs": 2, "batch_size": 16}


def _write_ts(path, ds: SequenceDataset, classes: list[str] | None = None) -> None:
    """A UCR/UEA .ts file holding ``ds`` (labels written by name, classes declared in ``classes`` order)."""
    names = ds.label_names or [str(c) for c in range(ds.output_size)]
    head = [f"@problemName {path.stem}", "@timeStamps false", "@missing false",
            f"@univariate {'true' if ds.num_features == 1 else 'false'}", f"@dimensions {ds.num_features}",
            "@equalLength false"]
    head.append(f"@classLabel true {' '.join(classes or names)}" if ds.task == "classification"
                else "@targetLabel true")
    lines = [*head, "@data"]
    for i in range(len(ds)):
        dims = [",".join(f"{v:.5f}" for v in ds.x[i, : ds.lengths[i], d]) for d in range(ds.num_features)]
        label = names[ds.y[i]] if ds.task == "classification" else f"{float(ds.y[i, 0]):.5f}"
        lines.append(":".join([*dims, label]))
    path.write_text("\n".join(lines) + "\n")


def _sines(n: int, seed: int) -> SequenceDataset:
    return sines(n=n, seed=seed, max_len=24)


def test_a_ts_pair_is_recognized_from_either_file(tmp_path) -> None:
    _write_ts(tmp_path / "Toy_TRAIN.ts", _sines(60, 0))
    _write_ts(tmp_path / "Toy_TEST.ts", _sines(30, 1))
    for given in ("Toy_TRAIN.ts", "Toy_TEST.ts"):
        assert archive_pair(tmp_path / given) == (tmp_path / "Toy_TRAIN.ts", tmp_path / "Toy_TEST.ts")
        result = rnnzoo.train("gru_classifier", str(tmp_path / given), **FAST)
        assert len(result.splits.test) == 30
        assert len(result.splits.train) + len(result.splits.val) == 60  # validation comes from TRAIN only
        assert result.meta.test_dataset == str(tmp_path / "Toy_TEST.ts")
        assert set(result.test_metrics) >= {"accuracy", "loss", "macro_f1"}
    assert archive_pair(tmp_path / "Other_TRAIN.ts") is None  # no partner: an ordinary file


def test_test_data_replaces_the_standard_split_and_is_reported_apart(tmp_path) -> None:
    _write_ts(tmp_path / "mine.ts", _sines(40, 5))
    standard = _sines(60, 0)
    standard.split = np.array(["train"] * 50 + ["test"] * 10)
    result = rnnzoo.train("gru_classifier", standard, test_data=str(tmp_path / "mine.ts"), **FAST)
    assert len(result.splits.test) == 40 and len(result.splits.train) + len(result.splits.val) == 50
    assert result.test_metrics == {k[5:]: v for k, v in result.metrics.items() if k.startswith("test_")}
    assert result.meta.metrics["test_accuracy"] == result.test_metrics["accuracy"]
    assert rnnzoo.train("gru_classifier", _sines(60, 0), **FAST).test_metrics is None


def test_test_classes_are_matched_by_name(tmp_path) -> None:
    """Two files that declare their classes in different orders still agree on every label."""
    train, test = _sines(60, 0), _sines(30, 1)
    _write_ts(tmp_path / "a.ts", train)
    _write_ts(tmp_path / "b.ts", test, classes=list(reversed(test.label_names)))
    joined = rnnzoo.train("gru_classifier", str(tmp_path / "a.ts"), test_data=str(tmp_path / "b.ts"), **FAST)
    np.testing.assert_array_equal(joined.splits.test.y, test.y)


def test_mismatched_pairs_are_a_clear_data_error() -> None:
    train = _sines(40, 0)
    other_features = SequenceDataset(train.x[:, :, :1], train.lengths, train.y, "classification", name="narrow",
                                     label_names=train.label_names)
    with pytest.raises(DataError, match=r"differ in features \(2 vs 1"):
        with_test(train, other_features)
    renamed = SequenceDataset(train.x, train.lengths, train.y, "classification", name="renamed",
                              label_names=["a", "b", "c", "d"], feature_names=train.feature_names)
    with pytest.raises(DataError, match=r"differ in classes: the test data has \['a', 'b', 'c', 'd'\]"):
        with_test(train, renamed)
    regression = SequenceDataset(train.x, train.lengths, train.y.astype(np.float32), "regression", name="reg")
    with pytest.raises(DataError, match="differ in task"):
        with_test(train, regression)
    with pytest.raises(DataError, match="differ in task"):
        rnnzoo.train("gru_classifier", train, test_data=regression, **FAST)


def test_test_data_never_reaches_selection() -> None:
    """Same training data, two very different test sets: identical history, best epoch and weights.

    Were test data used for early stopping, restore-best or the scaler, the
    scrambled test set (other labels, scaled features) would change them.
    """
    train, test = _sines(80, 0), _sines(40, 1)
    scrambled = SequenceDataset(test.x * 50 + 3, test.lengths, (test.y + 1) % 4, "classification",
                                name="scrambled", label_names=test.label_names, feature_names=test.feature_names)
    config = {"quiet": True, "epochs": 6, "patience": 2, "lr": 3e-2}
    a = rnnzoo.train("gru_classifier", train, test_data=test, **config)
    b = rnnzoo.train("gru_classifier", train, test_data=scrambled, **config)
    assert a.history == [{**r, "seconds": a.history[i]["seconds"]} for i, r in enumerate(b.history)]
    assert a.metrics["best_epoch"] == b.metrics["best_epoch"]
    for (name, wa), wb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(wa, wb), name
    assert a.test_metrics != b.test_metrics


def test_cli_train_with_test_prints_it_apart(tmp_path) -> None:
    _write_ts(tmp_path / "Toy_TRAIN.ts", _sines(40, 0))
    _write_ts(tmp_path / "held.ts", _sines(20, 1))
    args = ["train", "gru_classifier", "--data", str(tmp_path / "Toy_TRAIN.ts"), "--test", str(tmp_path / "held.ts"),
            "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "not used for selection" in out.output and "accuracy=" in out.output
    card = json.loads(CliRunner().invoke(main, [*args[:-2], "--out", str(tmp_path / "r2"), "--json"]).output)
    assert "test_accuracy" in card
    bad = CliRunner().invoke(main, ["train", "gru_classifier", "--data", "sines", "--test", "next_value", "--quiet"])
    assert bad.exit_code != 0 and "differ in task" in bad.output
