"""Portable exports: no rank-changing If, no loop body reading an outer scope; checked, rewritten, run elsewhere.

The two constructs made exports fail outside onnxruntime (tract 0.23 refuses
the exporter's squeeze-If; OpenVINO 2026.4 cannot convert a Scan body that
captures an outer value). Small hand-built graphs show the static check
catches each; the built-ins' exports show none is left; where openvino or
tract is installed, the exports run there and agree with onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import rnnzoo
from rnnzoo.exporting.exporter import resolve_source, to_onnx
from rnnzoo.exporting.graph import all_nodes, branch, outer_reads
from rnnzoo.exporting.graph_checks import portability_problems, static_checks
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.exporting.lowering import FUSED_BRANCH, lower_recurrent
from rnnzoo.exporting.portable import is_squeeze_if, make_portable
from rnnzoo.exporting.trace import onnx_metadata, trace
from rnnzoo.models.recurrent import RecurrentEncoder, last_valid

F = TensorProto.FLOAT
BUILTINS = ["rnn_classifier", "rnn_regressor", "lstm_classifier", "lstm_regressor", "gru_classifier",
            "gru_regressor"]
SHAPES = [(name, {}) for name in BUILTINS] + [
    ("gru_classifier", {"num_layers": 2, "bidirectional": True}),
    ("lstm_classifier", {"bidirectional": True}),
    ("rnn_classifier", {"nonlinearity": "relu"}),
    ("rnn_classifier", {"num_layers": 2, "bidirectional": True}),
    ("rnn_regressor", {"per_step": True}),
]


def _ids(case: tuple[str, dict[str, Any]]) -> str:
    return case[0] + "".join(f",{k}={v}" for k, v in case[1].items())


# ---------------------------------------------------------------- small hand-built graphs


def _const(name: str, values: list[int]) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64)))


def _model(nodes: list[Any], inits: list[Any] | None = None, y_shape: tuple[Any, ...] = ("batch", 3)) -> Any:
    """x [batch, time, 3] + lengths [batch] -> y: the names and axes static_checks expects."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", F, ["batch", "time", 3]),
         helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("y", F, list(y_shape))], inits or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _squeeze_if_graph(cond_from_shape: bool = True) -> Any:
    """x[:, 0:1, :] then the exporter's squeeze-If on axis 1: y [batch, 3] when the size is 1, else [batch, 1, 3]."""
    then_g = helper.make_graph([_const("ax", [1]), helper.make_node("Squeeze", ["first", "ax"], ["sq"])],
                               "then", [], [helper.make_tensor_value_info("sq", F, None)])
    else_g = helper.make_graph([helper.make_node("Identity", ["first"], ["same"])], "else", [],
                               [helper.make_tensor_value_info("same", F, None)])
    nodes = [_const("s0", [0]), _const("s1", [1]), _const("one", [1]),
             helper.make_node("Slice", ["x", "s0", "s1", "s1"], ["first"])]
    if cond_from_shape:  # what torch.onnx emits for t.squeeze(1) on an axis of unproven size
        nodes += [helper.make_node("Shape", ["first"], ["shape"]),
                  helper.make_node("Gather", ["shape", "s1"], ["size"], axis=0),
                  helper.make_node("Equal", ["size", "one"], ["cond"])]
    else:  # a data-dependent condition: not the exporter's pattern, never folded
        nodes += [helper.make_node("ReduceMax", ["lengths"], ["longest"], keepdims=1),
                  helper.make_node("Equal", ["longest", "one"], ["cond"])]
    nodes.append(helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g))
    return _model(nodes)


def _scan_graph(capture: bool) -> Any:
    """A Scan over time of h = tanh(h . W + x_t); ``capture``: the body reads W from the main graph."""
    w = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 0.5, "W")
    body_w = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 0.5, "W_body")
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h", "W" if capture else "W_body"], ["hw"]),
         helper.make_node("Add", ["hw", "xt"], ["pre"]), helper.make_node("Tanh", ["pre"], ["h2"])],
        "body", [helper.make_tensor_value_info(n, F, None) for n in ("h", "xt")],
        [helper.make_tensor_value_info("h2", F, None)], [] if capture else [body_w])
    nodes = [helper.make_node("Transpose", ["x"], ["xs"], perm=[1, 0, 2]),
             _const("s0", [0]), _const("s1", [1]),
             helper.make_node("Slice", ["xs", "s0", "s1"], ["x0"]),
             helper.make_node("Squeeze", ["x0", "s0"], ["h0"]),
             helper.make_node("Scan", ["h0", "xs"], ["y"], num_scan_inputs=1, body=body)]
    return _model(nodes, [w] if capture else [])


def _loop_graph() -> Any:
    """A Loop whose body adds the main graph's ``bias`` to its carried value: an outer-scope capture."""
    body = helper.make_graph(
        [helper.make_node("Add", ["v", "bias"], ["v2"]), helper.make_node("Identity", ["c"], ["c2"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v", F, None)],
        [helper.make_tensor_value_info("c2", TensorProto.BOOL, []), helper.make_tensor_value_info("v2", F, None)])
    nodes = [_const("s0", [0]), _const("s1", [1]), _const("trips", [2]),
             helper.make_node("Slice", ["x", "s0", "s1", "s1"], ["first"]),
             helper.make_node("Squeeze", ["first", "s1"], ["v0"]),
             helper.make_node("Constant", [], ["go"], value=helper.make_tensor("go", TensorProto.BOOL, [], [True])),
             helper.make_node("Squeeze", ["trips"], ["n"]),
             helper.make_node("Loop", ["n", "go", "v0"], ["y"], body=body)]
    return _model(nodes, [numpy_helper.from_array(np.ones(3, np.float32), "bias")])


def _run(model: Any, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x, "lengths": lengths})[0]


def _feeds(batch: int = 4, time: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(batch, time, 3)).astype(np.float32), np.full(batch, time, np.int64)


def test_squeeze_if_is_a_problem_and_the_rewrite_removes_it_exactly() -> None:
    bad = _squeeze_if_graph()
    problems = portability_problems(bad)
    assert len(problems) == 1 and "changes rank" in problems[0] and "then-branch rank 2, else-branch rank 3" \
        in problems[0]
    checks = static_checks(bad, nn.Identity(), IoSpec.for_model(3))
    assert checks.problems == problems  # wired into the checks that fail an export
    good = make_portable(bad)
    onnx.checker.check_model(good, full_check=True)
    assert portability_problems(good) == []
    assert [n.op_type for n in good.graph.node if n.op_type in ("If", "Shape", "Equal")] == []  # test pruned too
    x, lengths = _feeds()
    np.testing.assert_array_equal(_run(good, x, lengths), _run(bad, x, lengths))


def test_a_squeeze_if_inside_a_branch_is_folded_too() -> None:
    """The squeeze-If inside each branch of an outer If: both folded, the outer If kept."""
    flat = _squeeze_if_graph()
    inner = [n for n in flat.graph.node if n.op_type in ("Shape", "Gather", "Equal", "If")]

    def branch_graph(tag: str) -> Any:
        nodes = []
        for n in inner:
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            copy.output[0] = f"{tag}_{n.output[0]}"
            copy.input[:] = [f"{tag}_{i}" if i in ("shape", "size", "cond") else i for i in n.input]
            nodes.append(copy)
        for node in nodes:  # unique names inside the two branches' If subgraphs as well
            for attr in node.attribute:
                if attr.HasField("g"):
                    for m in attr.g.node:
                        m.output[0] = f"{tag}_{m.output[0]}"
                        m.input[:] = [f"{tag}_{i}" if i == "ax" else i for i in m.input]
                    attr.g.output[0].name = attr.g.node[-1].output[0]
        return helper.make_graph(nodes, tag, [], [helper.make_tensor_value_info(f"{tag}_y", F, None)])

    outer = [n for n in flat.graph.node if n not in inner] + [
        helper.make_node("ReduceMax", ["lengths"], ["longest"], keepdims=0), _const("two", [2]),
        helper.make_node("Squeeze", ["two"], ["two_s"]), helper.make_node("Less", ["longest", "two_s"], ["short"]),
        helper.make_node("If", ["short"], ["y"], then_branch=branch_graph("t"), else_branch=branch_graph("e"))]
    bad = _model(outer)
    assert len(portability_problems(bad)) == 2
    good = make_portable(bad)
    assert portability_problems(good) == [] and [n.op_type for n in good.graph.node].count("If") == 1
    x, lengths = _feeds()
    for lens in (lengths, np.ones_like(lengths)):
        np.testing.assert_array_equal(_run(good, x, lens), _run(bad, x, lens))


def test_a_squeeze_if_on_a_data_condition_is_reported_not_rewritten() -> None:
    bad = _squeeze_if_graph(cond_from_shape=False)
    assert any(n.op_type == "If" for n in make_portable(bad).graph.node)  # only the exporter's own size test folds
    assert portability_problems(make_portable(bad))


def test_rank_changing_if_is_found_from_inferred_shapes_whatever_its_form() -> None:
    """Not the squeeze pattern: then-branch Reshape to rank 2, else-branch Identity (rank 3)."""
    then_g = helper.make_graph([_const("shape2", [0, -1]), helper.make_node("Reshape", ["x", "shape2"], ["flat"])],
                               "then", [], [helper.make_tensor_value_info("flat", F, None)])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["same"])], "else", [],
                               [helper.make_tensor_value_info("same", F, None)])
    nodes = [helper.make_node("ReduceMax", ["lengths"], ["longest"], keepdims=0),
             _const("one", [1]), helper.make_node("Squeeze", ["one"], ["one_s"]),
             helper.make_node("Equal", ["longest", "one_s"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    bad = _model(nodes, y_shape=("batch", None))
    assert not is_squeeze_if(bad.graph.node[-1])
    problems = portability_problems(bad)
    assert len(problems) == 1 and "then-branch rank 2, else-branch rank 3" in problems[0]


def test_scan_body_reading_the_outer_scope_is_a_problem() -> None:
    bad, good = _scan_graph(capture=True), _scan_graph(capture=False)
    problems = portability_problems(bad)
    assert len(problems) == 1 and "Scan node" in problems[0] and "['W']" in problems[0]
    assert static_checks(bad, nn.Identity(), IoSpec.for_model(3)).problems == problems
    assert portability_problems(good) == []
    x, lengths = _feeds()
    np.testing.assert_array_equal(_run(good, x, lengths), _run(bad, x, lengths))  # same math, passed in


def test_loop_body_reading_the_outer_scope_is_a_problem() -> None:
    problems = portability_problems(_loop_graph())
    assert len(problems) == 1 and "Loop node" in problems[0] and "['bias']" in problems[0]


def test_captures_are_resolved_through_nested_graphs() -> None:
    """An If inside a Scan body may read the body's values, not the main graph's."""
    def body(read: str) -> Any:
        branch = helper.make_graph([helper.make_node("Identity", [read], ["b"])], "branch", [],
                                   [helper.make_tensor_value_info("b", F, None)])
        return helper.make_graph(
            [helper.make_node("Identity", ["h"], ["local"]), _const("t", [1]),
             helper.make_node("Cast", ["t"], ["tb"], to=TensorProto.BOOL), helper.make_node("Squeeze", ["tb"], ["c"]),
             helper.make_node("If", ["c"], ["h2"], then_branch=branch, else_branch=branch)],
            "body", [helper.make_tensor_value_info("h", F, None)], [helper.make_tensor_value_info("h2", F, None)])
    assert outer_reads(body("local")) == set()
    assert outer_reads(body("main_value")) == {"main_value"}


def test_if_branches_may_read_the_outer_scope() -> None:
    then_g = helper.make_graph([helper.make_node("Identity", ["x"], ["a"])], "then", [],
                               [helper.make_tensor_value_info("a", F, None)])
    nodes = [helper.make_node("ReduceMax", ["lengths"], ["m"], keepdims=0), _const("one", [1]),
             helper.make_node("Squeeze", ["one"], ["one_s"]), helper.make_node("Equal", ["m", "one_s"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=then_g)]
    assert portability_problems(_model(nodes, y_shape=("batch", "time", 3))) == []


# ---------------------------------------------------------------- rnnzoo's own exports


def _build(name: str, hp: dict[str, Any]) -> Any:
    torch.manual_seed(0)
    return resolve_source(rnnzoo.create_model(name, input_size=3, output_size=2, **hp))


@pytest.mark.parametrize("case", SHAPES, ids=_ids)
def test_exports_have_no_rank_changing_if_and_no_loop_captures(case) -> None:
    net, meta = _build(*case)
    proto = to_onnx(net, meta, 18)
    assert portability_problems(proto) == []
    assert not [n for n in all_nodes(proto.graph) if is_squeeze_if(n)]
    ifs = [n for n in all_nodes(proto.graph) if n.op_type == "If"]  # only the lowering's batch-size switch is left
    assert len(ifs) <= 1 and all(branch(n, "then_branch").name == FUSED_BRANCH for n in ifs)


@pytest.mark.parametrize("case", [c for c in SHAPES if not c[1].get("per_step")], ids=_ids)
def test_portable_rewrite_leaves_onnxruntime_outputs_bit_identical(case, tmp_path: Path) -> None:
    """The fold only removes the squeeze-If's other branch: onnxruntime computes exactly the same numbers."""
    net, meta = _build(*case)
    io = IoSpec.from_meta(meta)
    unfolded = trace(net, io.sample_inputs("trace")[0], io, 18, model=meta.model,
                     metadata=onnx_metadata(meta, 18, io), rewrite=lower_recurrent)
    assert portability_problems(unfolded)  # the exporter's squeeze-If is there before the rewrite
    folded = to_onnx(net, meta, 18)
    rng = np.random.default_rng(1)
    for lengths in (np.array([20, 1, 7, 13, 2, 20, 9]), rng.integers(1, 21, 40)):
        x = rng.normal(size=(len(lengths), 20, 3)).astype(np.float32)
        np.testing.assert_array_equal(_run(folded, x, lengths), _run(unfolded, x, lengths))


@pytest.mark.parametrize("hp", [{}, {"bidirectional": True}, {"num_layers": 2, "bidirectional": True}],
                         ids=["uni", "bidir", "2-layer-bidir"])
def test_last_state_gathers_then_slices_with_bit_identical_eager_outputs(hp) -> None:
    """Gathering the whole last row, then slicing (for OpenVINO), selects exactly what slicing first did."""
    torch.manual_seed(0)
    model = rnnzoo.create_model("gru_classifier", input_size=3, output_size=2, **hp)
    enc: RecurrentEncoder = model.rnn
    x, lengths = torch.randn(9, 11, 3), torch.tensor([11, 1, 5, 2, 11, 7, 3, 9, 4])
    with torch.no_grad():
        out = enc(x, lengths)
        new = enc.last_state(out, lengths)
        h = enc.hidden_size
        fwd = last_valid(out[..., :h], lengths)
        old = torch.cat([fwd, out[:, 0, h:]], dim=-1) if len(enc.bwd) else fwd
    assert torch.equal(new, old)


# ---------------------------------------------------------------- other runtimes, where installed

RUNTIME_CASES = [("rnn_classifier", {}), ("rnn_classifier", {"nonlinearity": "relu"}),
                 ("lstm_classifier", {"bidirectional": True}),
                 ("gru_classifier", {"num_layers": 2, "bidirectional": True}), ("rnn_regressor", {"per_step": True})]


def _openvino(path: Path) -> Any:
    ov = pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino)")
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return lambda x, lengths: np.asarray(compiled({"x": x, "lengths": lengths})[compiled.output(0)])


def _tract(path: Path) -> Any:
    tract = pytest.importorskip("tract", reason="tract is not installed (pip install tract)")
    runnable = tract.onnx().load(str(path)).into_model().into_runnable()
    return lambda x, lengths: runnable.run([x, lengths])[0].to_numpy()


@pytest.mark.parametrize("runtime", [_openvino, _tract], ids=["openvino", "tract"])
@pytest.mark.parametrize("case", RUNTIME_CASES, ids=_ids)
def test_exports_load_and_agree_in_other_runtimes(runtime, case, tmp_path: Path) -> None:
    """Ragged batch 7 (the fused-RNN branch) and 40 (the Scan branch) against onnxruntime."""
    net, meta = _build(*case)
    path = tmp_path / "model.onnx"
    proto = to_onnx(net, meta, 18)
    path.write_bytes(proto.SerializeToString())
    run = runtime(path)
    rng = np.random.default_rng(0)
    for lengths in (np.array([20, 1, 7, 13, 2, 20, 9]), rng.integers(1, 21, 40)):
        x = rng.normal(size=(len(lengths), 20, 3)).astype(np.float32)
        np.testing.assert_allclose(run(x, lengths), _run(proto, x, lengths), atol=1e-5, rtol=1e-5)
