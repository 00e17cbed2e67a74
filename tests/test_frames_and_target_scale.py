"""Frame stacking (``patch``) and regression target scaling: exact under padding, exported with parity, saved."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import rnnzoo
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.errors import DataError, InvalidHyperparameterError
from rnnzoo.models.builtin import auto_patch
from rnnzoo.training.checkpoint import load_checkpoint


def _model(name: str, **hp) -> torch.nn.Module:
    torch.manual_seed(0)
    return rnnzoo.create_model(name, input_size=2, output_size=3, hidden_size=8, **hp).eval()


def test_a_frame_is_k_consecutive_steps_zero_padded_past_the_length() -> None:
    model = _model("gru_classifier", patch=3)
    x = torch.randn(2, 7, 2)
    lengths = torch.tensor([7, 4])
    frames, frame_lengths = model.frames(x, lengths)
    assert frames.shape == (2, 3, 6) and frame_lengths.tolist() == [3, 2]
    want = torch.zeros(2, 9, 2)
    want[0, :7], want[1, :4] = x[0], x[1, :4]
    torch.testing.assert_close(frames, want.reshape(2, 3, 6), atol=0, rtol=0)


@pytest.mark.parametrize("name", ["rnn_classifier", "lstm_regressor", "gru_classifier"])
@pytest.mark.parametrize("hp", [{"patch": 4}, {"patch": 3, "bidirectional": True, "num_layers": 2}])
def test_padding_never_changes_a_framed_models_output(name: str, hp: dict) -> None:
    model = _model(name, **hp)
    torch.manual_seed(1)
    batch = torch.randn(4, 13, 2) * 3
    batch[1, 6:] = float("nan")  # padding may hold anything
    lengths = torch.tensor([13, 6, 1, 9])
    with torch.no_grad():
        together = model(batch, lengths)
        for i, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(model(batch[i : i + 1, :n], lengths[i : i + 1]), together[i : i + 1],
                                       atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("name", "hp"), [("lstm_classifier", {"patch": 5}),
                                          ("gru_regressor", {"patch": 3, "bidirectional": True, "num_layers": 2}),
                                          ("rnn_classifier", {"patch": 2})])
def test_framed_models_export_with_parity(name: str, hp: dict, tmp_path) -> None:
    result = rnnzoo.export(_model(name, **hp), tmp_path, int8=False, fp16=False)
    assert result.card.parity is not None and result.card.parity.passed, result.card.parity.summary
    assert {"batch1_len1", "batch64_ragged"} <= {c.name for c in result.card.parity.cases}


@pytest.mark.parametrize("name", ["lstm_classifier", "gru_regressor"])
def test_framed_models_stream_in_whole_frames(name: str, tmp_path) -> None:
    model = _model(name, patch=4, num_layers=2)
    x = torch.randn(2, 24, 2)
    with torch.no_grad():
        whole = model(x)
        state, out = model.initial_state(2), None
        for start in range(0, 24, 8):  # chunks of two frames
            out, state = model.stream(x[:, start : start + 8], state)
    torch.testing.assert_close(out, whole, atol=1e-5, rtol=1e-5)
    with pytest.raises(DataError, match="multiple of 4 steps, got 6"):
        model.stream(x[:, :6], model.initial_state(2))
    result = rnnzoo.export(model, tmp_path, streaming=True, int8=False, fp16=False, portable=False)
    stream = result.card.streaming
    assert stream is not None and stream.passed and stream.frame == 4
    assert [c.name for c in stream.cases] == ["chunks_of_4", "chunks_of_28", "chunks_of_100"]
    rows = [r for r in result.card.runtimes.rows if r.variant == "streaming" and r.passed is not None]
    assert rows and all(r.passed for r in rows), rows  # every installed runtime, fed frame by frame


def test_per_step_and_bad_patch_values_are_refused() -> None:
    with pytest.raises(InvalidHyperparameterError, match="per_step=True"):
        _model("gru_regressor", patch=2, per_step=True)
    for bad in (0, -1, 2.5, True, "big", 10_000):
        with pytest.raises(InvalidHyperparameterError, match="patch must be"):
            _model("gru_classifier", patch=bad)


def test_auto_patch_aims_at_about_32_recurrent_steps() -> None:
    def summary(median: int, per_step: bool = False) -> rnnzoo.DataSummary:
        return rnnzoo.DataSummary("classification", 40, 1, per_step, median, median)

    assert [auto_patch(summary(n)) for n in (24, 36, 150, 251, 1460)] == [1, 1, 5, 8, 46]
    assert auto_patch(summary(1460, per_step=True)) == 1
    assert _model("gru_classifier").frames is None  # "auto" without data: one step a frame


def _long_regression(n: int = 48, steps: int = 160) -> SequenceDataset:
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(int(rng.integers(steps // 2, steps)), 1)).astype(np.float32) for _ in range(n)]
    y = np.array([[1000.0 + 50.0 * float(s.mean())] for s in seqs], np.float32)  # far from 0, wide
    return SequenceDataset.from_sequences(seqs, y, "regression", name="offset")


def test_training_resolves_auto_patch_and_scales_targets(tmp_path) -> None:
    data = _long_regression()
    result = rnnzoo.train("gru_regressor", data, epochs=1, quiet=True, out_dir=str(tmp_path))
    patch = auto_patch(rnnzoo.DataSummary("regression", 0, 1, False, int(np.median(result.splits.train.lengths)), 0))
    assert patch > 1 and result.meta.hparams["patch"] == patch  # the checkpoint records the concrete value
    net = result.model
    assert net.scales_targets and 990 < float(net.target_mean) < 1010 and float(net.target_std) > 1
    # one epoch from a fresh head already predicts near the targets' mean, not near 0
    assert abs(result.history[-1]["val_rmse"]) < 5 * float(net.target_std)
    # the loss is measured in standardized units; the metrics in the targets' own
    assert result.history[-1]["train_loss"] < 10 < result.history[-1]["train_mse"]
    loaded = load_checkpoint(tmp_path / "model.safetensors")
    x, lengths = torch.from_numpy(data.x[:5]), torch.from_numpy(data.lengths[:5])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x, lengths), net.eval()(x, lengths), atol=0, rtol=0)
    export = rnnzoo.export(loaded, tmp_path / "export", int8=False, fp16=False)
    assert export.card.parity is not None and export.card.parity.passed


def test_classifiers_have_no_output_scale_in_their_graph(tmp_path) -> None:
    result = rnnzoo.train("gru_classifier", rnnzoo.load_dataset("sines"), epochs=1, quiet=True)
    assert not result.model.scales_targets and result.model.target_std.numel() == 0


def test_a_checkpoint_written_before_target_scaling_still_loads(tmp_path) -> None:
    data = _long_regression(n=24, steps=30)
    rnnzoo.train("rnn_regressor", data, epochs=1, quiet=True, out_dir=str(tmp_path))
    path = tmp_path / "model.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        header = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys() if "target_" not in k}  # noqa: SIM118
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata=header)
    loaded = load_checkpoint(old)
    assert not loaded.model.scales_targets  # unscaled outputs, as that file's model was trained
    tensors["model.target_std"] = torch.ones(7)
    save_file(tensors, str(old), metadata=header)
    with pytest.raises(rnnzoo.CheckpointError, match="wrong shape"):
        load_checkpoint(old)
