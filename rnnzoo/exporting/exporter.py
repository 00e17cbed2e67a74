"""Export a trained model to an ONNX folder, check the graph, and validate it (export-then-validate).

Why the TorchScript exporter (``dynamo=False``), explicitly: in torch 2.13
it turns every ``nn.RNN/LSTM/GRU`` into one fused ONNX node and keeps batch
and time dynamic, while the dynamo exporter froze dynamic axes or failed on
the RNN export matrix (see the export issue's measurements). We never trust
the file: static checks run on the graph and ``check_parity`` runs both
runtimes on shapes the export never saw before the folder is declared good.

Folder layout (``exports/<model>/``)::

    model.onnx                 float32, inputs x [batch, time, features] + lengths [batch]
    model.int8.onnx            int8 weights (weight-only, Cast->Mul folded at load), float32 compute
    model.fp16.onnx            float16 weights (half the size), float32 compute
    checkpoint.safetensors     the source checkpoint, for `rnnzoo verify`
    test_data_set_0/           input_0.pb, input_1.pb, output_0.pb (ONNX Model Zoo layout)
    card.json                  metadata, metrics, checks, parity report, file hashes
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnzoo._version import __version__
from rnnzoo.core.atomic import atomic_write, current_umask
from rnnzoo.core.registry import get_spec
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.data.split import validation_data
from rnnzoo.deploy.runtime import CARD_FILE, MODEL_FILE, sha256
from rnnzoo.errors import ExportError
from rnnzoo.exporting.lowering import lower_recurrent
from rnnzoo.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnzoo.training.normalize import NormalizedModel

DEFAULT_OPSET = 18
SUPPORTED_OPSETS = range(17, 21)
RECURRENT_OPS = ("RNN", "LSTM", "GRU")


@dataclass
class Export:
    """A finished export folder and its model card."""

    folder: Path
    card: dict[str, Any]

    @property
    def passed(self) -> bool:
        streaming_ok = self.card.get("streaming", {}).get("check", {}).get("passed", True)
        return bool(self.card.get("parity", {}).get("passed")) and streaming_ok and not self.card["checks"]["problems"]


def export(
    source: Any,
    out_dir: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    int8: bool = True,
    fp16: bool = True,
    data: SequenceDataset | None = None,
    validate: bool = True,
    streaming: bool = False,
) -> Export:
    """Export a checkpoint (path or loaded), a TrainResult or a ``create_model`` module.

    ``streaming``: also write ``model.streaming.onnx`` (state in, state out),
    checked chunk by chunk against the whole sequence.
    ``data``: validation samples for the parity check and the int8/fp16
    accuracy-drop check (defaults to the dataset named in the checkpoint).
    Raises :class:`ExportError` for a broken graph and :class:`ParityError`
    when runtimes disagree beyond the model's tolerance; a failed export
    never replaces a good one: it is left in ``<out_dir>.failed`` to inspect.
    """
    if opset not in SUPPORTED_OPSETS:
        raise ExportError(f"opset {opset} is not supported; use one of {list(SUPPORTED_OPSETS)}")
    net, meta = resolve_source(source)
    target = Path(out_dir)
    data = data if data is not None else validation_data(meta)
    with staged_folder(target) as folder:
        card = _write_folder(folder, net, meta, opset, data, int8=int8, fp16=fp16, streaming=streaming,
                             validate=validate)
        streaming_ok = card.get("streaming", {}).get("check", {}).get("passed", True)
        if validate and not (card["parity"]["passed"] and streaming_ok):
            from rnnzoo.errors import ParityError

            failed = target.with_name(target.name + ".failed")
            shutil.rmtree(failed, ignore_errors=True)
            os.replace(folder, failed)
            raise ParityError(f"{target}: {card['parity']['summary']}; streaming: {card.get('streaming')}. "
                              f"{target} is unchanged; the failed export is in {failed}", card["parity"])
    return Export(target, card)


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Build the export in a hidden sibling folder, then swap it in whole.

    A killed export leaves the previous export (or nothing) in place, never a
    mix, and files of an earlier export (an int8 file, a streaming graph) can
    never end up hashed into the new card. Folders that are not rnnzoo
    exports are refused rather than replaced.
    """
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / CARD_FILE).is_file())):
        raise ExportError(f"{target} exists and is not an rnnzoo export folder; export into a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".export", dir=target.parent))
    os.chmod(stage, 0o777 & ~current_umask())  # mkdtemp makes it private; an export folder is meant to be shared
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = stage.with_suffix(".old")
    if target.exists():
        os.replace(target, old)
    os.replace(stage, target)
    shutil.rmtree(old, ignore_errors=True)


def _recover(target: Path) -> None:
    """Undo what a kill between the two renames of a swap left: the previous export sits in ``.NAME.*.old``."""
    mine = re.compile(rf"\.{re.escape(target.name)}\.[A-Za-z0-9_]+\.old")  # mkdtemp's suffix, nothing wider
    olds = sorted((p for p in target.parent.iterdir() if mine.fullmatch(p.name)), key=lambda p: p.stat().st_mtime)
    if olds and not target.exists() and (olds[-1] / CARD_FILE).is_file():
        os.replace(olds.pop(), target)
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


def _write_folder(
    folder: Path, net: NormalizedModel, meta: dict[str, Any], opset: int, data: SequenceDataset | None, *,
    int8: bool, fp16: bool, streaming: bool, validate: bool,
) -> dict[str, Any]:
    """Every file of an export plus its card; returns the card."""
    start = time.perf_counter()
    proto = to_onnx(net, meta, opset)
    checks = static_checks(proto, net, meta)
    atomic_write(folder / MODEL_FILE, lambda p: p.write_bytes(proto.SerializeToString()))
    save_checkpoint(folder / "checkpoint.safetensors", net, meta)
    x, lengths = example_batch(meta, data)
    _write_test_data(folder / "test_data_set_0", net, x, lengths)
    card: dict[str, Any] = {
        **onnx_metadata(meta, opset), "source_metadata": meta, "checks": checks,
        "variants": {}, "files": {},
    }
    if int8 or fp16:
        from rnnzoo.exporting.variants import make_variants

        card["variants"] = make_variants(folder, meta, data, int8=int8, fp16=fp16)
    if streaming:
        from rnnzoo.exporting.streaming import export_streaming

        card["streaming"] = export_streaming(net, meta, folder, opset)
    card["export_seconds"] = round(time.perf_counter() - start, 3)
    if validate:
        from rnnzoo.exporting.parity import check_parity

        report = check_parity(folder, net=net, data=data, raise_on_fail=False, card=card)
        card["parity"] = report.as_dict()
    write_card(folder, card)
    return card


def write_card(folder: Path, card: dict[str, Any]) -> None:
    """card.json with the sha256 of every file in the folder, so edits are detectable."""
    card["files"] = {
        str(p.relative_to(folder)): sha256(p)
        for p in sorted(folder.rglob("*")) if p.is_file() and p.name != CARD_FILE
        and not p.name.startswith(".")
    }
    text = json.dumps(card, indent=2, default=_json_default)
    atomic_write(folder / CARD_FILE, lambda p: p.write_text(text, encoding="utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def resolve_source(source: Any) -> tuple[NormalizedModel, dict[str, Any]]:
    """(model, metadata) from any of the things a user may hand the exporter."""
    if isinstance(source, (str, Path)):
        source = load_checkpoint(source)
    if isinstance(source, Checkpoint) or (hasattr(source, "model") and hasattr(source, "meta")):
        return source.model.eval(), dict(source.meta)
    if isinstance(source, nn.Module):
        inner = source.model if isinstance(source, NormalizedModel) else source
        build = getattr(inner, "rnnzoo_build", None)
        if build is None:
            raise ExportError("export needs a checkpoint, a TrainResult or a rnnzoo.create_model module")
        spec = get_spec(build["name"])
        net = source if isinstance(source, NormalizedModel) else NormalizedModel.identity(
            source, build["input_size"])
        meta = {"model": spec.name, "task": spec.task, "family": spec.family, **build,
                "per_step": bool(build["hparams"].get("per_step")), "label_names": None,
                "plugin": {}, "versions": {"rnnzoo": __version__, "torch": torch.__version__}}
        meta.pop("name")
        return net.eval(), meta
    raise ExportError(f"cannot export a {type(source).__name__}; pass a checkpoint path or a model")


def example_batch(
    meta: dict[str, Any], data: SequenceDataset | None, n: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """A small ragged batch: real samples when available, else seeded random ones."""
    if data is not None and len(data) >= 1:
        sub = data.subset(np.arange(min(n, len(data))))
        return sub.x, sub.lengths
    rng = np.random.default_rng(0)
    lengths = np.array([9, 3, 1, 6][:n], dtype=np.int64)
    return rng.normal(size=(len(lengths), 9, meta["input_size"])).astype(np.float32), lengths


def to_onnx(net: NormalizedModel, meta: dict[str, Any], opset: int, lower: bool = True) -> Any:
    """Trace with the TorchScript exporter at a ragged (3, 7) example; batch and time stay dynamic.

    ``lower=False`` keeps every recurrent layer one fused node (see rnnzoo.exporting.lowering; for benchmarks).
    """
    import onnx

    x = torch.randn(3, 7, meta["input_size"])
    lengths = torch.tensor([7, 2, 5])
    y_axes = {0: "batch", 1: "time"} if meta.get("per_step") else {0: "batch"}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's generic LSTM batch-size advice does not apply
        try:
            torch.onnx.export(
                net.eval(), (x, lengths), buf,  # type: ignore[arg-type]
                dynamo=False, opset_version=opset,
                input_names=["x", "lengths"], output_names=["y"],
                dynamic_axes={"x": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "y": y_axes},
            )
        except Exception as exc:  # the exporter raises many types
            raise ExportError(f"torch.onnx.export failed for {meta['model']}: {exc}") from exc
    proto = onnx.load_from_string(buf.getvalue())
    if lower:
        proto = lower_recurrent(proto)  # onnxruntime's fused RNN op is slow at large batches
    for key, value in onnx_metadata(meta, opset).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    proto.producer_name, proto.producer_version = "rnnzoo", __version__
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected the export of {meta['model']}: {exc}") from exc
    return proto


def onnx_metadata(meta: dict[str, Any], opset: int) -> dict[str, Any]:
    """What any runtime can read back from the ONNX file itself (``metadata_props``)."""
    output = ("logits [batch, classes] at each sample's last valid step"
              if meta["task"] == "classification" else
              "[batch, time, outputs], zero past each length" if meta.get("per_step") else
              "[batch, outputs] at each sample's last valid step")
    return {
        "rnnzoo.model": meta["model"], "rnnzoo.task": meta["task"],
        "rnnzoo.label_names": meta.get("label_names"), "rnnzoo.feature_names": meta.get("feature_names"),
        "rnnzoo.plugin": meta.get("plugin", {}), "rnnzoo.version": __version__,
        "rnnzoo.opset": opset, "rnnzoo.exporting.exporter": "torch.onnx TorchScript (dynamo=False)",
        "rnnzoo.input.x": f"float32 [batch, time, {meta['input_size']}] raw features (normalized in-graph)",
        "rnnzoo.input.lengths": "int64 [batch] valid leading steps per sample, 1..time",
        "rnnzoo.output.y": output,
    }


def _recurrent_modules(net: nn.Module) -> int:
    """Fused nodes we expect: one per layer of every nn.RNN/LSTM/GRU module."""
    return sum(m.num_layers for m in net.modules() if isinstance(m, nn.RNNBase))


def _recurrent_unit(node: Any) -> str | None:
    """The recurrent op a top-level node computes: fused, or an RNN rewritten by rnnzoo.exporting.lowering."""
    if node.op_type in RECURRENT_OPS:
        return str(node.op_type)
    if node.op_type == "Scan":
        return "RNN"
    if node.op_type == "If":
        branch = next(a.g for a in node.attribute if a.name == "then_branch")
        return next((str(m.op_type) for m in branch.node if m.op_type in RECURRENT_OPS), None)
    return None


def static_checks(proto: Any, net: nn.Module, meta: dict[str, Any]) -> dict[str, Any]:
    """Graph facts and problems: fused recurrent nodes, GRU formulation, dynamic axes."""
    nodes = proto.graph.node
    units = [_recurrent_unit(n) for n in nodes]
    fused = {op: units.count(op) for op in RECURRENT_OPS}
    problems = []
    expected = _recurrent_modules(net)
    if sum(fused.values()) < expected:
        problems.append(f"{expected} recurrent layers but only {sum(fused.values())} recurrent ONNX nodes")
    for n in nodes:
        if n.op_type == "GRU":
            lbr = next((a.i for a in n.attribute if a.name == "linear_before_reset"), 0)
            if lbr != 1:
                problems.append(f"GRU node {n.name} has linear_before_reset={lbr}; PyTorch needs 1")
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*proto.graph.input, *proto.graph.output]}
    want = {"x": [0, 1], "lengths": [0], "y": [0, 1] if meta.get("per_step") else [0]}
    for name, axes in want.items():
        for axis in axes:
            if not isinstance(dims[name][axis], str):
                problems.append(f"{name} axis {axis} is fixed to {dims[name][axis]} instead of dynamic")
    return {"fused_nodes": fused, "lowered_rnn_nodes": sum(n.op_type in ("If", "Scan") for n in nodes),
            "expected_recurrent_layers": expected, "io_shapes": dims,
            "node_count": len(nodes), "problems": problems}


def _write_test_data(folder: Path, net: NormalizedModel, x: np.ndarray, lengths: np.ndarray) -> None:
    """ONNX Model Zoo layout: any runtime can re-check the export without rnnzoo."""
    from onnx import numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        y = net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    named = (("input_0", x, "x"), ("input_1", lengths, "lengths"), ("output_0", y, "y"))
    for name, arr, tensor_name in named:
        blob: bytes = numpy_helper.from_array(arr, tensor_name).SerializeToString()
        atomic_write(folder / f"{name}.pb", lambda p, b=blob: p.write_bytes(b))  # type: ignore[misc]
