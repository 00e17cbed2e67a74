"""Nothing of the user's is deleted or overwritten by surprise, and two writers never interleave silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rnnzoo
from rnnzoo.core.locks import exclusive
from rnnzoo.errors import BusyError, ExportError


@pytest.fixture(scope="module")
def model() -> object:
    return rnnzoo.create_model("gru_classifier", input_size=2, output_size=3)


def _export(model: object, out: Path) -> None:
    rnnzoo.export(model, out, int8=False, fp16=False)


def test_a_folder_with_a_stray_card_json_is_not_taken_for_an_export(model, tmp_path: Path) -> None:
    web = tmp_path / "web"
    (web / "src").mkdir(parents=True)
    (web / "card.json").write_text("{}")
    (web / "src" / "app.py").write_text("x")
    with pytest.raises(ExportError, match="not an rnnzoo export folder"):
        _export(model, web)
    assert (web / "src" / "app.py").read_text() == "x" and (web / "card.json").read_text() == "{}"


def test_re_export_refuses_to_delete_the_users_files_and_names_them(model, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    _export(model, out)
    (out / "NOTES.md").write_text("mine")
    (out / "deploy").mkdir()
    (out / "deploy" / "run.sh").write_text("mine too")
    before = json.loads((out / "card.json").read_text())["files"]
    with pytest.raises(ExportError, match=r"files the previous export did not write \(NOTES.md, deploy/run.sh\)"):
        _export(model, out)
    assert (out / "NOTES.md").read_text() == "mine" and (out / "deploy" / "run.sh").exists()
    assert json.loads((out / "card.json").read_text())["files"] == before  # the old export is untouched
    (out / "NOTES.md").unlink()
    (out / "deploy" / "run.sh").unlink()
    (out / "deploy").rmdir()
    _export(model, out)  # a folder holding only its own files is replaced


def test_exporting_into_the_working_directory_is_refused(model, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExportError, match="working directory or one of its parents"):
        _export(model, Path("."))
    with pytest.raises(ExportError, match="working directory or one of its parents"):
        _export(model, Path(".."))
    assert list(tmp_path.iterdir()) == []  # no hidden staging folder left behind


def test_a_stale_staging_folder_of_a_killed_export_is_cleaned(model, tmp_path: Path) -> None:
    stale = tmp_path / ".exp.abc123.export"
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"half")
    _export(model, tmp_path / "exp")
    assert not stale.exists() and (tmp_path / "exp" / "card.json").is_file()


def test_a_second_writer_gets_a_clear_busy_error(tmp_path: Path) -> None:
    lock = tmp_path / ".exp.lock"
    with exclusive(lock, "export folder exp"), pytest.raises(BusyError, match="being written by another rnnzoo"), \
            exclusive(lock, "export folder exp"):
        pass
    with exclusive(lock, "export folder exp"):  # released: free again
        pass


def test_an_export_while_another_holds_the_folder_is_refused(model, tmp_path: Path) -> None:
    with exclusive(tmp_path / ".exp.lock", "export folder exp"), pytest.raises(BusyError):
        _export(model, tmp_path / "exp")
    assert not (tmp_path / "exp").exists()
