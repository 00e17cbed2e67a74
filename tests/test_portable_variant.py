"""``model.portable.onnx`` (issue 14): the float32 graph without control flow, for tract and runtimes like it.

``model.onnx`` wraps the recurrent layers in one batch-size ``If`` (fastest
in onnxruntime, slow in tract); the portable file keeps every layer one fused
node. These tests pin that it is written, free of If/Scan/Loop, the same
model as PyTorch on fresh ragged batches, recorded in the card and the
runtime matrix, checked by ``verify --runtime``, and left out on request or
when it would repeat ``model.onnx``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.core import plugins
from rnnzoo.deploy.card import MODEL_FILE, PORTABLE_FILE, ExportCard, RuntimeRow, read_card
from rnnzoo.deploy.outcomes import outcomes
from rnnzoo.exporting.graph import all_nodes
from rnnzoo.exporting.runtime_matrix import fastest_files

CASES = {"rnn": ("rnn_classifier", {}), "lstm": ("lstm_classifier", {}), "gru": ("gru_classifier", {}),
         "gru_bidir2": ("gru_classifier", {"num_layers": 2, "bidirectional": True})}
LAYER_NODES = {"rnn": 1, "lstm": 1, "gru": 1, "gru_bidir2": 4}  # one fused node per layer and direction
VALIDATED = "lstm"  # the one export that runs parity and the runtime matrix (the others check parity here, faster)


def _installed(name: str) -> bool:
    return rnnzoo.get_runtime(name).available() is None


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, torch.nn.Module]]:
    root = tmp_path_factory.mktemp("portable")
    out = {}
    for label, (name, hp) in CASES.items():
        torch.manual_seed(0)
        model = rnnzoo.create_model(name, input_size=3, output_size=2, hidden_size=8, **hp)
        exp = rnnzoo.export(model, root / label, int8=False, fp16=False, validate=label == VALIDATED)
        out[label] = (exp.folder, model)
    return out


@pytest.mark.parametrize("label", list(CASES))
def test_portable_file_has_no_control_flow_and_matches_pytorch_on_ragged_batches(exports, label: str) -> None:
    folder, model = exports[label]
    card = _card(folder)
    entry = card.variants["portable"]
    assert entry["written"] and entry["file"] == PORTABLE_FILE and (folder / PORTABLE_FILE).is_file()
    assert PORTABLE_FILE in card.files and "tract" in entry["for"] and entry["control_flow_ops"] == []
    assert entry["problems"] == [] and (entry["parity"]["passed"] and card.passed if label == VALIDATED
                                        else entry["parity"] is None)
    ops = [n.op_type for n in all_nodes(onnx.load(str(folder / PORTABLE_FILE)).graph)]
    assert not {"If", "Scan", "Loop"} & set(ops)
    assert sum(op in ("RNN", "LSTM", "GRU") for op in ops) == LAYER_NODES[label]
    assert "If" in {n.op_type for n in onnx.load(str(folder / MODEL_FILE)).graph.node}  # model.onnx is unchanged

    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 23, 3)).astype(np.float32)
    lengths = np.array([23, 1, 9, 17, 2, 23], np.int64)
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    tol = rnnzoo.get_spec(CASES[label][0]).tolerance
    for name in [n for n in ("onnxruntime", "tract") if _installed(n)]:
        got = rnnzoo.get_runtime(name).load(folder / PORTABLE_FILE, 1)(x, lengths)
        np.testing.assert_allclose(got, want, atol=tol.atol, rtol=tol.rtol, err_msg=name)


def _card(folder: Path) -> ExportCard:
    return read_card(folder)


def test_runtime_matrix_has_a_portable_row_and_names_the_fastest_file(exports) -> None:
    folder, _ = exports[VALIDATED]
    matrix = _card(folder).runtimes
    for name in [n for n in ("onnxruntime", "tract") if _installed(n)]:
        row = matrix.row(name, "portable")
        assert row is not None and row.file == PORTABLE_FILE and row.reference == "pytorch", name
        assert row.loads and row.passed and all(v is not None and v > 0 for v in row.latency_ms.values()), row
        assert set(matrix.fastest[name]) == {"batch1_len50", "batch64_len300"}
        assert set(matrix.fastest[name].values()) <= {MODEL_FILE, PORTABLE_FILE}
    assert matrix.row("reference", "portable").passed  # the ONNX spec agrees too
    assert "openvino_default" not in matrix.fastest  # not a gate: never verified, never recommended


def test_fastest_counts_only_verified_float32_rows() -> None:
    def row(runtime: str, variant: str, file: str, ms: float, passed: bool | None = True) -> RuntimeRow:
        return RuntimeRow(runtime, variant, file, passed=passed, latency_ms={"b1": ms, "b64": ms * 10})

    rows = [row("tract", "fp32", MODEL_FILE, 9.0), row("tract", "portable", PORTABLE_FILE, 0.3),
            row("tract", "int8", "model.int8.onnx", 0.1),  # lossy: never the recommendation
            row("ort", "fp32", MODEL_FILE, 0.05), row("ort", "portable", PORTABLE_FILE, 0.01, passed=False),
            row("ov_default", "fp32", MODEL_FILE, 0.1, passed=None)]
    assert fastest_files(rows) == {"tract": {"b1": PORTABLE_FILE, "b64": PORTABLE_FILE},
                                   "ort": {"b1": MODEL_FILE, "b64": MODEL_FILE}}


def test_verify_runtime_checks_the_portable_file_too(exports) -> None:
    folder, _ = exports["gru_bidir2"]
    names = [n for n in ("onnxruntime", "tract") if _installed(n)]
    report = rnnzoo.verify(folder, parity=False, runtimes=names)
    assert report["passed"], report["problems"]
    files = {(r["runtime"], r["file"]) for r in report["runtimes"] if r["passed"]}
    assert files == {(n, f) for n in names for f in (MODEL_FILE, PORTABLE_FILE)}
    checks = {(o.check, o.runtime) for o in outcomes(report)}  # JUnit: one testcase each, no duplicate names
    assert ("test_data_set_0 (model.portable.onnx)", names[-1]) in checks and ("test_data_set_0", names[-1]) in checks
    res = CliRunner().invoke(main, ["verify", str(folder), "--no-parity", "--runtime", names[-1]])
    assert res.exit_code == 0 and f"on {PORTABLE_FILE}: ok" in res.output, res.output


def test_a_failed_portable_check_fails_the_card(exports) -> None:
    data = json.loads((exports[VALIDATED][0] / "card.json").read_text())
    card = ExportCard.from_json(data, "card")
    assert card.digest_ok and card.to_json() == data and card.runtimes.fastest  # round-trips, digest and all
    card.variants["portable"]["problems"] = ["parity FAILED in 1/8 cases"]
    assert not card.passed and any(f.startswith(PORTABLE_FILE) for f in card.recorded_failures)


def test_no_portable_skips_the_file_and_predict_runs_it(exports, tmp_path: Path) -> None:
    folder, _ = exports["rnn"]
    out = tmp_path / "skipped"
    res = CliRunner().invoke(main, ["export", str(folder / "checkpoint.safetensors"), "--out", str(out),
                                    "--no-portable", "--no-int8", "--no-fp16"])
    assert res.exit_code == 0, res.output
    card = _card(out)
    assert not (out / PORTABLE_FILE).exists() and "portable" not in card.variants
    assert {r.variant for r in card.runtimes.rows} == {"fp32"}
    np.savez(tmp_path / "in.npz", X=np.ones((2, 5, 3), np.float32), lengths=np.array([5, 2]))
    res = CliRunner().invoke(main, ["predict", str(folder), str(tmp_path / "in.npz"), "--variant", PORTABLE_FILE])
    assert res.exit_code == 0, res.output


class _NoRecurrence:
    """A plugin model with no recurrent layer: lowering has nothing to do, so model.onnx is the portable form."""

    @rnnzoo.hookimpl
    def rnnzoo_register_models(self, register):
        class MaskedMean(torch.nn.Module):
            def __init__(self, input_size: int, output_size: int) -> None:
                super().__init__()
                self.fc = torch.nn.Linear(input_size, output_size)

            def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
                mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).to(x.dtype)
                return self.fc((x * mask[..., None]).sum(1) / lengths[:, None].to(x.dtype))

        register(rnnzoo.ModelSpec(name="masked_mean_test", task="classification", build=MaskedMean,
                                  description="no recurrent layer"))


def test_the_file_is_not_written_when_it_would_repeat_model_onnx(tmp_path: Path) -> None:
    plugins.register_plugin(_NoRecurrence(), "no-recurrence")
    model = rnnzoo.create_model("masked_mean_test", input_size=3, output_size=2)
    exp = rnnzoo.export(model, tmp_path / "mean", int8=False, fp16=False, validate=False)
    entry = exp.card.variants["portable"]
    assert entry["written"] is False and entry["file"] == MODEL_FILE and "same bytes" in entry["why"]
    assert not (exp.folder / PORTABLE_FILE).exists() and PORTABLE_FILE not in exp.card.files
