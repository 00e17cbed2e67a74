"""The bad-input catalogue, second part (README, "Bad input and the error it gets"): hostile inputs to every stage.

Each row asserts the exception class and the words that tell the user what
was wrong; rows that could write a file also assert that nothing of the
user's was changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import rnnzoo
from rnnzoo.data.builtin import sines
from rnnzoo.errors import (
    CheckpointError,
    DataError,
    ExportError,
    InvalidHyperparameterError,
    PluginError,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exp") / "gru"
    result = rnnzoo.train("gru_classifier", sines(n=60, max_len=12), epochs=1, quiet=True)
    rnnzoo.export(result, folder, int8=False, fp16=False, data=result.splits.val)
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("files")
    (root / "latin1.csv").write_bytes("id,time,signal,noise\na,0,1,2\nb,0,3,4 caf\xe9\n".encode("latin-1"))
    (root / "huge_field.csv").write_text("id,time,signal,label\na,0,1,x\nb,0," + "9" * 200_000 + ",y\n")
    (root / "latin1.ts").write_bytes("@problemName x\n@classLabel true a b\n@data\n1,2:a \xe9\n".encode("latin-1"))
    np.savez(root / "zero_d.npz", X=np.float32(3.0))
    np.savez(root / "complex.npz", X=np.ones((2, 3, 2), np.complex64))
    np.savez(root / "ok.npz", X=np.ones((2, 3, 2), np.float32))
    return root


def _train(**settings: object) -> object:
    return rnnzoo.train("gru_classifier", sines(n=40, max_len=16), epochs=1, quiet=True, **settings)


CATALOGUE: list[tuple[str, Callable[[Path], object], type[Exception], str]] = [
    ("seed below zero", lambda f: _train(seed=-1), InvalidHyperparameterError,
     r"seed must be an int in \[0, 2\*\*32\)"),
    ("seed beyond 2**32", lambda f: _train(seed=2**70), InvalidHyperparameterError, "seed must be an int"),
    ("device that does not exist", lambda f: _train(device="bogus"), InvalidHyperparameterError,
     "device 'bogus' is not a torch device"),
    ("lr that is NaN", lambda f: _train(lr=float("nan")), InvalidHyperparameterError, "lr must be a finite number"),
    ("a model far too big to allocate", lambda f: rnnzoo.create_model(
        "lstm_classifier", input_size=2, output_size=2, hidden_size=10**6), InvalidHyperparameterError,
     "over the limit of 50,000,000; use a smaller model, or raise the limit with RNNZOO_MAX_PARAMETERS"),
    ("CSV that is not UTF-8", lambda f: rnnzoo.load_file(f / "latin1.csv", task="regression"), DataError,
     "not UTF-8 text near line"),
    ("CSV field over 131,072 characters", lambda f: rnnzoo.load_file(f / "huge_field.csv", task="classification"),
     DataError, "field larger than field limit"),
    (".ts file that is not UTF-8", lambda f: rnnzoo.load_file(f / "latin1.ts"), DataError, "not UTF-8 text near"),
    ("0-d X in a .npz", lambda f: rnnzoo.load_file(f / "zero_d.npz", task="regression"), DataError,
     r"X must be \[N, T, F\]"),
]


@pytest.mark.parametrize(("case", "call", "error", "message"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_input_gets_a_named_error(files: Path, case: str, call: Callable[[Path], object],
                                      error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call(files)


def test_an_npz_that_would_inflate_past_the_limit_is_refused_before_reading(files: Path, monkeypatch) -> None:
    monkeypatch.setenv("RNNZOO_MAX_INPUT_BYTES", "40")  # ok.npz declares 48 bytes of float32
    with pytest.raises(DataError, match=r"over the 0\.0 GiB limit; split the file, or raise the limit with "
                                        r"RNNZOO_MAX_INPUT_BYTES"):
        rnnzoo.load_file(files / "ok.npz", task="regression")


@pytest.mark.parametrize("data", ["zero_d.npz", "complex.npz", "latin1.csv"])
def test_predict_reads_files_as_strictly_as_train(exported: Path, files: Path, data: str) -> None:
    with pytest.raises(DataError):
        rnnzoo.predict(exported, files / data)


@pytest.mark.parametrize(("out", "message"), [
    ("preds.txt", "predictions are written as .csv, .npy, .json"),
    ("{export}/model.onnx", "predictions are written as .csv, .npy, .json"),
    ("{export}/card.json", "would overwrite"),
    ("{export}/preds.csv", "would overwrite"),
    ("{data}", "would overwrite"),
])
def test_predict_never_overwrites_the_model_or_the_input(exported: Path, files: Path, tmp_path: Path, out: str,
                                                         message: str) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    data = tmp_path / "in.csv"
    data.write_text("id,time,signal,noise\na,0,1,2\na,1,3,4\n")
    before = {p: p.read_bytes() for p in [*work.rglob("*.onnx"), work / "card.json", data]}
    target = Path(out.format(export=work, data=data)) if "{" in out else tmp_path / out
    with pytest.raises(DataError, match=message):
        rnnzoo.predict(work, data, out=target)
    assert {p: p.read_bytes() for p in before} == before


def _edit_card(folder: Path, edit: Callable[[dict], None]) -> None:
    """Edit the card like a careful attacker would: fix the file hashes and the card's own digest too."""
    from rnnzoo.deploy.card import ExportCard
    from rnnzoo.exporting.exporter import write_card

    card = json.loads((folder / "card.json").read_text())
    edit(card)
    write_card(folder, ExportCard.from_json(card, "card"))


def test_a_model_that_emits_nan_gives_no_predictions(exported: Path, files: Path, tmp_path: Path) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    proto = onnx.load(str(work / "model.onnx"))
    bias = next(i for i in proto.graph.initializer if i.name.endswith("bias") or "fc" in i.name)
    arr = onnx.numpy_helper.to_array(bias).copy()
    arr[...] = np.nan
    bias.CopyFrom(onnx.numpy_helper.from_array(arr, bias.name))
    onnx.save(proto, str(work / "model.onnx"))
    _edit_card(work, lambda c: None)
    out = tmp_path / "p.csv"
    with pytest.raises(ExportError, match="produced NaN or inf for rows 0, 1"):
        rnnzoo.predict(work, files / "ok.npz", out=out)
    assert not out.exists()


def test_a_model_wider_than_its_card_gives_no_predictions(exported: Path, files: Path, tmp_path: Path) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    _edit_card(work, lambda c: (c["source_metadata"].update(output_size=8, label_names=None)))
    with pytest.raises(ExportError, match=r"returned shape \[2, 4\] but its card says 8 outputs"):
        rnnzoo.predict(work, files / "ok.npz")


def test_onnx_with_external_data_is_refused(exported: Path, files: Path, tmp_path: Path) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    proto = onnx.load(str(work / "model.onnx"))
    onnx.save_model(proto, str(work / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="w.bin", size_threshold=0)
    _edit_card(work, lambda c: None)  # even with hashes and digest fixed, w.bin is not covered: refused
    with pytest.raises(ExportError, match=r"reads weights from external data files"):
        rnnzoo.predict(work, files / "ok.npz")


@pytest.mark.parametrize(("write", "message"), [
    (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "not valid UTF-8 JSON"),
    (lambda p: p.write_bytes(b'{"files": "\xff\xfe"}'), "not valid UTF-8 JSON"),
    (lambda p: p.write_text(json.dumps({"files": {}, "source_metadata": {"model": "x"}})), "metadata is missing"),
])
def test_a_broken_card_is_one_export_error(exported: Path, tmp_path: Path, write: Callable[[Path], object],
                                           message: str) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    write(work / "card.json")
    with pytest.raises(ExportError, match=message):
        rnnzoo.verify(work)


@pytest.mark.parametrize("stray", ["test_data_set_1/", "test_data_set_9"])
def test_a_stray_test_data_set_fails_verify_without_a_traceback(exported: Path, tmp_path: Path, stray: str) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    if stray.endswith("/"):
        (work / stray).mkdir()
    else:
        (work / stray).write_text("garbage")
    report = rnnzoo.verify(work, parity=False)
    assert not report["passed"]
    assert any("not written by the export" in p for p in report["problems"])


def test_a_garbage_test_tensor_is_a_failed_case(exported: Path, tmp_path: Path) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    (work / "test_data_set_0" / "input_0.pb").write_bytes(b"\x08\x01garbage")
    _edit_card(work, lambda c: None)
    report = rnnzoo.verify(work, parity=False)
    assert not report["passed"] and report["test_data_sets"][0]["max_abs"] is None


def test_an_onnxruntime_run_error_is_an_export_error(exported: Path) -> None:
    from rnnzoo.deploy.runtime import make_session, run_session

    session = make_session(exported / "model.onnx")
    with pytest.raises(ExportError, match=r"onnxruntime failed to run the model on x \[2, 3, 5\]"):
        run_session(session, np.ones((2, 3, 5), np.float32), np.array([3, 3]))


def test_checkpoint_header_with_a_huge_model_fails_fast(exported: Path, tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(exported / "checkpoint.safetensors"), framework="pt") as fh:
        header, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    meta = json.loads(header["rnnzoo"])
    meta["hparams"]["hidden_size"] = 20_000
    save_file(tensors, str(tmp_path / "big.safetensors"), metadata={**header, "rnnzoo": json.dumps(meta)})
    with pytest.raises(CheckpointError, match=r"cannot rebuild model.*over the limit"):
        rnnzoo.load_checkpoint(tmp_path / "big.safetensors")


def test_label_names_that_do_not_fit_the_classes_are_refused_at_training_time() -> None:
    data = sines(n=40, max_len=16)
    data.label_names = [0, 1, 2, 3]
    with pytest.raises(DataError, match="label_names must be a list of non-empty strings"):
        rnnzoo.train("gru_classifier", data, epochs=1, quiet=True)


@pytest.mark.parametrize(("returned", "message"), [("None", "build\\(\\) returned NoneType, not a torch.nn.Module")])
def test_a_plugin_build_that_returns_no_module_names_the_plugin(fake_dist, returned: str, message: str) -> None:
    fake_dist("acme-bad", "acme_bad", f"""
        import rnnzoo

        @rnnzoo.hookimpl
        def rnnzoo_register_models(register):
            register(rnnzoo.ModelSpec(name="acme_none", task="regression", build=lambda i, o: {returned},
                                      description="returns nothing"))
    """)
    from rnnzoo.core import plugins

    plugins.reload(strict=False)
    with pytest.raises(PluginError, match=f"acme_none.*acme-bad.*{message}"):
        rnnzoo.create_model("acme_none", input_size=2, output_size=1)


def test_a_plugin_dataset_loader_returning_a_dict_names_the_plugin(fake_dist) -> None:
    fake_dist("acme-data", "acme_data", """
        import rnnzoo

        @rnnzoo.hookimpl
        def rnnzoo_register_datasets(register):
            register(rnnzoo.DatasetSpec(name="acme_dict", task="regression", load=lambda: {"X": 1},
                                        description="a dict"))
    """)
    from rnnzoo.core import plugins

    plugins.reload(strict=False)
    with pytest.raises(PluginError, match=r"acme_dict.*acme-data.*not an rnnzoo\.SequenceDataset"):
        rnnzoo.load_dataset("acme_dict")


@pytest.mark.parametrize(("source", "why"), [
    ("import sys\nsys.exit(3)\n", "SystemExit"),
    ("import rnnzoo\n@rnnzoo.hookimpl\ndef rnnzoo_register_models(register):\n    raise SystemExit(1)\n",
     "rnnzoo_register_models raised SystemExit"),
])
def test_a_plugin_calling_sys_exit_is_a_plugin_failure_not_the_end(fake_dist, source: str, why: str) -> None:
    fake_dist("acme-exit", "acme_exit", source)
    from rnnzoo.core import plugins

    with pytest.warns(RuntimeWarning, match="acme-exit"):
        plugins.reload(strict=False)
    record = next(r for r in rnnzoo.list_plugins() if r["distribution"] == "acme-exit")
    assert record["status"] == "error" and why in record["errors"][0]
    assert "gru_classifier" in rnnzoo.list_models()  # everyone else still works


@pytest.mark.parametrize(("name", "description"), [
    ("gru_classifier\n", "fine"), ("acme_ansi", "red \x1b[31mtext"), ("acme_cr", "one\rtwo")])
def test_names_and_descriptions_cannot_forge_output(name: str, description: str) -> None:
    with pytest.raises(PluginError, match=r"invalid|printable"):
        rnnzoo.ModelSpec(name=name, task="regression", build=lambda i, o: None, description=description)


def test_new_plugin_on_a_failing_disk_leaves_nothing_half_written(tmp_path: Path, monkeypatch) -> None:
    from rnnzoo import scaffold

    real = Path.write_text
    calls = []

    def fail_third(self: Path, *args: object, **kwargs: object) -> int:
        calls.append(self)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(self))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", fail_third)
    with pytest.raises(OSError, match="No space left"):
        scaffold.new_plugin("acme", tmp_path)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    assert (scaffold.new_plugin("acme", tmp_path) / "pyproject.toml").is_file()  # a rerun works


def test_cli_os_errors_are_one_line_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = subprocess.run([sys.executable, "-m", "rnnzoo", "train", "gru_regressor", "--data", "next_value",
                          "--epochs", "1", "--quiet", "--out", str(blocker / "run")],
                         capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ") and str(blocker) in res.stderr
    assert "Traceback" not in res.stderr


def test_torch_is_not_needed_to_read_a_card(exported: Path) -> None:
    """The card reader is part of the deploy layer (checked by the import contract too)."""
    code = ("import sys; sys.modules['torch'] = None\n"
            f"from rnnzoo.deploy.card import read_card; print(read_card({str(exported)!r}).meta.model)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "gru_classifier", res.stderr
    assert torch.__version__  # torch is here for the rest of the suite


def test_a_second_run_into_the_same_folder_is_refused_at_once(tmp_path: Path) -> None:
    from rnnzoo.core.locks import exclusive
    from rnnzoo.errors import BusyError

    with exclusive(tmp_path / ".rnnzoo.lock", "run folder"), pytest.raises(BusyError, match="another rnnzoo"):
        _train(out_dir=str(tmp_path))
    assert not (tmp_path / "model.safetensors").exists()


def test_resume_refuses_other_data_under_the_same_file_name(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        x = np.random.default_rng(seed).normal(size=(30, 8, 2)).astype(np.float32)
        np.savez(path, X=x, y=rng.integers(0, 2, 30))
        if seed == 0:
            rnnzoo.train("gru_classifier", path, epochs=1, quiet=True, out_dir=str(tmp_path / "run"))
    with pytest.raises(CheckpointError, match="data_sha256 differ"):
        rnnzoo.train("gru_classifier", path, epochs=2, quiet=True, out_dir=str(tmp_path / "run"), resume=True)


class _TooWide(torch.nn.Module):
    def __init__(self, input_size: int, output_size: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(input_size, 2 * output_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(x[:, 0])


def test_a_plugin_model_with_the_wrong_output_width_fails_before_training() -> None:
    from rnnzoo.core import plugins

    class Wide:
        @rnnzoo.hookimpl
        def rnnzoo_register_models(self, register):
            register(rnnzoo.ModelSpec(name="acme_wide", task="classification", build=_TooWide,
                                      description="twice too many logits"))

    plugins.register_plugin(Wide(), "wide", distribution="acme-wide")
    with pytest.raises(PluginError,
                       match=r"acme_wide \(from acme-wide\): forward returned \[2, 8\], expected \[2, 4\]"):
        rnnzoo.train("acme_wide", sines(n=40, max_len=16), epochs=1, quiet=True)


def test_a_card_that_records_a_failed_check_fails_verify_and_is_not_served(exported: Path, files: Path,
                                                                            tmp_path: Path) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    _edit_card(work, lambda c: c["parity"]["cases"][0].update(passed=False, max_abs=float("inf")))
    report = rnnzoo.verify(work, parity=False)
    assert not report["passed"] and any("parity FAILED" in p for p in report["problems"])
    with pytest.raises(ExportError, match="is a failed export"):
        rnnzoo.predict(work, files / "ok.npz")


def test_a_failed_export_never_deletes_a_users_dot_failed_folder(exported: Path, tmp_path: Path,
                                                                 monkeypatch) -> None:
    import rnnzoo.exporting.parity
    from rnnzoo.deploy.compare import Case, ParityReport

    (tmp_path / "exp.failed").mkdir()
    (tmp_path / "exp.failed" / "notes.txt").write_text("mine")
    failed = ParityReport("gru_classifier", 1e-4, 1e-3, [Case("simulated", "onnxruntime", [1], 1.0, 1.0, False)])
    monkeypatch.setattr(rnnzoo.exporting.parity, "check_parity", lambda *a, **k: failed)
    with pytest.raises(ExportError, match="not an rnnzoo export folder"):
        rnnzoo.export(rnnzoo.load_checkpoint(exported / "checkpoint.safetensors"), tmp_path / "exp",
                      int8=False, fp16=False)
    assert (tmp_path / "exp.failed" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("variable", "call"), [
    ("RNNZOO_MAX_PARAMETERS", lambda f: rnnzoo.create_model("gru_classifier", input_size=2, output_size=2)),
    ("RNNZOO_MAX_INPUT_BYTES", lambda f: rnnzoo.load_file(f / "ok.npz", task="regression")),
])
def test_a_malformed_limit_in_the_environment_is_named(files: Path, monkeypatch, variable: str,
                                                       call: Callable[[Path], object]) -> None:
    monkeypatch.setenv(variable, "4GiB")
    with pytest.raises((InvalidHyperparameterError, DataError), match=f"{variable}='4GiB' is not a whole number"):
        call(files)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["checks"].update(problems=5), "section 'checks' is malformed"),
    (lambda c: c["parity"]["cases"][0].update(passed="no"), "section 'parity' is malformed"),
    (lambda c: c.pop("card_sha256"), "has no card_sha256: it was written before rnnzoo recorded one"),
])
def test_card_sections_of_the_wrong_type_are_refused_when_read(exported: Path, tmp_path: Path,
                                                              edit: Callable[[dict], object], message: str) -> None:
    from rnnzoo.deploy.card import content_digest

    work = tmp_path / "exp"
    shutil.copytree(exported, work)
    card = json.loads((work / "card.json").read_text())
    edit(card)
    if "card_sha256" in card:
        card["card_sha256"] = content_digest(card)  # a careful editor: only the types are wrong
    (work / "card.json").write_text(json.dumps(card))
    with pytest.raises(ExportError, match=message):
        rnnzoo.verify(work, parity=False)
