"""LiteRT: `rnnzoo export --litert BATCHxTIME` converts for real (onnx2tf + TensorFlow, the `litert` extra) into a
builtin-ops-only model.tflite with parity, and the `litert` runtime runs it in plain ai_edge_litert, padding to
the fixed shape and refusing what does not fit or needs Flex ops.

The three conversions (rnn classifier, per-step lstm regressor, 2-layer bidirectional gru classifier) are the
slow part (~5 s of CPU each).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.deploy.card import LITERT_FILE, LITERT_VARIANT_FILES, MODEL_FILE, read_card
from rnnzoo.errors import DataError, ExportError, MissingDependencyError
from rnnzoo.exporting import litert as convert
from rnnzoo.runtimes import litert

FLEX_FIXTURE = Path(__file__).parent / "data" / "litert_flex.tflite"  # benchmarks/litert/make_flex_fixture.py
FEATURES, HIDDEN = 3, 8
ASKED = (3, 7)  # batch 3 == 3 features: onnx2tf would misread the layout, so the file gets batch 4 (see below)
BATCH, TIME = 4, 7  # the file's fixed shape
CASES = {"rnn": ("rnn_classifier", {}), "lstm": ("lstm_regressor", {"per_step": True}),  # [batch, time, 2] out
         "gru_bidir2": ("gru_classifier", {"num_layers": 2, "bidirectional": True})}


def _model(name: str, **hparams: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return rnnzoo.create_model(name, input_size=FEATURES, output_size=2, hidden_size=HIDDEN, **hparams)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The rnn one goes through the CLI (`rnnzoo export CKPT --litert 3x7`), the others through the API."""
    root = tmp_path_factory.mktemp("litert")
    out = {}
    for label, (name, hp) in CASES.items():
        if label == "rnn":
            plain = rnnzoo.export(_model(name, **hp), root / "rnn_plain", int8=False, fp16=False, validate=False)
            result = CliRunner().invoke(main, ["export", str(plain.folder / "checkpoint.safetensors"), "--out",
                                               str(root / label), "--no-int8", "--no-fp16",
                                               "--litert", "{}x{}".format(*ASKED), "--json"])
            assert result.exit_code == 0, result.output
            assert json.loads(result.output)["litert"]["file"] == LITERT_FILE
            out[label] = root / label
        else:
            with pytest.MonkeyPatch.context() as mp:  # the converter Python named explicitly (here: this one)
                if label == "lstm":
                    mp.setenv(convert.PYTHON_ENV, sys.executable)
                out[label] = rnnzoo.export(_model(name, **hp), root / label, int8=False, fp16=False,
                                           litert=ASKED, data=_short_data() if label == "gru_bidir2" else None).folder
    return out


def _short_data() -> rnnzoo.SequenceDataset:
    """Sequences that fit the file's fixed time, so verify can run the stored test_data_set in model.tflite."""
    rng = np.random.default_rng(3)
    seqs = [rng.normal(size=(int(n), FEATURES)).astype(np.float32) for n in rng.integers(1, TIME + 1, 12)]
    return rnnzoo.SequenceDataset.from_sequences(seqs, rng.integers(0, 2, 12), "classification", name="short")


@pytest.mark.parametrize("label", list(CASES))
def test_export_writes_builtin_only_tflite_with_parity(exports: dict[str, Path], label: str) -> None:
    folder = exports[label]
    card = read_card(folder)
    lite = card.litert
    assert card.passed and card.digest_ok and lite is not None
    assert lite["file"] == LITERT_FILE and LITERT_FILE in card.files  # hashed like every file of the export
    assert lite["shape"] == {"batch": BATCH, "time": TIME, "features": FEATURES}
    assert lite["requested"] == {"batch": ASKED[0], "time": ASKED[1]}
    assert lite["ops"] == litert.tflite_ops(folder / LITERT_FILE) and lite["non_builtin_ops"] == []
    assert litert.non_builtin_ops(lite["ops"]) == [] and {"FULLY_CONNECTED", "TANH"} <= set(lite["ops"])
    assert lite["converter"]["versions"]["onnx2tf"] == "1.28.8"
    parity = lite["parity"]
    assert parity["passed"] and {c["name"] for c in parity["cases"]} == {"full", "ragged", "smaller",
                                                                          "large_values", "data"}
    assert all(c["max_abs_vs_pytorch"] < 1e-5 and c["max_abs_vs_onnxruntime"] < 1e-5 for c in parity["cases"])
    smaller = next(c for c in parity["cases"] if c["name"] == "smaller")
    assert smaller["batch"] < BATCH and smaller["time"] < TIME  # the runtime padded it to the file's shape
    for name, file in LITERT_VARIANT_FILES.items():  # float16 weights; dynamic-range int8
        entry = lite["variants"][name]
        assert entry["written"] and entry["file"] == file and file in card.files, entry
        assert entry["ops"] == litert.tflite_ops(folder / file) and not litert.non_builtin_ops(entry["ops"])
        assert entry["rel_error_vs_fp32"] < 0.05  # reduced precision, not broken
        assert (entry["max_abs_vs_fp32"] == 0) == ("note" in entry)  # unchanged outputs are said so
        if card.meta.task == "classification":
            assert entry["argmax_agreement"] >= 0.8
    assert "DEQUANTIZE" in lite["variants"]["fp16"]["ops"]  # float16 weights, float32 compute


@pytest.mark.parametrize("label", list(CASES))
def test_runtime_matches_onnxruntime_on_fresh_ragged_batches(exports: dict[str, Path], label: str) -> None:
    folder = exports[label]
    run = rnnzoo.get_runtime("litert").load(folder / LITERT_FILE, 1)
    session = ort.InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    for batch, steps in [(1, 1), (1, TIME), (2, 4), (BATCH, TIME), (BATCH, 2)]:
        lengths = rng.integers(1, steps + 1, size=batch).astype(np.int64)
        x = rng.standard_normal((batch, steps, FEATURES)).astype(np.float32)
        got = run(x, lengths)
        want = session.run(None, {"x": x, "lengths": lengths})[0]
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-5, (batch, steps)


def test_shapes_that_do_not_fit_are_refused_naming_the_fixed_shape(exports: dict[str, Path], tmp_path: Path) -> None:
    run = litert.load(exports["lstm"] / LITERT_FILE)
    assert litert.fixed_shape(exports["lstm"] / LITERT_FILE) == (BATCH, TIME, FEATURES)
    fits = np.zeros((BATCH, TIME, FEATURES), np.float32)
    with pytest.raises(DataError, match=rf"fixed shape \[batch={BATCH}, time={TIME}, features={FEATURES}\]"):
        run(np.zeros((1, TIME + 1, FEATURES), np.float32), np.ones(1, np.int64))
    # a larger batch runs in slices of the fixed batch: the same rows as one at a time
    rng = np.random.default_rng(0)
    big, big_len = rng.normal(size=(2 * BATCH + 1, TIME, FEATURES)).astype(np.float32), rng.integers(1, TIME + 1, 9)
    np.testing.assert_array_equal(run(big, big_len), np.concatenate([run(big[i : i + 1], big_len[i : i + 1])
                                                                    for i in range(len(big))]))
    with pytest.raises(DataError, match=rf"x \[batch, time, {FEATURES}\]"):
        run(fits[..., :2], np.ones(BATCH, np.int64))
    with pytest.raises(DataError, match=r"lengths must lie in 1\.\.7"):
        run(fits, np.array([0, 1, 1, 1]))
    with pytest.raises(ExportError, match=r"runs \.tflite files, not model\.onnx"):
        litert.load(exports["lstm"] / MODEL_FILE)
    broken = tmp_path / "broken.tflite"
    for blob in (b"", b"garbage" * 10, (exports["lstm"] / LITERT_FILE).read_bytes()[:200]):
        broken.write_bytes(blob)
        with pytest.raises(ExportError, match=r"not a readable \.tflite file"):
            litert.load(broken)


def test_flex_ops_are_refused_by_the_runtime_and_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from ai_edge_litert.interpreter import Interpreter

    assert litert.tflite_ops(FLEX_FIXTURE) == ["CAST", "DIV", "FlexCumprod", "RESHAPE", "SUM"]
    with pytest.raises(RuntimeError, match="Select TensorFlow op"):  # why rnnzoo refuses such a file up front
        Interpreter(model_path=str(FLEX_FIXTURE)).allocate_tensors()
    with pytest.raises(ExportError, match="ops that plain LiteRT does not have: FlexCumprod"):
        litert.load(FLEX_FIXTURE)

    def flex_converter(python: str, static: Path, out_dir: Path) -> tuple[Path, dict[str, Path], dict[str, str]]:
        assert static.is_file()  # the fixed-shape, folded ONNX file was made; the converter "emitted" Flex ops
        return FLEX_FIXTURE, {}, {"onnx2tf": "test"}

    monkeypatch.setattr(convert, "run_converter", flex_converter)
    target = tmp_path / "flex"
    with pytest.raises(ExportError, match=r"FlexCumprod.*--litert BATCHxTIME"):
        rnnzoo.export(_model("rnn_classifier"), target, int8=False, fp16=False, litert="2x5")
    assert not target.exists()  # nothing half-written is left as an export


def test_a_variant_with_flex_ops_is_left_out_and_the_export_goes_on(
        exports: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = exports["rnn"] / LITERT_FILE  # the float32 file of this same (seeded) model

    def converter(python: str, static: Path, out_dir: Path) -> tuple[Path, dict[str, Path], dict[str, str]]:
        return good, {"int8": FLEX_FIXTURE}, {"onnx2tf": "test"}

    monkeypatch.setattr(convert, "run_converter", converter)
    result = rnnzoo.export(_model("rnn_classifier"), tmp_path / "e", int8=False, fp16=False, litert=ASKED)
    entry = result.card.litert["variants"]["int8"]
    assert result.card.passed and not entry["written"] and "FlexCumprod" in entry["why"]
    assert not (tmp_path / "e" / LITERT_VARIANT_FILES["int8"]).exists()


def test_bad_shapes_and_missing_converter_fail_before_exporting(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert convert.parse_shape("1x128") == (1, 128) and convert.parse_shape((4, 12)) == (4, 12)
    for bad in ("1x", "0x5", "2x0", "axb", (1, 2, 3), (True, 5), "5000x1"):
        with pytest.raises(ExportError, match="litert"):
            convert.parse_shape(bad)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="BATCHxTIME"):
        rnnzoo.export(_model("gru_classifier"), tmp_path / "bad", litert="12")
    monkeypatch.setenv(convert.PYTHON_ENV, str(tmp_path / "no-python"))
    with pytest.raises(MissingDependencyError, match="RNNZOO_LITERT_PYTHON"):
        rnnzoo.export(_model("gru_classifier"), tmp_path / "bad", litert="1x8")
    assert not (tmp_path / "bad").exists()
    result = CliRunner().invoke(main, ["export", "missing.safetensors", "--litert", "0x5"])
    assert result.exit_code != 0


def test_verify_runs_model_tflite_and_skips_an_export_without_one(exports: dict[str, Path]) -> None:
    report = rnnzoo.verify(exports["gru_bidir2"], parity=False, runtimes="all")
    rows = [r for r in report["runtimes"] if r["runtime"] == "litert"]
    assert report["passed"], report["problems"]
    assert [(r["file"], r["passed"]) for r in rows] == [(LITERT_FILE, True)] and rows[0]["max_abs"] < 1e-5
    longer = [r for r in rnnzoo.verify(exports["lstm"], parity=False, runtimes="litert")["runtimes"]]
    assert longer[0]["skipped"].endswith(f"more than the file's fixed {TIME} steps")  # unrolled for TIME steps
    plain = exports["gru_bidir2"].parent / "rnn_plain"  # the same kind of export, without --litert
    rows = [r for r in rnnzoo.verify(plain, parity=False, runtimes="all")["runtimes"] if r["runtime"] == "litert"]
    assert rows[0]["skipped"].startswith(f"the export has no {LITERT_FILE}")  # "all": skipped, not failed
    named = rnnzoo.verify(plain, parity=False, runtimes="litert")
    assert not named["passed"] and any(f"has no {LITERT_FILE}" in p for p in named["problems"])  # asked by name


def test_litert_is_listed_apart_from_the_onnx_runtimes() -> None:
    assert "litert" not in rnnzoo.list_runtimes()  # what runs model.onnx (verify, runtime matrix, bench)
    assert rnnzoo.list_runtimes(model_format="tflite") == ["litert"]
    assert "litert" in rnnzoo.list_runtimes(model_format=None)
    spec = rnnzoo.get_runtime("litert")
    assert spec.model_format == "tflite" and spec.available() is None and spec.version() == "2.3.0"


def test_file_shape_avoids_sizes_onnx2tf_would_confuse() -> None:
    """Measured: batch == features, time == hidden and batch == time each gave a wrong or failed conversion."""
    from rnnzoo.exporting.exporter import resolve_source

    net, meta = resolve_source(_model("gru_classifier", num_layers=2, bidirectional=True))
    proto = convert._fused_graph(net, meta, 18)
    assert convert.model_sizes(proto) == {FEATURES, HIDDEN, 2 * HIDDEN}  # layer 2 reads both directions
    shapes = {asked: convert.collision_free_shape(proto, *asked) for asked in
              [(1, 128), (3, 7), (2, 8), (5, 5), (1, 16), (4, 4)]}
    assert shapes == {(1, 128): (1, 128), (3, 7): (4, 7), (2, 8): (2, 9), (5, 5): (5, 6), (1, 16): (1, 17),
                      (4, 4): (4, 5)}
