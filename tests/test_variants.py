"""int8 weight-only variant: size, what runs, parity with its own dequantized weights, accuracy."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

import rnnzoo
from rnnzoo.data.builtin import sines
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.exporting.graph import all_graphs, all_nodes, branch
from rnnzoo.exporting.graph_checks import portability_problems
from rnnzoo.exporting.variants import (
    FP16_FILE,
    INT8_FILE,
    _to_fp16_weights,
    dequantize_rows,
    dequantized_float_model,
    quantize_int8_weights,
    quantize_rows,
)

BUILTINS = ["rnn_classifier", "rnn_regressor", "lstm_classifier", "lstm_regressor", "gru_classifier",
            "gru_regressor"]


def _inputs(batch: int = 3, time: int = 9, features: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(batch, time, features)).astype(np.float32), np.array([9, 4, 1][:batch])


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models and batches: one torch thread is the fastest, and by far on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The six built-ins at their default hidden size 64, 10 features, 4 outputs, int8 through export()."""
    out = {}
    for name in BUILTINS:
        folder = tmp_path_factory.mktemp(name)
        model = rnnzoo.create_model(name, input_size=10, output_size=4)
        out[name] = rnnzoo.export(model, folder, fp16=False, validate=False)
    return out


@pytest.mark.parametrize("name", BUILTINS)
def test_int8_is_at_most_0_3x_and_every_large_weight_is_int8(exports, name) -> None:
    exp = exports[name]
    int8 = exp.card.variants["int8"]
    assert int8["size_ratio"] <= 0.3
    assert int8["method"] == "weight_only_int8" and int8["compute"].startswith("float32")
    proto = onnx.load(str(exp.folder / INT8_FILE))
    scales = {n.input[1] for n in proto.graph.node if n.op_type == "Mul"}
    big_floats = [i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT
                  and numpy_helper.to_array(i).size >= 16 and i.name not in scales]
    assert not big_floats
    recurrent = name.split("_")[0].upper()
    assert int8["recurrent_ops"] == [recurrent]
    assert any(recurrent in q["used_by"] for q in int8["quantized"])
    assert any(q["used_by"] == ["Gemm"] for q in int8["quantized"])  # the linear head too
    if name.endswith("regressor"):
        assert int8["rel_error_vs_fp32"] < 0.02
    else:
        assert int8["argmax_agreement"] >= 0.95  # untrained, random inputs: near-tied logits


@pytest.mark.parametrize("name", BUILTINS)
def test_int8_matches_its_dequantized_float_model_in_both_runtimes(exports, name) -> None:
    """The file computes exactly float32(q) * scale: same outputs as the numpy-dequantized weights."""
    folder = exports[name].folder
    dequant = dequantized_float_model(folder / INT8_FILE)
    assert not any(n.op_type == "Cast" for n in dequant.graph.node)
    x, lengths = _inputs()
    feeds = {"x": x, "lengths": lengths.astype(np.int64)}
    want = ort.InferenceSession(dequant.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got_ort = run_session(make_session(folder / INT8_FILE), x, lengths)
    got_ref = ReferenceEvaluator(str(folder / INT8_FILE)).run(None, feeds)[0]  # type: ignore[index]
    np.testing.assert_allclose(got_ort, want, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(got_ref, want, atol=1e-5, rtol=1e-4)
    fp32 = run_session(make_session(folder / "model.onnx"), x, lengths)
    assert np.max(np.abs(got_ort - fp32)) < 0.05 * np.max(np.abs(fp32)) + 1e-3  # close, not equal: it is int8


def test_onnxruntime_folds_the_dequantization_so_the_session_runs_the_float_graph(exports, tmp_path) -> None:
    """Why latency equals float32: after session creation no Cast/Mul on int8 weights is left."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(exports["gru_classifier"].folder / INT8_FILE), opts, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    assert not [n.op_type for n in optimized.graph.node if n.op_type in ("Cast", "Mul", "DequantizeLinear")]
    assert not [i.name for i in optimized.graph.initializer if i.data_type == onnx.TensorProto.INT8]


def test_int8_file_keeps_io_names_and_metadata(exports) -> None:
    folder = exports["lstm_regressor"].folder
    base, int8 = onnx.load(str(folder / "model.onnx")), onnx.load(str(folder / INT8_FILE))
    assert [i.name for i in int8.graph.input] == ["x", "lengths"] and [o.name for o in int8.graph.output] == ["y"]
    assert {p.key: p.value for p in int8.metadata_props} == {p.key: p.value for p in base.metadata_props}
    onnx.checker.check_model(int8, full_check=True)


def test_int8_of_a_trained_classifier_agrees_on_at_least_99_percent(tmp_path) -> None:
    result = rnnzoo.train("gru_classifier", sines(n=400, max_len=30), epochs=8, lr=1e-2, quiet=True)
    assert result.metrics["val_accuracy"] > 0.5  # really trained: confident, structured logits
    held_out = sines(n=400, seed=1, max_len=30)
    exp = rnnzoo.export(result, tmp_path, fp16=False, validate=False, data=held_out)
    int8 = exp.card.variants["int8"]
    assert int8["argmax_agreement"] >= 0.99 and int8["size_ratio"] < 0.35  # hidden 64, 2 features


@pytest.mark.parametrize("hp", [{"hidden_size": 256}, {"num_layers": 2, "bidirectional": True}])
def test_int8_larger_and_stacked_models(hp, tmp_path) -> None:
    model = rnnzoo.create_model("lstm_regressor", input_size=10, output_size=4, **hp)
    int8 = rnnzoo.export(model, tmp_path, fp16=False, validate=False).card.variants["int8"]
    assert int8["size_ratio"] <= 0.3 and int8["scales"] == "per_row"
    assert int8["max_abs_diff_vs_fp32"] < 0.01
    biases = [q for q in int8["quantized"] if len(q["shape"]) == 2 and "LSTM" in q["used_by"]]
    assert biases and all(q["scale_axis"] == 0 for q in biases)  # B: one scale per direction, not per element


def test_auto_scales_fall_back_to_per_tensor_only_to_meet_the_size_target(exports, tmp_path) -> None:
    src = exports["rnn_classifier"].folder / "model.onnx"
    row = quantize_int8_weights(src, tmp_path / "row.onnx", scales="row")
    tensor = quantize_int8_weights(src, tmp_path / "tensor.onnx", scales="tensor")
    auto = quantize_int8_weights(src, tmp_path / "auto.onnx")
    sizes = {k: (tmp_path / f"{k}.onnx").stat().st_size / src.stat().st_size for k in ("row", "tensor", "auto")}
    assert row["scales"] == "per_row" and tensor["scales"] == "per_tensor"
    assert sizes["tensor"] < sizes["row"]
    if sizes["row"] <= 0.3:
        assert auto["scales"] == "per_row"
    else:
        assert auto["scales"] == "per_tensor" and "scales_note" in auto
    loose = quantize_int8_weights(src, tmp_path / "loose.onnx", size_target=1.0)
    assert loose["scales"] == "per_row"
    with pytest.raises(ValueError, match="scales must be"):
        quantize_int8_weights(src, tmp_path / "bad.onnx", scales="block")


def test_quantize_rows_bounds_the_error_and_keeps_zeros() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1, 12, 7)).astype(np.float32) * rng.uniform(0.01, 3, size=(1, 12, 1)).astype(np.float32)
    w[0, 3] = 0.0
    q, scale = quantize_rows(w, axis=1)
    assert q.dtype == np.int8 and scale.shape == (1, 12, 1) and q.min() >= -127 and q.max() <= 127
    assert np.all(np.abs(dequantize_rows(q, scale) - w) <= scale / 2 + 1e-7)
    assert np.all(q[0, 3] == 0) and np.all(dequantize_rows(q, scale)[0, 3] == 0)
    assert set(np.abs(q).max(axis=2)[0].tolist()) == {0, 127}  # every non-zero row uses the full range


def _own_inits(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in graph.initializer}


@pytest.mark.parametrize("name", ["rnn_classifier", "rnn_regressor"])
def test_scan_body_weights_are_int8_in_the_body_and_the_body_stays_portable(exports, name) -> None:
    """The lowered RNN's Scan body holds R^T itself: int8 codes, scales and Cast -> Mul all stay inside it."""
    exp = exports[name]
    proto = onnx.load(str(exp.folder / INT8_FILE))
    onnx.checker.check_model(proto, full_check=True)
    assert portability_problems(proto) == []  # no outer-scope reads in any Scan body
    bodies = [branch(n, "body") for n in all_nodes(proto.graph) if n.op_type == "Scan"]
    assert bodies
    for body in bodies:
        inits = _own_inits(body)
        casts = [n for n in body.node if n.op_type == "Cast"]
        assert casts and body.node[0].op_type == "Cast"  # dequantization first, then the step
        for cast in casts:
            assert inits[cast.input[0]].dtype == np.int8
        scales = {n.input[1] for n in body.node if n.op_type == "Mul" and n.input[0] in {c.output[0] for c in casts}}
        assert scales and scales <= set(inits)  # the body's own scales, not an outer value
    for graph in all_graphs(proto.graph):
        inits = _own_inits(graph)
        scales = {n.input[1] for n in graph.node if n.op_type == "Mul"}
        assert not [k for k, a in inits.items() if a.dtype == np.float32 and a.size >= 16 and k not in scales]
    body_entries = [q for q in exp.card.variants["int8"]["quantized"] if q["used_by"] == ["MatMul"]]
    axis = 1 if exp.card.variants["int8"]["scales"] == "per_row" else None  # "auto" may pick per tensor
    assert body_entries and all(q["scale_axis"] == axis and q["graph"].endswith("_step") for q in body_entries)


def test_both_rnn_branches_dequantize_to_the_same_weights(exports, tmp_path) -> None:
    """Per-column scales on the body's R^T group exactly like per-row scales on R: the same float weights."""
    src = exports["rnn_classifier"].folder / "model.onnx"
    for scales in ("row", "tensor"):
        quantize_int8_weights(src, tmp_path / f"{scales}.onnx", scales=scales, compact=False)
        dequant = dequantized_float_model(tmp_path / f"{scales}.onnx")
        assert not [n.op_type for n in all_nodes(dequant.graph) if n.op_type == "Cast"]
        inits = {k: a for g in all_graphs(dequant.graph) for k, a in _own_inits(g).items()}
        rnns = [n for n in all_nodes(dequant.graph) if n.op_type == "RNN"]
        bodies = [branch(n, "body") for n in all_nodes(dequant.graph) if n.op_type == "Scan"]
        assert len(rnns) == len(bodies) == 1
        body_inits = _own_inits(bodies[0])
        rt, wt = (next(a for k, a in body_inits.items() if k.endswith(n)) for n in ("/RT", "/WT"))  # W^T: in the step
        np.testing.assert_array_equal(rt, inits[rnns[0].input[2]][0].T)
        np.testing.assert_array_equal(wt, inits[rnns[0].input[1]][0].T)
    # at run time: batch 8 x hidden 64 takes the Scan branch, batch 1 the fused one
    x, _ = _inputs(batch=3)
    x = np.concatenate([x, x[:, ::-1], -x])[:8]
    lengths = np.array([9, 4, 1, 9, 7, 2, 9, 5])
    int8 = exports["rnn_classifier"].folder / INT8_FILE
    scan = run_session(make_session(int8), x, lengths)
    fused = np.concatenate([run_session(make_session(int8), x[i:i + 1], lengths[i:i + 1]) for i in range(8)])
    np.testing.assert_allclose(scan, fused, atol=1e-5, rtol=1e-5)
    feeds = {"x": x, "lengths": lengths.astype(np.int64)}
    dequant = dequantized_float_model(int8)
    want = ort.InferenceSession(dequant.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got_ref = ReferenceEvaluator(str(int8)).run(None, feeds)[0]  # type: ignore[index]
    np.testing.assert_allclose(scan, want, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(got_ref, want, atol=1e-5, rtol=1e-4)


def test_onnxruntime_folds_the_dequantization_inside_the_scan_body_too(exports, tmp_path) -> None:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(exports["rnn_classifier"].folder / INT8_FILE), opts, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    assert any(n.op_type == "Scan" for n in all_nodes(optimized.graph))
    assert not [n.op_type for n in all_nodes(optimized.graph) if n.op_type in ("Cast", "DequantizeLinear")]
    assert not [i.name for g in all_graphs(optimized.graph) for i in g.initializer
                if i.data_type == onnx.TensorProto.INT8]


def test_fp16_converts_the_scan_body_weights_inside_the_body(exports, tmp_path) -> None:
    _to_fp16_weights(exports["rnn_classifier"].folder / "model.onnx", tmp_path / FP16_FILE)
    proto = onnx.load(str(tmp_path / FP16_FILE))
    onnx.checker.check_model(proto, full_check=True)
    assert portability_problems(proto) == []
    bodies = [branch(n, "body") for n in all_nodes(proto.graph) if n.op_type == "Scan"]
    assert bodies and all(b.node[0].op_type == "Cast" for b in bodies)
    for graph in all_graphs(proto.graph):
        assert not [k for k, a in _own_inits(graph).items() if a.dtype == np.float32 and a.size >= 16]
    x, lengths = _inputs(batch=3)
    x, lengths = np.concatenate([x, x, x]), np.concatenate([lengths, lengths, lengths])  # 9 x 64: the Scan branch
    fp32 = run_session(make_session(exports["rnn_classifier"].folder / "model.onnx"), x, lengths)
    np.testing.assert_allclose(run_session(make_session(tmp_path / FP16_FILE), x, lengths), fp32, atol=1e-2)
