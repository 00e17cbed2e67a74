"""The bad-input catalogue (README, "Bad input and the error it gets"): one clear, named error each.

Every row asserts the exception class AND the words that tell the user what
was wrong, and where a file could be written, that nothing was.
Plugin rows live in test_plugins.py, checkpoint-file rows in test_checkpoint.py.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.data.builtin import next_value, sines
from rnnzoo.errors import (
    CheckpointError,
    DataError,
    ExportError,
    InvalidHyperparameterError,
    UnknownDatasetError,
    UnknownModelError,
)

X = np.random.default_rng(0).normal(size=(4, 5, 2)).astype(np.float32)
LENGTHS = np.array([5, 3, 2, 1])
Y = np.array([0, 1, 0, 1])


def _dataset(**change: Any) -> rnnzoo.SequenceDataset:
    fields = {"x": X, "y": Y, "lengths": LENGTHS, "task": "classification", **change}
    return rnnzoo.SequenceDataset(**fields)


def _model() -> torch.nn.Module:
    return rnnzoo.create_model("lstm_classifier", input_size=2, output_size=2)


CATALOGUE: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("nan features", lambda: _dataset(x=np.where(X > 1, np.nan, X)), DataError, "features contain NaN or inf"),
    ("inf features", lambda: _dataset(x=X * np.inf), DataError, "features contain NaN or inf"),
    ("nan targets", lambda: _dataset(y=np.array([0.0, np.nan, 1, 1]), task="regression"), DataError,
     "targets contain NaN or inf"),
    ("rank-2 features", lambda: _dataset(x=X[:, :, 0]), DataError, r"\[samples, time, features\]"),
    ("zero-length sequence", lambda: _dataset(lengths=np.array([5, 0, 2, 1])), DataError, "length 0"),
    ("length beyond the time axis", lambda: _dataset(lengths=np.array([6, 3, 2, 1])), DataError,
     "time axis holds 5"),
    ("label out of range", lambda: _dataset(y=np.array([0, -1, 0, 1])), DataError, "labels must lie in"),
    ("float class label", lambda: _dataset(y=np.array([0, 1.5, 0, 1])), DataError, "must be integers"),
    ("string class label", lambda: _dataset(y=np.array(["a", "b", "a", "b"])), DataError, "must be integers"),
    ("empty dataset", lambda: _dataset(x=X[:0], y=Y[:0], lengths=LENGTHS[:0]), DataError, "empty"),
    ("X/y size mismatch", lambda: _dataset(y=Y[:3]), DataError, "4 samples but 3 targets"),
    ("unknown model", lambda: rnnzoo.create_model("lstm_clasifier", input_size=2, output_size=2),
     UnknownModelError, "Did you mean: lstm_classifier"),
    ("unknown dataset", lambda: rnnzoo.train("lstm_classifier", "sine"), UnknownDatasetError, "Did you mean: sines"),
    ("negative hidden size", lambda: rnnzoo.create_model("gru_classifier", input_size=2, output_size=2,
                                                         hidden_size=-3), InvalidHyperparameterError, "hidden_size"),
    ("dropout 1.0", lambda: rnnzoo.create_model("gru_classifier", input_size=2, output_size=2, dropout=1.0),
     InvalidHyperparameterError, r"dropout must be a number in \[0, 1\)"),
    ("non-bool flag", lambda: rnnzoo.create_model("gru_classifier", input_size=2, output_size=2,
                                                  bidirectional="yes"), InvalidHyperparameterError, "true or false"),
    ("unknown hyperparameter", lambda: rnnzoo.create_model("gru_classifier", input_size=2, output_size=2,
                                                           hiden_size=8), InvalidHyperparameterError, "hiden_size"),
    ("misspelled train setting", lambda: rnnzoo.train("gru_classifier", "sines", epoch=3),
     InvalidHyperparameterError, "Did you mean 'epochs'"),
    ("zero epochs", lambda: rnnzoo.train("gru_classifier", "sines", epochs=0), InvalidHyperparameterError, "epochs"),
    ("zero patience", lambda: rnnzoo.train("gru_classifier", "sines", patience=0), InvalidHyperparameterError,
     "patience must be a positive int"),
    ("forward: wrong feature count", lambda: _model()(torch.randn(3, 4, 3), torch.tensor([1, 1, 1])), DataError,
     r"shape \[batch, time, 2\]"),
    ("forward: float lengths", lambda: _model()(torch.randn(3, 4, 2), torch.tensor([1.0, 1, 1])), DataError,
     "integer tensor"),
    ("forward: length 0", lambda: _model()(torch.randn(3, 4, 2), torch.tensor([0, 1, 1])), DataError,
     r"lengths must lie in \[1, 4\]"),
    ("model for other data", lambda: rnnzoo.train(rnnzoo.create_model("gru_classifier", input_size=2,
                                                                       output_size=3), sines(n=40)),
     DataError, "output_size=3 but"),
    ("per_step model on one-target data", lambda: rnnzoo.train("gru_regressor", next_value(n=40),
                                                               hparams={"per_step": True}),
     DataError, "per_step=True but"),
    ("classifier on regression data", lambda: rnnzoo.train("gru_classifier", next_value(n=40)), DataError,
     "classification model but"),
]


@pytest.mark.parametrize(("case", "call", "error", "message"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_input_gets_a_named_error(case: str, call: Callable[[], object], error: type[Exception],
                                      message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_a_failed_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(DataError):
        rnnzoo.train("gru_classifier", next_value(n=40), out_dir=str(out), quiet=True)
    assert not out.exists()


# -- resuming --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, rnnzoo.TrainResult]:
    """A run that early-stopped (patience 1, lr high enough to overshoot; 40 validation samples, enough to steer)."""
    out = tmp_path_factory.mktemp("stopped")
    result = rnnzoo.train("gru_regressor", next_value(n=200, max_len=12), epochs=40, lr=0.2, patience=1,
                          quiet=True, out_dir=str(out))
    assert len(result.history) < 40
    return out, result


def test_resuming_an_early_stopped_run_trains_nothing_more(stopped_run, tmp_path: Path) -> None:
    out, result = stopped_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    again = rnnzoo.train("gru_regressor", next_value(n=200, max_len=12), epochs=40, lr=0.2, patience=1,
                         quiet=True, out_dir=str(copy), resume=True)
    assert len(again.history) == len(result.history)
    assert again.metrics["val_loss"] == pytest.approx(result.metrics["val_loss"])


@pytest.mark.parametrize(
    ("change", "differs"),
    [({"seed": 1}, "config.seed"), ({"lr": 0.1}, "config.lr"), ({"hparams": {"hidden_size": 8}}, "hparams"),
     ({"data": "other"}, "dataset")],
)
def test_resuming_with_other_settings_is_refused(stopped_run, tmp_path: Path, change, differs) -> None:
    out, _ = stopped_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    data = next_value(n=200, max_len=12)
    if change.pop("data", None):
        data.name = "other"
    settings = {"epochs": 40, "lr": 0.2, "patience": 1, **change}
    with pytest.raises(CheckpointError, match=f"another run: {differs}"):
        rnnzoo.train("gru_regressor", data, quiet=True, out_dir=str(copy), resume=True, **settings)
    assert (copy / "last.safetensors").read_bytes() == (out / "last.safetensors").read_bytes()


# -- checkpoint headers ------------------------------------------------------------------------------

def _edit_header(src: Path, dst: Path, key: str, edit: Callable[[Any], Any]) -> None:
    raw = src.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"][key] = json.dumps(edit(json.loads(header["__metadata__"][key])))
    new = json.dumps(header).encode()
    dst.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


@pytest.mark.parametrize(
    ("key", "edit", "message"),
    [
        ("rnnzoo", lambda m: {**m, "format_version": 0}, "format_version 0 is not a valid format"),
        ("rnnzoo", lambda m: {**m, "format_version": True}, "not a valid format"),
        ("rnnzoo", lambda m: {**m, "hparams": [1, 2]}, "hparams of the wrong type"),
        ("rnnzoo", lambda m: {**m, "input_size": "2"}, "input_size of the wrong type"),
        ("rnnzoo", lambda m: {**m, "hparams": {**m["hparams"], "hidden_size": "big"}}, "cannot rebuild"),
        ("rnnzoo", lambda m: [m], "not a JSON object"),
        ("train_state", lambda s: {"__tensor__": "train.nope"}, "resume state is unreadable"),
    ],
)
def test_edited_checkpoint_headers_get_checkpoint_error(stopped_run, tmp_path: Path, key, edit, message) -> None:
    bad = tmp_path / "edited.safetensors"
    _edit_header(stopped_run[0] / "last.safetensors", bad, key, edit)
    with pytest.raises(CheckpointError, match=message):
        rnnzoo.load_checkpoint(bad)


# -- export folders ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exp") / "lstm"
    result = rnnzoo.train("lstm_classifier", sines(n=80, max_len=16), epochs=1, quiet=True)
    rnnzoo.export(result, folder, int8=False, fp16=False, data=result.splits.val)
    return folder


def test_export_refuses_to_replace_a_folder_that_is_not_an_export(exported, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an rnnzoo export folder"):
        rnnzoo.export(rnnzoo.load_checkpoint(exported / "checkpoint.safetensors"), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_re_export_replaces_the_whole_folder(exported, tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    shutil.copytree(exported, folder)
    (folder / "model.int8.onnx").write_bytes(b"stale file of an earlier export")
    rnnzoo.export(rnnzoo.load_checkpoint(exported / "checkpoint.safetensors"), folder, int8=False, fp16=False)
    assert not (folder / "model.int8.onnx").exists()
    assert rnnzoo.verify(folder)["passed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".exp.lock", "exp"]  # no staging folder left behind


def test_corrupt_onnx_with_a_matching_card_is_caught_by_the_checker(exported, tmp_path: Path) -> None:
    from rnnzoo.deploy.card import ExportCard
    from rnnzoo.exporting.exporter import write_card

    folder = tmp_path / "exp"
    shutil.copytree(exported, folder)
    raw = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(raw[: len(raw) // 2])
    card = json.loads((folder / "card.json").read_text())
    write_card(folder, ExportCard.from_json(card, "card"))  # an attacker (or a bad copy) that also fixed the hashes
    with pytest.raises(ExportError, match=r"fails onnx\.checker"):
        rnnzoo.verify(folder)
    data = tmp_path / "x.npz"
    np.savez(data, X=np.zeros((2, 5, 2), np.float32))
    with pytest.raises(ExportError, match=r"fails onnx\.checker"):
        rnnzoo.predict(folder, data)


def test_predict_refuses_an_edited_model_before_running_it(exported, tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    shutil.copytree(exported, folder)
    with open(folder / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    data = tmp_path / "x.npz"
    np.savez(data, X=np.zeros((2, 5, 2), np.float32))
    with pytest.raises(ExportError, match="sha256 differs"):
        rnnzoo.predict(folder, data)
    with pytest.raises(ExportError, match=r"no model file '\.\./model\.onnx'"):
        rnnzoo.predict(exported, data, variant="../model.onnx")


def test_predict_accepts_nan_padding_but_not_nan_inside_a_sequence(exported, tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(3, 6, 2)).astype(np.float32)
    lengths = np.array([6, 2, 4])
    padded = x.copy()
    padded[1, 2:] = np.nan
    padded[2, 4:] = np.nan
    clean = np.where(np.arange(6)[None, :, None] < lengths[:, None, None], x, 0)
    np.savez(tmp_path / "nan.npz", X=padded, lengths=lengths)
    np.savez(tmp_path / "zero.npz", X=clean, lengths=lengths)
    got = rnnzoo.predict(exported, tmp_path / "nan.npz")["outputs"]
    np.testing.assert_array_equal(got, rnnzoo.predict(exported, tmp_path / "zero.npz")["outputs"])
    padded[0, 3, 1] = np.nan
    np.savez(tmp_path / "bad.npz", X=padded, lengths=lengths)
    with pytest.raises(DataError, match="NaN or inf within the sequences"):
        rnnzoo.predict(exported, tmp_path / "bad.npz")


def test_predict_reads_a_csv_by_feature_name_without_labels(exported, tmp_path: Path) -> None:
    rows = ["id,time,noise,signal"] + [f"a,{t},{0.1 * t},{np.sin(t)}" for t in range(5)]
    rows += [f"b,{t},{-0.2 * t},{np.cos(t)}" for t in range(3)]
    (tmp_path / "shuffled.csv").write_text("\n".join(rows))
    ordered = ["id,time,signal,noise,label"] + [f"a,{t},{np.sin(t)},{0.1 * t},x" for t in range(5)]
    ordered += [f"b,{t},{np.cos(t)},{-0.2 * t},y" for t in range(3)]
    (tmp_path / "ordered.csv").write_text("\n".join(ordered))
    got = rnnzoo.predict(exported, tmp_path / "shuffled.csv")["outputs"]
    np.testing.assert_allclose(got, rnnzoo.predict(exported, tmp_path / "ordered.csv")["outputs"], atol=1e-6)
    (tmp_path / "renamed.csv").write_text("id,time,f0,f1\na,0,1,2\n")
    with pytest.raises(DataError, match=r"missing column 'signal'.*trained on feature columns \['signal', 'noise'\]"):
        rnnzoo.predict(exported, tmp_path / "renamed.csv")


def test_an_export_killed_between_its_two_renames_is_restored(exported, tmp_path: Path) -> None:
    from rnnzoo.exporting.folder import staged_folder

    shutil.copytree(exported, tmp_path / ".exp.k1ll3d.old")  # the previous export, moved aside; no "exp"
    with staged_folder(tmp_path / "exp") as stage:
        assert rnnzoo.verify(tmp_path / "exp", parity=False)["passed"]  # restored before the new one is built
        (stage / "card.json").write_text(json.dumps({"files": {}}))
    # the empty .exp.lock stays: it is how a second writer is told the folder is busy
    assert sorted(p.name for p in tmp_path.iterdir()) == [".exp.lock", "exp"]


def test_a_run_clears_temp_files_a_killed_run_left(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / ".last.safetensors.abc123.tmp").write_bytes(b"half a checkpoint")
    (out / "notes.txt").write_text("mine")
    rnnzoo.train("gru_regressor", next_value(n=40, max_len=14), epochs=1, quiet=True, out_dir=str(out))
    assert not list(out.glob(".*.tmp")) and (out / "notes.txt").exists()


def test_loading_checkpoints_exports_and_data_never_unpickles(stopped_run, exported, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    rnnzoo.load_checkpoint(stopped_run[0] / "last.safetensors")
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 5, 2), np.float32))
    rnnzoo.predict(exported, tmp_path / "x.npz")
    assert rnnzoo.verify(exported)["passed"]


def test_a_neighbours_backup_is_never_taken(exported, tmp_path: Path) -> None:
    from rnnzoo.exporting.folder import staged_folder

    shutil.copytree(exported, tmp_path / ".exp.v2.k1ll3d.old")  # export "exp.v2"'s backup, not "exp"'s
    with staged_folder(tmp_path / "exp") as stage:
        (stage / "card.json").write_text(json.dumps({"files": {}}))
    assert (tmp_path / ".exp.v2.k1ll3d.old" / "card.json").exists()


def test_a_failed_export_leaves_the_good_one_in_place(exported, tmp_path: Path, monkeypatch) -> None:
    import rnnzoo.exporting.parity
    from rnnzoo.errors import ParityError

    folder = tmp_path / "exp"
    shutil.copytree(exported, folder)
    before = (folder / "card.json").read_bytes()

    from rnnzoo.deploy.compare import Case, ParityReport

    failed = ParityReport("gru_classifier", 1e-4, 1e-3, [Case("simulated", "onnxruntime", [1], 1.0, 1.0, False)])
    monkeypatch.setattr(rnnzoo.exporting.parity, "check_parity", lambda *a, **k: failed)
    with pytest.raises(ParityError, match="is unchanged; the failed export is in"):
        rnnzoo.export(rnnzoo.load_checkpoint(exported / "checkpoint.safetensors"), folder, int8=False, fp16=False)
    assert (folder / "card.json").read_bytes() == before
    assert json.loads((tmp_path / "exp.failed" / "card.json").read_text())["parity"]["passed"] is False


def test_resume_accepts_settings_given_as_tuples(tmp_path: Path) -> None:
    data = sines(n=60, max_len=14)
    settings = {"epochs": 2, "class_weights": (1.0, 2.0, 1.0, 1.0), "quiet": True, "out_dir": str(tmp_path)}
    rnnzoo.train("gru_classifier", data, **{**settings, "epochs": 1})
    assert len(rnnzoo.train("gru_classifier", data, resume=True, **settings).history) == 2


def test_small_class_weights_do_not_shrink_the_reported_loss() -> None:
    from rnnzoo.training.metrics import MetricAccumulator

    acc = MetricAccumulator("classification", 2)
    acc.add(0.002, 0.002, torch.tensor([[1.0, 0.0]]), torch.tensor([0]), torch.tensor([3]))
    assert acc.result()["loss"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda c: c.update(files={}), None, "model.onnx: not listed"),
        (lambda c: c.update(files=["model.onnx"]), ExportError, "'files' must map file names to sha256"),
        (lambda c: c.pop("source_metadata"), ExportError, "source_metadata: rnnzoo metadata is not a JSON object"),
        (lambda c: c["parity"].update(atol=1e30), None, "card.json: its content differs from its digest"),
        (lambda c: c["source_metadata"].update(label_names=["a", "b"]), ExportError,
         "label_names has 2 names for 4 classes"),
        (lambda c: c.update(checks="fine"), ExportError, "section 'checks' is malformed"),
    ],
)
def test_an_edited_card_is_not_trusted(exported, tmp_path: Path, edit, error, message) -> None:
    folder = tmp_path / "exp"
    shutil.copytree(exported, folder)
    card = json.loads((folder / "card.json").read_text())
    edit(card)
    (folder / "card.json").write_text(json.dumps(card))
    if error is None:
        report = rnnzoo.verify(folder, parity=False)
        assert not report["passed"] and any(message in p for p in report["problems"])
    else:
        with pytest.raises(error, match=message):
            rnnzoo.verify(folder, parity=False)


def test_predict_refuses_the_streaming_graph(tmp_path: Path) -> None:
    model = rnnzoo.create_model("gru_classifier", input_size=2, output_size=2)
    rnnzoo.export(model, tmp_path / "exp", int8=False, fp16=False, streaming=True)
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 5, 2), np.float32))
    with pytest.raises(ExportError, match="streaming graph"):
        rnnzoo.predict(tmp_path / "exp", tmp_path / "x.npz", variant="model.streaming.onnx")
