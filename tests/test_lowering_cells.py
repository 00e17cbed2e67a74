"""Lowered LSTM/GRU/RNN forms (issue 17): exact parity, graph rules, the int8-compute LSTM, the machine record.

The Scan forms of rnnzoo.exporting.scan_cells are checked against PyTorch eager
in onnxruntime and onnx.reference on ragged batches, for one and two layers,
one and two directions, with the batch-size switch on both sides of its
threshold; every form must keep the portability rules (no outer-scope capture
in a Scan body, no rank-changing If, at most one If).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

import rnnzoo
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.exporting.exporter import resolve_source, to_onnx
from rnnzoo.exporting.graph import all_nodes
from rnnzoo.exporting.graph_checks import portability_problems, static_checks
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.exporting.lowering import FUSED_BRANCH, MIN_ELEMS, lower_recurrent
from rnnzoo.exporting.portable import make_portable
from rnnzoo.exporting.trace import onnx_metadata, trace
from rnnzoo.exporting.variants import (
    INT8_COMPUTE_FILE,
    fused_lstm_model,
    make_variants,
    offers_int8_compute,
    quantize_int8_compute,
)
from rnnzoo.zoo.bench import bench_environment
from rnnzoo.zoo.machine import cpu_isa, describe, machine_info, onnxruntime_isa

HIDDEN = 16
SMALL, LARGE = 7, 40  # batch * HIDDEN below and above the switch's MIN_ELEMS
assert all(SMALL * HIDDEN < m <= LARGE * HIDDEN for m in MIN_ELEMS.values())


def _build(cell: str, hp: dict[str, Any], hidden: int = HIDDEN) -> Any:
    torch.manual_seed(0)
    return resolve_source(rnnzoo.create_model(f"{cell}_classifier", input_size=3, output_size=2, hidden_size=hidden,
                                              **hp))


def _export(net: Any, meta: Any, forms: dict[str, str], project: str = "step") -> onnx.ModelProto:
    """to_onnx with the lowering's forms overridden."""
    io = IoSpec.from_meta(meta)
    return trace(net, io.sample_inputs("trace")[0], io, 18, model=meta.model, metadata=onnx_metadata(meta, 18, io),
                 rewrite=lambda p: make_portable(lower_recurrent(p, forms, project)))


def _batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    lengths = [np.array([11, 1, 5, 2, 11, 7, 3]), rng.integers(1, 12, LARGE)]
    return [(rng.normal(size=(len(n), 11, 3)).astype(np.float32), n) for n in lengths]


CASES = [(cell, hp) for cell in ("lstm", "gru") for hp in
         ({}, {"bidirectional": True}, {"num_layers": 2, "bidirectional": True})] + [("rnn", {"num_layers": 2})]


@pytest.mark.parametrize("form", ["scan", "switch"])
@pytest.mark.parametrize(("cell", "hp"), CASES, ids=[f"{c}-{'-'.join(map(str, h)) or 'uni'}" for c, h in CASES])
def test_lowered_forms_match_eager_in_onnxruntime_and_reference(cell: str, hp: dict[str, Any], form: str) -> None:
    net, meta = _build(cell, hp)
    proto = _export(net, meta, {cell.upper(): form})
    assert portability_problems(proto) == []
    assert sum(n.op_type == "If" for n in all_nodes(proto.graph)) == (1 if form == "switch" else 0)
    assert any(n.op_type == "Scan" for n in all_nodes(proto.graph))
    session = make_session_from(proto)
    reference = ReferenceEvaluator(proto)
    for x, lengths in _batches():
        with torch.no_grad():
            want = net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
        feeds = {"x": x, "lengths": lengths.astype(np.int64)}
        np.testing.assert_allclose(session.run(None, feeds)[0], want, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(reference.run(None, feeds)[0], want, atol=1e-5, rtol=1e-5)


def make_session_from(proto: onnx.ModelProto) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_projection_outside_the_scan_is_exact_too(cell: str) -> None:
    """project="all": one MatMul over every step before the Scan (the other measured form)."""
    net, meta = _build(cell, {"bidirectional": True})
    proto = _export(net, meta, {cell.upper(): "scan"}, project="all")
    assert portability_problems(proto) == []
    x, lengths = _batches()[1]
    with torch.no_grad():
        want = net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    got = make_session_from(proto).run(None, {"x": x, "lengths": lengths.astype(np.int64)})[0]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_default_export_has_one_switch_and_the_card_counts_every_layer(cell: str) -> None:
    net, meta = _build(cell, {"num_layers": 2, "bidirectional": True})
    proto = to_onnx(net, meta, 18)
    ifs = [n for n in all_nodes(proto.graph) if n.op_type == "If"]
    assert len(ifs) == 1 and ifs[0].attribute[0].g.name in (FUSED_BRANCH, "lowered_scan")
    checks = static_checks(proto, net, IoSpec.from_meta(meta))
    assert checks.problems == []
    assert checks.fused_nodes[cell.upper()] == 4 and checks.lowered_rnn_nodes == 4


def test_unknown_form_is_refused() -> None:
    net, meta = _build("gru", {})
    with pytest.raises(ValueError, match="unknown lowering form"):
        _export(net, meta, {"GRU": "unrolled"})


# ---------------------------------------------------------------- int8 compute


def test_int8_compute_lstm_agrees_with_float32(tmp_path: Path) -> None:
    net, meta = _build("lstm", {"bidirectional": True}, hidden=128)
    src = tmp_path / "model.onnx"
    src.write_bytes(to_onnx(net, meta, 18).SerializeToString())
    assert offers_int8_compute(src)
    info = quantize_int8_compute(src, tmp_path / "q.onnx")
    ops = [n.op_type for n in all_nodes(onnx.load(str(tmp_path / "q.onnx")).graph)]
    assert ops.count("DynamicQuantizeLSTM") == 2 and "If" not in ops and "Scan" not in ops
    assert info["lstm_hidden"] == [128, 128]
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 31, 64)
    x = rng.normal(size=(64, 30, 3)).astype(np.float32)
    ref, got = (run_session(make_session(p), x, lengths) for p in (src, tmp_path / "q.onnx"))
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.95
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 0.05


def test_int8_compute_is_offered_only_for_large_lstms(tmp_path: Path) -> None:
    for cell, hidden, offered in (("lstm", 64, False), ("gru", 128, False), ("lstm", 128, True)):
        net, meta = _build(cell, {}, hidden=hidden)
        folder = tmp_path / f"{cell}{hidden}"
        folder.mkdir()
        (folder / "model.onnx").write_bytes(to_onnx(net, meta, 18).SerializeToString())
        variants = make_variants(folder, meta, None, int8=True, fp16=False)
        assert ("int8_compute" in variants) is offered and (folder / INT8_COMPUTE_FILE).exists() is offered
        if offered:
            entry = variants["int8_compute"]
            assert entry["argmax_agreement"] >= 0.9 and entry["recurrent_ops"] == ["DynamicQuantizeLSTM"]


def test_fused_lstm_model_of_a_fused_graph_is_unchanged() -> None:
    net, meta = _build("lstm", {})
    proto = to_onnx(net, meta, 18, lower=False)
    assert fused_lstm_model(proto) == proto


# ---------------------------------------------------------------- machine record


def test_machine_record_names_the_cpu_isa_cores_and_versions() -> None:
    info = machine_info(peak=False)
    assert info["cpu_model"] and info["cpu_count"] >= 1 and 1 <= info["usable_cores"] <= info["cpu_count"]
    assert info["torch_isa"] == torch.backends.cpu.get_cpu_capability()
    assert {"torch", "onnxruntime", "onnx", "numpy", "python"} <= set(info["versions"])
    lines = describe(info)
    assert info["cpu_model"] in lines[0] and info["torch_isa"] in lines[1]
    env = bench_environment(1, 42.0)
    assert env["machine"]["sgemm_peak_gflops"] == {"1": 42.0} and env["threads"] == 1


def test_isa_levels_from_cpu_flags() -> None:
    assert cpu_isa({"avx2", "fma"}) == "AVX2"
    assert cpu_isa({"avx2", "avx512f"}) == "AVX-512"
    assert cpu_isa({"avx2", "avx512f", "amx_tile", "amx_int8"}) == "AMX"
    assert onnxruntime_isa({"avx2", "fma"}) == "fp32 AVX2/FMA, int8 AVX2/FMA"
    assert onnxruntime_isa({"avx2", "fma", "avx512f", "avx512_vnni"}) == "fp32 AVX-512F, int8 AVX-512 VNNI"
    assert onnxruntime_isa(set()).startswith("unknown")
