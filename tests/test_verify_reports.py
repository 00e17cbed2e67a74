"""`rnnzoo verify FOLDER... --junit-xml/--json`: several exports in one call, one JUnit testcase per export x check
x runtime with the measured differences, the zoo's junit.xml, and the card's oldest onnxruntime."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.deploy.card import read_card
from rnnzoo.deploy.junit import junit_tree, write_junit
from rnnzoo.exporting import verify_all as verify_all_module
from rnnzoo.exporting.exporter import export
from rnnzoo.exporting.verify_all import zoo_reports


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("exports")
    for name, hp in (("gru_classifier", {}), ("rnn_regressor", {"bidirectional": True})):
        model = rnnzoo.create_model(name, input_size=3, output_size=2, **hp)
        export(model, root / name, int8=False, fp16=False)
    (root / "REPORT.md").write_text("not an export: a glob keeps folders only\n")
    return root


def _cases(xml: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in xml.iter("testcase")}


def test_glob_junit_has_a_testcase_per_export_check_and_runtime(exports, tmp_path) -> None:
    out = tmp_path / "reports" / "verify.xml"
    res = CliRunner().invoke(main, ["verify", f"{exports}/*", "--runtime", "onnxruntime,reference",
                                    "--junit-xml", str(out)])
    assert res.exit_code == 0, res.output
    xml = ET.parse(out).getroot()
    assert [s.get("name") for s in xml.iter("testsuite")] == [str(exports / "gru_classifier"),
                                                              str(exports / "rnn_regressor")]
    assert xml.get("failures") == "0" and int(xml.get("tests", "0")) == len(list(xml.iter("testcase")))
    cases = _cases(xml)
    for runtime in ("onnxruntime", "reference"):
        case = cases[("rnnzoo.verify.gru_classifier", f"test_data_set_0 [{runtime}]")]
        assert "max abs diff" in case.findtext("system-out", "")
        assert ("rnnzoo.verify.rnn_regressor", f"parity:batch1_len1 [{runtime}]") in cases
    assert ("rnnzoo.verify.gru_classifier", "files") in cases and ("rnnzoo.verify.gru_classifier", "card") in cases


def test_one_unreadable_folder_fails_alone_and_json_lists_every_export(exports, tmp_path) -> None:
    (tmp_path / "not_an_export").mkdir()
    out = tmp_path / "v.xml"
    res = CliRunner().invoke(main, ["verify", str(exports / "gru_classifier"), str(tmp_path / "not_an_export"),
                                    "--no-parity", "--json", "--junit-xml", str(out)])
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert doc["passed"] is False and [r["passed"] for r in doc["exports"]] == [True, False]
    assert "card.json is missing" in doc["exports"][1]["error"]
    xml = ET.parse(out).getroot()
    assert xml.get("errors") == "1" and xml.get("failures") == "0"
    error = next(c for c in xml.iter("testcase") if c.find("error") is not None)
    assert "card.json is missing" in error.find("error").get("message", "")  # type: ignore[union-attr]


def test_one_folder_json_is_its_report_as_before(exports) -> None:
    res = CliRunner().invoke(main, ["verify", str(exports / "gru_classifier"), "--no-parity", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["folder"] == str(exports / "gru_classifier")


def test_a_glob_that_matches_no_folder_is_a_usage_error(tmp_path) -> None:
    res = CliRunner().invoke(main, ["verify", f"{tmp_path}/nothing*"])
    assert res.exit_code == 2 and "no folder matches" in res.output


def test_a_failed_check_carries_its_measured_difference_in_the_message() -> None:
    report = {"folder": "exports/m", "model": "m", "problems": ["..."], "passed": False,
              "test_data_sets": [{"name": "test_data_set_0", "passed": False, "max_abs": 0.25, "max_rel": 0.5}]}
    xml = junit_tree([report]).getroot()
    failure = next(c for c in xml.iter("testcase") if c.get("name") == "test_data_set_0 [onnxruntime]").find("failure")
    assert failure is not None and failure.get("message") == "max abs diff 0.25, max rel diff 0.5"
    assert xml.get("failures") == "1"


def test_zoo_junit_reports_each_model_and_a_failed_one(exports, tmp_path) -> None:
    out = write_junit(tmp_path / "junit.xml", zoo_reports(exports, [("gru_classifier", ""),
                                                                     ("lstm_classifier", "ValueError: boom")]),
                      name="rnnzoo zoo")
    xml = ET.parse(out).getroot()
    assert xml.get("name") == "rnnzoo zoo" and xml.get("errors") == "1"
    cases = _cases(xml)
    assert ("rnnzoo.verify.gru_classifier", "parity:batch1_len1 [reference]") in cases  # from the fresh card
    assert cases[("rnnzoo.verify.lstm_classifier", "verify")].find("error").get("message") == "ValueError: boom"  # type: ignore[union-attr]
    assert not list(tmp_path.glob(".junit.xml.*"))  # written atomically: no temp left


def test_card_states_the_oldest_onnxruntime_and_verify_refuses_an_older_one(exports, monkeypatch) -> None:
    assert read_card(exports / "gru_classifier").header["rnnzoo.min_onnxruntime"] == "1.18.0"
    header = read_card(exports / "rnn_regressor").header  # bidirectional: measured failing before 1.24.1
    assert header["rnnzoo.min_onnxruntime"] == "1.24.1" and "backward" in header["rnnzoo.min_onnxruntime_why"][0]
    monkeypatch.setattr(verify_all_module, "_installed_onnxruntime", lambda: "1.23.2")
    res = CliRunner().invoke(main, ["verify", str(exports / "rnn_regressor"), str(exports / "gru_classifier"),
                                    "--no-parity"])
    assert res.exit_code == 1
    assert "onnxruntime 1.23.2 is older than 1.24.1" in res.output and "pip install 'onnxruntime>=1.24.1'" in res.output
    assert f"{exports / 'gru_classifier'}: ok" in res.output


def test_the_zoo_writes_the_xml_beside_its_report(exports) -> None:
    from rnnzoo.zoo.run import ZooRow, write_report

    write_report(exports, [ZooRow("gru_classifier", "classification", passed=True),
                           ZooRow("lstm_classifier", "classification", error="ValueError: boom")])
    xml = ET.parse(exports / "junit.xml").getroot()
    assert (exports / "REPORT.md").is_file() and xml.get("name") == "rnnzoo zoo"
    assert [s.get("name") for s in xml.iter("testsuite")] == [str(exports / "gru_classifier"),
                                                              str(exports / "lstm_classifier")]
