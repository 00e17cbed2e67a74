"""ONNX export: folder layout, metadata, static checks, variants, and parity that can fail."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from helpers import model_variants
from onnx import numpy_helper

import rnnzoo
from rnnzoo.data.builtin import sines
from rnnzoo.deploy.card import ExportCard, content_digest
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.errors import ExportError, ParityError
from rnnzoo.exporting.parity import LONG, check_parity

SHAPES = [{}, {"bidirectional": True}, {"num_layers": 2}, {"num_layers": 2, "bidirectional": True}]


@pytest.mark.parametrize(("name", "hp"), model_variants(SHAPES))
def test_every_model_exports_with_parity(name, hp, tmp_path) -> None:
    model = rnnzoo.create_model(name, input_size=3, output_size=2, hidden_size=16, **hp)
    result = rnnzoo.export(model, tmp_path, int8=False, fp16=False)
    parity = result.card.parity
    assert parity is not None and parity.passed, parity and parity.summary
    names = {c.name for c in parity.cases}
    assert {"batch1_len1", "batch64_ragged", f"batch2_len{LONG}", "batch4_extreme_values"} <= names
    assert {c.runtime for c in parity.cases} == {"onnxruntime", "reference"}
    assert not result.card.checks.problems and result.card.passed


@pytest.mark.parametrize(("name", "hp"), model_variants([{"bidirectional": True}], per_step=True))
def test_per_step_regressors_keep_time_dynamic(name, hp, tmp_path) -> None:
    model = rnnzoo.create_model(name, input_size=2, output_size=3, per_step=True, **hp)
    result = rnnzoo.export(model, tmp_path, int8=False, fp16=False)
    assert result.card.checks.io_shapes["y"][:2] == ["batch", "time"]
    session = make_session(tmp_path / "model.onnx")
    out = run_session(session, np.ones((2, 37, 2), np.float32), np.array([37, 4]))
    assert out.shape == (2, 37, 3) and np.all(out[1, 4:] == 0)


@pytest.fixture(scope="module")
def trained_export(tmp_path_factory):
    data = sines(n=300, max_len=30)
    result = rnnzoo.train("lstm_classifier", data, epochs=6, lr=5e-3, quiet=True)
    folder = tmp_path_factory.mktemp("export") / "lstm_classifier"
    return rnnzoo.export(result, folder, data=result.splits.val), result


def test_folder_layout_and_card(trained_export) -> None:
    exp, _ = trained_export
    files = {p.relative_to(exp.folder).as_posix() for p in exp.folder.rglob("*") if p.is_file()}
    assert files == {
        "model.onnx", "model.portable.onnx", "model.int8.onnx", "model.fp16.onnx", "checkpoint.safetensors",
        "card.json",
        "test_data_set_0/input_0.pb", "test_data_set_0/input_1.pb", "test_data_set_0/output_0.pb",
    }
    card = json.loads((exp.folder / "card.json").read_text())
    assert card["rnnzoo.model"] == "lstm_classifier" and card["parity"]["passed"]
    assert set(card["files"]) == files - {"card.json"}
    assert "val_accuracy" in card["source_metadata"]["metrics"]
    assert card["checks"]["fused_nodes"]["LSTM"] == 1
    assert card["rnnzoo.exporter"] == "torch.onnx TorchScript (dynamo=False)"
    assert card["card_sha256"] == content_digest(card)
    assert ExportCard.from_json(card, "card").to_json() == card  # read back and written again: the same card


def test_metadata_props_are_in_the_onnx_file(trained_export) -> None:
    exp, _ = trained_export
    props = {p.key: p.value for p in onnx.load(str(exp.folder / "model.onnx")).metadata_props}
    assert props["rnnzoo.model"] == "lstm_classifier" and props["rnnzoo.task"] == "classification"
    assert json.loads(props["rnnzoo.label_names"]) == ["period_4", "period_6", "period_9", "period_14"]
    assert props["rnnzoo.version"] == rnnzoo.__version__ and "valid leading steps" in props["rnnzoo.input.lengths"]


def test_test_data_set_reproduces_with_onnxruntime_alone(trained_export) -> None:
    exp, _ = trained_export
    folder = exp.folder / "test_data_set_0"
    load = lambda n: numpy_helper.to_array(onnx.load_tensor(str(folder / f"{n}.pb")))  # noqa: E731
    x, lengths, y = load("input_0"), load("input_1"), load("output_0")
    assert len(set(lengths.tolist())) > 1  # a ragged batch
    got = run_session(make_session(exp.folder / "model.onnx"), x, lengths)
    np.testing.assert_allclose(got, y, atol=1e-4, rtol=1e-3)


def test_normalization_is_inside_the_graph(trained_export) -> None:
    exp, result = trained_export
    assert not np.allclose(result.model.mean.numpy(), 0)  # stats were really fitted
    val = result.splits.val
    got = run_session(make_session(exp.folder / "model.onnx"), val.x, val.lengths)
    accuracy = float(np.mean(got.argmax(1) == val.y))
    assert accuracy == pytest.approx(result.metrics["val_accuracy"], abs=1e-9)


@pytest.mark.parametrize(("variant", "max_size_ratio"), [("int8", 0.3), ("fp16", 0.6)])
def test_int8_and_fp16_variants_are_smaller_and_agree(trained_export, variant: str, max_size_ratio: float) -> None:
    """Agreement is asserted where it is exact on any CPU: a sample whose fp32 top-2 logit margin exceeds
    twice the variant's largest logit change cannot flip. Near-ties may flip (training differs slightly
    between CPUs, and one flip in 60 samples is 0.983), so the overall rate only gets a wide margin."""
    exp, result = trained_export
    info = exp.card.variants[variant]
    assert info["size_ratio"] <= max_size_ratio
    val = result.splits.val
    ref = run_session(make_session(exp.folder / "model.onnx"), val.x, val.lengths)
    got = run_session(make_session(exp.folder / info["file"]), val.x, val.lengths)
    change = float(np.max(np.abs(got - ref)))
    top2 = np.sort(ref, axis=1)[:, -2:]
    confident = (top2[:, 1] - top2[:, 0]) > 2 * change
    assert confident.mean() >= 0.8, f"only {confident.mean():.2f} of samples are clear of the variant's error"
    assert np.array_equal(got[confident].argmax(1), ref[confident].argmax(1))
    assert info["argmax_agreement"] >= 0.9


def test_gru_int8_reports_plainly_that_the_recurrent_op_is_not_quantized(tmp_path) -> None:
    model = rnnzoo.create_model("gru_classifier", input_size=3, output_size=2)
    result = rnnzoo.export(model, tmp_path, fp16=False)
    int8 = result.card.variants["int8"]
    assert int8["recurrent_ops"] == ["GRU"]


def test_parity_fails_loudly_when_the_onnx_model_is_wrong(tmp_path) -> None:
    model = rnnzoo.create_model("gru_regressor", input_size=3, output_size=2)
    rnnzoo.export(model, tmp_path, int8=False, fp16=False)
    proto = onnx.load(str(tmp_path / "model.onnx"))
    init = next(i for i in proto.graph.initializer if numpy_helper.to_array(i).ndim == 2)
    arr = numpy_helper.to_array(init).copy()
    arr[0, 0] += 0.05  # a tiny weight error, as a broken exporter might make
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(proto, str(tmp_path / "model.onnx"))
    with pytest.raises(ParityError, match="parity FAILED") as err:
        check_parity(tmp_path)
    assert {c["runtime"] for c in [c.__dict__ for c in err.value.report.cases] if not c["passed"]} == {
        "onnxruntime", "reference"}


@pytest.mark.parametrize("opset", [17, 20])
def test_opset_is_selectable(opset, tmp_path) -> None:
    model = rnnzoo.create_model("rnn_classifier", input_size=2, output_size=3)
    result = rnnzoo.export(model, tmp_path, opset=opset, int8=False, fp16=False)
    assert onnx.load(str(tmp_path / "model.onnx")).opset_import[0].version == opset
    assert result.card.passed


def test_unsupported_opset_and_source_are_refused(tmp_path) -> None:
    model = rnnzoo.create_model("rnn_classifier", input_size=2, output_size=3)
    with pytest.raises(ExportError, match="opset 12 is not supported"):
        rnnzoo.export(model, tmp_path, opset=12)
    with pytest.raises(ExportError, match="cannot export a int"):
        rnnzoo.export(3, tmp_path)


@pytest.mark.parametrize(("name", "hp"), [("lstm_classifier", {"num_layers": 2}), ("gru_regressor", {"per_step": True}),
                                          ("rnn_regressor", {})])
def test_streaming_export_chunks_equal_the_whole_sequence(name, hp, tmp_path) -> None:
    model = rnnzoo.create_model(name, input_size=3, output_size=2, **hp)
    result = rnnzoo.export(model, tmp_path, streaming=True, int8=False, fp16=False)
    stream = result.card.streaming
    assert stream is not None and stream.passed and [c.name for c in stream.cases] == [
        "chunks_of_1", "chunks_of_7", "chunks_of_25"]
    assert all(c.max_abs < 1e-5 for c in stream.cases)
    inputs = [i.name for i in onnx.load(str(tmp_path / "model.streaming.onnx")).graph.input]
    assert inputs[0] == "x" and inputs[1:] == stream.state_inputs


def test_bidirectional_models_cannot_stream(tmp_path) -> None:
    model = rnnzoo.create_model("gru_classifier", input_size=3, output_size=2, bidirectional=True)
    with pytest.raises(ExportError, match="cannot stream: a bidirectional model"):
        rnnzoo.export(model, tmp_path, streaming=True)
