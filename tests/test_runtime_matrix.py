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
    assert {r.variant for r in matrix.rows} == {"fp32", "int8", "fp16"}

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
    assert "acme_rt" in header and "int8/fp16 agree" in header
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
