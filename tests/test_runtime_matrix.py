"""The runtime matrix: the card's ``runtimes`` section, the zoo report's table and ``rnnzoo bench --runtime``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.core.plugins import register_plugin
from rnnzoo.deploy.card import DIGEST_KEY, ExportCard, RuntimeMatrix, content_digest, read_card
from rnnzoo.errors import ExportError
from rnnzoo.exporting.exporter import resolve_source
from rnnzoo.exporting.runtime_matrix import runtime_matrix
from rnnzoo.zoo.run import ZooRow, write_report


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = rnnzoo.create_model("gru_classifier", input_size=3, output_size=2, hidden_size=8)
    folder = tmp_path_factory.mktemp("rm") / "gru_classifier"
    return rnnzoo.export(model, folder), model


def test_every_export_records_the_matrix_and_it_round_trips_with_its_digest(exported) -> None:
    exp, _ = exported
    matrix = exp.card.runtimes
    assert matrix is not None and matrix.error is None and matrix.note
    ort = matrix.row("onnxruntime")
    assert ort is not None and ort.loads and ort.passed and ort.reference == "pytorch"
    assert set(ort.latency_ms) == {"batch1_len50", "batch64_len300"}
    assert all(v is not None and v > 0 for v in ort.latency_ms.values())
    ref = matrix.row("reference")
    assert ref is not None and ref.passed and all(v is None for v in ref.latency_ms.values())  # never timed
    int8 = matrix.row("onnxruntime", "int8")
    assert int8 is not None and int8.reference == "onnxruntime" and int8.max_abs == 0.0
    assert {r.variant for r in matrix.rows} == {"fp32", "portable", "int8", "fp16"}

    card = read_card(exp.folder)
    assert card.digest_ok and card.runtimes == matrix
    data = json.loads((exp.folder / "card.json").read_text())
    assert ExportCard.from_json(data, "card").to_json() == data  # layout and digest kept exactly

    data["runtimes"]["rows"][0]["max_abs"] = 0.5  # an edit is detected by the digest
    assert not ExportCard.from_json(data, "card").digest_ok

    del data["runtimes"]  # a card from before the matrix still reads
    data[DIGEST_KEY] = content_digest(data)
    old = ExportCard.from_json(data, "card")
    assert old.runtimes is None and old.digest_ok and "runtimes" not in old.to_json()

    data["runtimes"] = {"rows": [{"runtime": "x", "variant": "fp32", "file": "model.onnx", "passed": "yes"}]}
    with pytest.raises(ExportError, match="section 'runtimes' is malformed"):
        ExportCard.from_json(data, "card")


class _Missing:
    @rnnzoo.hookimpl
    def rnnzoo_register_runtimes(self, register):
        def load(path, threads):
            raise AssertionError("never loaded: not installed")

        def version():
            raise ImportError("acme_rt is not installed")

        register(rnnzoo.RuntimeSpec(name="acme_rt", description="not installed here", load=load,
                                    version=version, available=lambda: "acme_rt is not installed: pip install acme"))


def test_a_runtime_that_is_not_installed_gets_a_skipped_row(exported) -> None:
    exp, model = exported
    register_plugin(_Missing(), "acme")
    net, meta = resolve_source(model)
    matrix = runtime_matrix(exp.folder, net, meta, None, latency=False, runtimes=["acme_rt", "onnxruntime"])
    acme = matrix.row("acme_rt")
    assert acme is not None and acme.skipped == "acme_rt is not installed: pip install acme"
    assert acme.version is None and not acme.loads and acme.passed is None
    assert matrix.row("onnxruntime").passed and all(v is None for v in matrix.row("onnxruntime").latency_ms.values())
    again = RuntimeMatrix.from_json(json.loads(json.dumps(matrix.to_json())))
    assert again == matrix


@pytest.mark.filterwarnings("ignore:No artists with labels")  # a row without training history: empty curves
def test_the_zoo_report_has_a_runtime_matrix(exported, tmp_path) -> None:
    exp, _ = exported
    row = ZooRow("gru_classifier", "classification", "sines", passed=True)
    row.runtimes = exp.card.runtimes.to_json()["rows"]
    row.runtimes.append({**row.runtimes[0], "runtime": "acme_rt", "variant": "fp32", "skipped": "not installed",
                         "loads": False, "passed": None})
    write_report(tmp_path, [row])
    report = (tmp_path / "REPORT.md").read_text()
    assert "## Runtime matrix" in report
    line = next(ln for ln in report.splitlines() if ln.startswith("| `gru_classifier` |") and "skipped" in ln)
    assert "pass " in line and " ms" in line
    header = next(ln for ln in report.splitlines() if ln.startswith("| model | ") and "onnxruntime" in ln)
    assert "acme_rt" in header and "other files pass" in header
    index = json.loads((tmp_path / "index.json").read_text())
    assert {r["runtime"] for r in index["runtime_matrix"]["gru_classifier"]} >= {"onnxruntime", "acme_rt"}
    assert "runtimes" not in index["models"][0]  # latencies are measurements: kept apart from the rows


def test_bench_runtime_adds_a_column_per_runtime(exported, tmp_path) -> None:
    exp, _ = exported
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "gru_classifier", "--exports", str(exp.folder.parent),
                                       "--repeats", "1", "--runtime", "onnxruntime,tract", "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = next(ln for ln in result.output.splitlines() if ln.startswith("model"))
    assert "onnxruntime ms" in header and "tract ms" in header
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 4 and all(set(r["runtimes_ms"]) == {"onnxruntime", "tract"} for r in rows)
    assert all(v is not None and v > 0 for r in rows for v in r["runtimes_ms"].values())


def test_bench_refuses_an_unknown_or_missing_runtime_before_timing(exported) -> None:
    exp, _ = exported
    result = CliRunner().invoke(main, ["bench", "--exports", str(exp.folder.parent), "--runtime", "nosuch"])
    assert result.exit_code == 2 and "unknown runtime 'nosuch'" in result.output


@pytest.fixture(scope="module")
def streaming_export(tmp_path_factory):
    model = rnnzoo.create_model("gru_regressor", input_size=3, output_size=1, hidden_size=8, num_layers=2)
    folder = tmp_path_factory.mktemp("rm_stream") / "gru_regressor"
    return rnnzoo.export(model, folder, int8=False, fp16=False, streaming=True), model


def test_the_streaming_graph_runs_chunk_by_chunk_on_every_runtime(streaming_export) -> None:
    """Every installed runtime with load_graph feeds the state back itself; each row is checked against PyTorch."""
    exp, _ = streaming_export
    matrix = exp.card.runtimes
    rows = {r.runtime: r for r in matrix.rows if r.variant == "streaming"}
    installed = {n for n in rnnzoo.list_runtimes() if rnnzoo.get_runtime(n).available() is None}
    assert set(rows) == set(rnnzoo.list_runtimes()) and {"onnxruntime", "reference"} <= installed
    tol = rnnzoo.get_spec("gru_regressor").tolerance
    for name in installed:
        row = rows[name]
        assert row.loads and row.file == "model.streaming.onnx" and row.reference == "pytorch", row
        assert row.max_abs is not None and row.max_abs <= tol.atol + tol.rtol, row
        assert row.passed is (True if rnnzoo.get_runtime(name).gate else None), row
        latency = row.latency_ms["batch1_step1"]
        assert (latency is None) if name == "reference" else (latency is not None and latency > 0), row


def test_a_runtime_without_load_graph_is_skipped_for_the_streaming_graph_only(streaming_export) -> None:
    exp, model = streaming_export

    class _PlainOnly:
        @rnnzoo.hookimpl
        def rnnzoo_register_runtimes(self, register):
            from rnnzoo.runtimes import onnxruntime as ort_rt

            register(rnnzoo.RuntimeSpec(name="acme_plain", description="x and lengths only", load=ort_rt.load,
                                        version=lambda: "1.0", available=lambda: None))

    register_plugin(_PlainOnly(), "acme-plain")
    net, meta = resolve_source(model)
    matrix = runtime_matrix(exp.folder, net, meta, None, latency=False, runtimes=["acme_plain"],
                            streaming=exp.card.streaming)
    assert matrix.row("acme_plain", "fp32").passed
    assert "load_graph" in matrix.row("acme_plain", "streaming").skipped
