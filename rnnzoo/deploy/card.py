"""The export card (``card.json``): typed sections, one ``passed`` rule, written and read in one place each.

Every stage of an export returns its own section (graph checks, variants,
streaming, parity); :class:`ExportCard` puts them together. The JSON layout
is a file format users read, so :meth:`ExportCard.to_json` keeps the keys
and nesting the card has always had; :meth:`ExportCard.from_json` is where
a hand-edited or foreign card is refused, by section, with one clear error.
Torch-free: ``predict`` and ``verify`` read cards without torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnzoo.core.meta import ModelMeta
from rnnzoo.deploy.compare import Case, ParityReport, _case
from rnnzoo.errors import ExportError

CARD_FILE = "card.json"
MODEL_FILE = "model.onnx"
INT8_FILE, FP16_FILE = "model.int8.onnx", "model.fp16.onnx"
# Every recurrent layer one fused node, no If/Scan: for tract and runtimes without fast control flow (issue 14)
PORTABLE_FILE = "model.portable.onnx"
STREAM_FILE = "model.streaming.onnx"
LITERT_FILE = "model.tflite"  # rnnzoo export --litert BATCHxTIME: LiteRT, builtin ops, fixed shape
# the same file with float16 weights, and with TFLite dynamic-range int8 (weights int8, int8 FULLY_CONNECTED)
LITERT_VARIANT_FILES = {"fp16": "model.fp16.tflite", "int8": "model.int8.tflite"}
CHECKPOINT_FILE = "checkpoint.safetensors"
HEADER_PREFIX = "rnnzoo."  # the card's flat keys, the same as the ONNX file's metadata_props
DIGEST_KEY = "card_sha256"  # of the card's own content: a hand-edited tolerance or label list is detected
_MAX_CARD_BYTES = 64 << 20


@dataclass(frozen=True)
class GraphChecks:
    """Static facts about the exported graph, and the problems that make the export fail."""

    fused_nodes: dict[str, int]
    lowered_rnn_nodes: int
    expected_recurrent_layers: int
    io_shapes: dict[str, list[Any]]
    node_count: int
    problems: list[str]


@dataclass(frozen=True)
class StreamingSection:
    """The stateful graph: its state inputs, and the chunked-vs-whole check.

    ``frame``: input steps per recurrent step (a model with ``patch=k``); every
    chunk fed to the graph must hold a multiple of it.
    """

    file: str
    state_inputs: list[str]
    state_shapes: list[list[int]]
    cases: list[Case]
    frame: int = 1

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c.passed for c in self.cases)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "state_inputs": self.state_inputs, "state_shapes": self.state_shapes,
                "frame": self.frame,
                "check": {"passed": self.passed, "cases": [dataclasses.asdict(c) for c in self.cases]}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamingSection:
        check = data["check"]
        return cls(data["file"], list(data["state_inputs"]), [list(s) for s in data["state_shapes"]],
                   [_case(c) for c in check["cases"]], int(data.get("frame", 1)))


@dataclass(frozen=True)
class RuntimeRow:
    """One runtime on one model file: does it load, how far from the expected output, how fast.

    ``reference`` says what the output was compared with: "pytorch" for the
    float32 ``model.onnx`` and ``model.portable.onnx``, "onnxruntime" (the same variant file) for
    int8/fp16, which are not meant to equal PyTorch. ``latency_ms`` maps a
    bench shape ("batch1_len50") to the median ms at 1 thread, None where
    not measured. ``skipped``: why the runtime was not run (not installed).
    """

    runtime: str
    variant: str  # "fp32" | "portable" | "int8" | "fp16" | "streaming"
    file: str
    version: str | None = None
    loads: bool = False
    error: str | None = None
    reference: str = "pytorch"
    max_abs: float | None = None
    max_rel: float | None = None
    passed: bool | None = None
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    skipped: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuntimeRow:
        row = cls(**data)
        texts = (row.runtime, row.variant, row.file, row.reference)
        optional_texts = (row.version, row.error, row.skipped)
        numbers = (row.max_abs, row.max_rel, *row.latency_ms.values()) if isinstance(row.latency_ms, dict) else ()
        if not (all(isinstance(t, str) for t in texts) and all(t is None or isinstance(t, str) for t in optional_texts)
                and isinstance(row.loads, bool) and (row.passed is None or isinstance(row.passed, bool))
                and isinstance(row.latency_ms, dict) and all(isinstance(k, str) for k in row.latency_ms)
                and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in numbers)):
            raise TypeError(f"runtime row {data!r} has fields of the wrong type")
        return row


@dataclass(frozen=True)
class RuntimeMatrix:
    """The card's ``runtimes`` section: every registered runtime on every variant file (not the streaming graph).

    Informational: ``passed`` here never fails the export (``rnnzoo verify
    --runtime`` is the gate). ``cases``: the parity cases compared;
    ``error``: why the whole stage could not run, if it could not.
    ``fastest``: runtime -> bench shape -> the file that ran it fastest among
    the verified float32 files (``model.onnx``, ``model.portable.onnx``), from
    the rows' own latencies: which file to ship for that runtime.
    """

    rows: list[RuntimeRow]
    cases: list[str] = field(default_factory=list)
    atol: float = 1e-4
    rtol: float = 1e-3
    variant_atol: float = 1e-4
    threads: int = 1
    seconds: float = 0.0
    error: str | None = None
    note: str = ""
    fastest: dict[str, dict[str, str]] = field(default_factory=dict)

    def row(self, runtime: str, variant: str = "fp32") -> RuntimeRow | None:
        return next((r for r in self.rows if r.runtime == runtime and r.variant == variant), None)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["rows"] = [dataclasses.asdict(r) for r in self.rows]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuntimeMatrix:
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise TypeError("runtimes must be an object with a list of rows")
        matrix = cls(**{**data, "rows": [RuntimeRow.from_json(r) for r in data["rows"]]})
        if not isinstance(matrix.cases, list) or not all(isinstance(c, str) for c in matrix.cases) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in (matrix.atol, matrix.rtol, matrix.variant_atol, matrix.threads, matrix.seconds)) or not (
                isinstance(matrix.fastest, dict) and all(
                    isinstance(by, dict) and all(isinstance(k, str) and isinstance(f, str) for k, f in by.items())
                    for by in matrix.fastest.values())):
            raise TypeError("runtimes has fields of the wrong type")
        return matrix


@dataclass
class ExportCard:
    """Everything known about one export folder; ``passed`` is the one rule that decides whether it is good."""

    header: dict[str, Any]
    meta: ModelMeta
    checks: GraphChecks
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    streaming: StreamingSection | None = None
    parity: ParityReport | None = None
    export_seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)
    digest_ok: bool = True  # False when card.json was edited after export (read back by from_json)
    runtimes: RuntimeMatrix | None = None  # informational; never part of ``passed``
    litert: dict[str, Any] | None = None  # model.tflite: shape, ops, converter, parity (export refuses a failing one)

    @property
    def passed(self) -> bool:
        """Parity within tolerance, the streaming graph (if any) too, no graph problem, none for the portable file."""
        streaming_ok = self.streaming is None or self.streaming.passed
        return (self.parity is not None and self.parity.passed and streaming_ok and not self.checks.problems
                and not self.portable_problems)

    @property
    def portable_problems(self) -> list[str]:
        """What failed for ``model.portable.onnx``: its graph checks or its parity with PyTorch (none if skipped)."""
        return list(self.variants.get("portable", {}).get("problems", []))

    @property
    def failures(self) -> list[str]:
        """Why ``passed`` is False, one line a reason."""
        return self.recorded_failures + (["parity was not checked"] if self.parity is None else [])

    @property
    def recorded_failures(self) -> list[str]:
        """The checks this card records as failed (an export made without validation records none)."""
        out = [f"graph check: {p}" for p in self.checks.problems]
        out += [f"{PORTABLE_FILE}: {p}" for p in self.portable_problems]
        if self.parity is not None and not self.parity.passed:
            out.append(self.parity.summary)
        if self.streaming is not None and not self.streaming.passed:
            bad = [f"{c.name} (max abs {c.max_abs:.3g})" for c in self.streaming.cases if not c.passed]
            out.append(f"streaming graph differs from the whole sequence: {', '.join(bad) or 'no cases'}")
        return out

    def to_json(self) -> dict[str, Any]:
        """The card.json object; key order as it has always been, and its own digest last."""
        out: dict[str, Any] = {**self.header, "source_metadata": self.meta.to_json(),
                               "checks": dataclasses.asdict(self.checks), "variants": self.variants,
                               "files": self.files}
        if self.streaming is not None:
            out["streaming"] = self.streaming.to_json()
        out["export_seconds"] = self.export_seconds
        if self.parity is not None:
            out["parity"] = self.parity.as_dict()
        if self.runtimes is not None:  # absent, not null, when not run: older cards keep their digest
            out["runtimes"] = self.runtimes.to_json()
        if self.litert is not None:  # absent unless exported with --litert
            out["litert"] = self.litert
        out = json.loads(json.dumps(out, default=_json_default))  # plain JSON types, as a reader gets them
        out[DIGEST_KEY] = content_digest(out)
        return out

    @classmethod
    def from_json(cls, data: object, where: str) -> ExportCard:
        """Validate a card read from disk; a wrong section is an ExportError naming it."""
        if not isinstance(data, dict):
            raise ExportError(f"{where} is not a JSON object; re-export the model")
        files = data.get("files")
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ExportError(f"{where}: 'files' must map file names to sha256 strings; re-export the model")
        meta = ModelMeta.from_json(data.get("source_metadata"), f"{where} source_metadata", ExportError)
        section = "checks"
        try:
            checks = _typed(GraphChecks(**data["checks"]))
            section = "variants"
            variants = _variants(data.get("variants", {}))
            section = "streaming"
            streaming = StreamingSection.from_json(data["streaming"]) if "streaming" in data else None
            section = "parity"
            parity = ParityReport.from_dict(data["parity"]) if "parity" in data else None
            section = "export_seconds"
            seconds = float(data.get("export_seconds", 0.0))
            section = "runtimes"
            runtimes = RuntimeMatrix.from_json(data["runtimes"]) if "runtimes" in data else None
            section = "litert"
            litert = _litert(data["litert"]) if "litert" in data else None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ExportError(f"{where}: section {section!r} is malformed ({exc!r}); re-export the model") from exc
        header = {k: v for k, v in data.items() if k.startswith(HEADER_PREFIX)}
        if DIGEST_KEY not in data:
            raise ExportError(f"{where} has no {DIGEST_KEY}: it was written before rnnzoo recorded one, or edited; "
                              "re-export the model")
        digest_ok = data[DIGEST_KEY] == content_digest(data)
        return cls(header, meta, checks, variants, streaming, parity, seconds, dict(files), digest_ok, runtimes,
                   litert)


def content_digest(card: dict[str, Any]) -> str:
    """sha256 of the card's canonical JSON without the digest itself.

    Not a signature (whoever can write the folder can recompute it), but
    an edit by hand or a broken copy no longer passes unnoticed, and the
    file hashes and tolerances inside the card are covered too.
    """
    body = {k: v for k, v in card.items() if k != DIGEST_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_card(folder: str | Path) -> ExportCard:
    """The export's card; one clear ``ExportError`` for a missing, huge, non-UTF-8, deep or malformed one."""
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise ExportError(f"{folder} is not an rnnzoo export folder: {CARD_FILE} is missing")
    if path.stat().st_size > _MAX_CARD_BYTES:
        raise ExportError(f"{path} is {path.stat().st_size:,} bytes, far more than any card; re-export the model")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExportError(f"{path} is not valid UTF-8 JSON ({type(exc).__name__}); re-export the model") from exc
    return ExportCard.from_json(data, str(path))


def _json_default(obj: Any) -> Any:
    """numpy scalars and arrays that stages put into sections become plain JSON."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def _typed(checks: GraphChecks) -> GraphChecks:
    """A hand-edited section of the wrong types fails reading the card, not deep inside verify."""
    if not isinstance(checks.problems, list) or not all(isinstance(p, str) for p in checks.problems):
        raise TypeError("problems must be a list of strings")
    if not isinstance(checks.fused_nodes, dict) or not isinstance(checks.io_shapes, dict):
        raise TypeError("fused_nodes and io_shapes must be objects")
    return checks


def _variants(data: object) -> dict[str, dict[str, Any]]:
    if not isinstance(data, dict) or not all(isinstance(v, dict) and isinstance(v.get("file"), str)
                                             for v in data.values()):
        raise ValueError("variants must map names to objects with a 'file'")
    problems = data.get("portable", {}).get("problems", [])
    if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
        raise ValueError("variants.portable.problems must be a list of strings")
    return data


def _litert(data: object) -> dict[str, Any]:
    if not (isinstance(data, dict) and isinstance(data.get("file"), str) and isinstance(data.get("shape"), dict)
            and isinstance(data.get("ops"), list) and isinstance(data.get("parity"), dict)):
        raise ValueError("litert must be an object with file, shape, ops and parity")
    return data
