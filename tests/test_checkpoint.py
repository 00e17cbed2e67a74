"""Checkpoints rebuild the model from the file alone, and refuse bad files clearly."""

from __future__ import annotations

import json
import struct

import pytest
import torch

import rnnzoo
from rnnzoo.data.builtin import sines
from rnnzoo.errors import CheckpointError
from rnnzoo.training.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = rnnzoo.train("lstm_classifier", sines(n=120, max_len=20), epochs=1, quiet=True,
                          out_dir=str(out), hparams={"bidirectional": True})
    return result, out / "model.safetensors"


def test_round_trip_gives_the_same_outputs(trained) -> None:
    result, path = trained
    ckpt = rnnzoo.load_checkpoint(path)
    x, lengths = torch.randn(6, 20, 2) * 3, torch.tensor([20, 3, 1, 7, 19, 12])
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(x, lengths), result.model(x, lengths), atol=0, rtol=0)
    meta = ckpt.meta
    assert meta.model == "lstm_classifier" and meta.task == "classification"
    assert meta.label_names == ("period_4", "period_6", "period_9", "period_14")
    assert meta.plugin.distribution == "rnnzoo" and meta.versions["torch"] == torch.__version__
    assert meta.hparams["bidirectional"] is True and "val_accuracy" in meta.metrics
    assert meta.config["epochs"] == 1
    assert meta == result.meta and type(meta).from_json(meta.to_json(), "x") == meta  # written and read the same


def _rewrite_header(src, dst, edit) -> None:
    """Edit the JSON header of a safetensors file, keeping it a valid file otherwise."""
    raw = src.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    new = json.dumps(header).encode()
    dst.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def _edit_meta(fn):
    def edit(header):
        meta = json.loads(header["__metadata__"]["rnnzoo"])
        fn(meta)
        header["__metadata__"]["rnnzoo"] = json.dumps(meta)
    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_edit_meta(lambda m: m.pop("hparams")), "metadata is missing hparams"),
        (_edit_meta(lambda m: m.update(format_version=99)), "format 99.*Upgrade rnnzoo"),
        (_edit_meta(lambda m: m.update(model="no_such_model")), "cannot rebuild model 'no_such_model'"),
        (_edit_meta(lambda m: m.update(model="gru_classifier")), "weights do not fit"),
        (_edit_meta(lambda m: m["hparams"].update(hidden_size=32)), "wrong shape"),
        (lambda h: h["__metadata__"].pop("rnnzoo"), "no valid rnnzoo metadata"),
    ],
)
def test_tampered_checkpoints_are_refused(trained, tmp_path, edit, message) -> None:
    bad = tmp_path / "bad.safetensors"
    _rewrite_header(trained[1], bad, edit)
    with pytest.raises(CheckpointError, match=message):
        rnnzoo.load_checkpoint(bad)


def test_truncated_garbage_and_missing_files_are_refused(trained, tmp_path) -> None:
    raw = trained[1].read_bytes()
    for name, content in (("trunc", raw[: len(raw) // 2]), ("garbage", b"\x80\x04pickle!"), ("empty", b"")):
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            rnnzoo.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        rnnzoo.load_checkpoint(tmp_path / "nope.safetensors")


def test_failed_write_leaves_the_previous_checkpoint_intact(trained, tmp_path, monkeypatch) -> None:
    import safetensors.torch

    result, path = trained
    target = tmp_path / "model.safetensors"
    target.write_bytes(path.read_bytes())
    before = target.read_bytes()

    def half_then_fail(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(before[: len(before) // 3])
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, result.model, result.meta)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temp file left
