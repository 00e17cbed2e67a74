"""Export a trained model to an ONNX folder, check the graph, and validate it (export-then-validate).

Why the TorchScript exporter (``dynamo=False``), explicitly: in torch 2.13
it turns every ``nn.RNN/LSTM/GRU`` into one fused ONNX node and keeps batch
and time dynamic, while the dynamo exporter froze dynamic axes or failed on
the RNN export matrix (see the export issue's measurements). We never trust
the file: static checks run on the graph and ``check_parity`` runs both
runtimes on shapes the export never saw before the folder is declared good.

Folder layout (``exports/<model>/``)::

    model.onnx                 float32, inputs x [batch, time, features] + lengths [batch]
    model.portable.onnx        float32, every recurrent layer one fused node, no If/Scan (for tract; issue 14)
    model.int8.onnx            int8 weights (weight-only, Cast->Mul folded at load), float32 compute
    model.fp16.onnx            float16 weights (half the size), float32 compute
    model.tflite               LiteRT, builtin ops, fixed [batch, time] (only with litert=, see exporting/litert.py)
    checkpoint.safetensors     the source checkpoint, for `rnnzoo verify`
    test_data_set_0/           input_0.pb, input_1.pb, output_0.pb (ONNX Model Zoo layout)
    card.json                  metadata, metrics, checks, parity report, file hashes
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from rnnzoo.core.atomic import atomic_write
from rnnzoo.core.meta import ModelMeta
from rnnzoo.data.dataset import SequenceDataset
from rnnzoo.data.split import validation_data
from rnnzoo.deploy.card import CARD_FILE, CHECKPOINT_FILE, MODEL_FILE, ExportCard
from rnnzoo.deploy.runtime import sha256
from rnnzoo.errors import ExportError, ParityError
from rnnzoo.exporting.folder import check_replaceable, resolve_target, staged_folder
from rnnzoo.exporting.graph_checks import static_checks
from rnnzoo.exporting.iospec import IoSpec
from rnnzoo.exporting.lowering import lower_recurrent
from rnnzoo.exporting.min_runtime import min_onnxruntime
from rnnzoo.exporting.trace import onnx_metadata, trace
from rnnzoo.training.checkpoint import Checkpoint, describe, load_checkpoint, save_checkpoint
from rnnzoo.training.normalize import NormalizedModel

DEFAULT_OPSET = 18
SUPPORTED_OPSETS = range(17, 21)


@dataclass
class Export:
    """A finished export folder and its model card."""

    folder: Path
    card: ExportCard

    @property
    def passed(self) -> bool:
        return self.card.passed


def export(
    source: Any,
    out_dir: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    int8: bool = True,
    fp16: bool = True,
    portable: bool = True,
    data: SequenceDataset | None = None,
    validate: bool = True,
    streaming: bool = False,
    litert: str | tuple[int, int] | None = None,
) -> Export:
    """Export a checkpoint (path or loaded), a TrainResult or a ``create_model`` module.

    ``portable``: also write ``model.portable.onnx`` (no control flow, for tract; see
    rnnzoo.exporting.portable_variant), parity-checked like ``model.onnx``.
    ``streaming``: also write ``model.streaming.onnx`` (state in, state out),
    checked chunk by chunk against the whole sequence.
    ``litert``: ``(batch, time)`` or ``"BATCHxTIME"``: also write ``model.tflite``
    for LiteRT with that fixed shape (needs ``rnnzoo[litert]``); Flex ops or a
    parity miss make the export fail (:class:`ExportError`).
    ``data``: validation samples for the parity check and the int8/fp16
    accuracy-drop check (defaults to the dataset named in the checkpoint).
    Raises :class:`ExportError` for a broken graph and :class:`ParityError`
    when the card does not pass (runtimes disagree beyond the model's
    tolerance, or a static graph check failed); a failed export never
    replaces a good one: it is left in ``<out_dir>.failed`` to inspect.
    """
    if opset not in SUPPORTED_OPSETS:
        raise ExportError(f"opset {opset} is not supported; use one of {list(SUPPORTED_OPSETS)}")
    if litert is not None:  # a bad shape or a missing converter fails now, not after the whole export
        from rnnzoo.exporting.litert import converter_python, parse_shape

        litert = parse_shape(litert)
        converter_python()
    net, meta = resolve_source(source)
    target = resolve_target(out_dir)
    data = data if data is not None else validation_data(meta)
    with staged_folder(target) as folder:
        card = _write_folder(folder, net, meta, opset, data, int8=int8, fp16=fp16, streaming=streaming,
                             validate=validate, litert=litert, portable=portable)
        if validate and not card.passed:
            _set_aside(folder, target, card)
    return Export(target, card)


def _set_aside(folder: Path, target: Path, card: ExportCard) -> None:
    """Move a failed export to ``<target>.failed`` and raise; the previous export stays as it was."""
    failed = target.with_name(target.name + ".failed")
    check_replaceable(failed)  # an earlier failed export may go, a folder of the user's never
    shutil.rmtree(failed, ignore_errors=True)
    os.replace(folder, failed)
    raise ParityError(f"{target}: {'; '.join(card.failures)}. {target} is unchanged; the failed export is in "
                      f"{failed}", card.parity)


def _write_folder(
    folder: Path, net: NormalizedModel, meta: ModelMeta, opset: int, data: SequenceDataset | None, *,
    int8: bool, fp16: bool, streaming: bool, validate: bool, litert: str | tuple[int, int] | None = None,
    portable: bool = True,
) -> ExportCard:
    """Every file of an export plus its card; each stage returns its own section of the card."""
    start = time.perf_counter()
    io = IoSpec.from_meta(meta)
    proto = to_onnx(net, meta, opset)
    atomic_write(folder / MODEL_FILE, lambda p: p.write_bytes(proto.SerializeToString()))
    save_checkpoint(folder / CHECKPOINT_FILE, net, meta)
    x, lengths = example_batch(meta, data)
    _write_test_data(folder / "test_data_set_0", net, x, lengths)
    card = ExportCard(onnx_metadata(meta, opset), meta, static_checks(proto, net, io))
    card.header["rnnzoo.min_onnxruntime"], card.header["rnnzoo.min_onnxruntime_why"] = min_onnxruntime(proto)
    if int8 or fp16:
        from rnnzoo.exporting.variants import make_variants

        card.variants = make_variants(folder, meta, data, int8=int8, fp16=fp16)
    if portable:
        from rnnzoo.exporting.portable_variant import write_portable

        card.variants["portable"] = write_portable(folder, to_onnx(net, meta, opset, lower=False), proto, net, io)
    if streaming:
        from rnnzoo.exporting.streaming import export_streaming

        card.streaming = export_streaming(net, meta, folder, opset)
    if litert is not None:
        from rnnzoo.exporting.litert import export_litert

        card.litert = export_litert(folder, net, meta, litert, opset, data)
    card.export_seconds = round(time.perf_counter() - start, 3)
    if validate:
        from rnnzoo.exporting.parity import check_parity

        card.parity = check_parity(folder, net=net, data=data, raise_on_fail=False, card=card)
        if portable:
            from rnnzoo.exporting.portable_variant import check_portable_parity

            check_portable_parity(folder, net, data, card)
        from rnnzoo.exporting.runtime_matrix import runtime_matrix

        card.runtimes = runtime_matrix(folder, net, meta, data, streaming=card.streaming)  # informational
    write_card(folder, card)
    return card


def write_card(folder: Path, card: ExportCard) -> None:
    """card.json with the sha256 of every file in the folder, so edits are detectable."""
    card.files = {
        p.relative_to(folder).as_posix(): sha256(p)
        for p in sorted(folder.rglob("*")) if p.is_file() and p.name != CARD_FILE
        and not p.name.startswith(".")
    }
    text = json.dumps(card.to_json(), indent=2)
    atomic_write(folder / CARD_FILE, lambda p: p.write_text(text, encoding="utf-8"))



def resolve_source(source: Any) -> tuple[NormalizedModel, ModelMeta]:
    """(model, metadata) from any of the things a user may hand the exporter."""
    if isinstance(source, (str, Path)):
        source = load_checkpoint(source)
    if isinstance(source, Checkpoint) or (hasattr(source, "model") and isinstance(getattr(source, "meta", None),
                                                                                  ModelMeta)):
        return source.model.eval(), source.meta
    if isinstance(source, nn.Module):
        inner = source.model if isinstance(source, NormalizedModel) else source
        build = getattr(inner, "rnnzoo_build", None)
        if build is None:
            raise ExportError("export needs a checkpoint, a TrainResult or a rnnzoo.create_model module")
        net = source if isinstance(source, NormalizedModel) else NormalizedModel.identity(
            source, build["input_size"])
        return net.eval(), describe(build)
    raise ExportError(f"cannot export a {type(source).__name__}; pass a checkpoint path or a model")

def example_batch(meta: ModelMeta, data: SequenceDataset | None, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A small ragged batch (``IoSpec`` kind "example"): real samples when available, else seeded random ones."""
    feeds = IoSpec.from_meta(meta).sample_inputs("example", data, n=n)[0].feeds
    return feeds["x"], feeds["lengths"]


def to_onnx(net: NormalizedModel, meta: ModelMeta, opset: int, lower: bool = True) -> onnx.ModelProto:
    """Trace at the IoSpec's ragged (3, 7) example; batch and time stay dynamic.

    ``lower=False`` keeps every recurrent layer one fused node (see rnnzoo.exporting.lowering; for benchmarks);
    by default onnxruntime's slow fused RNN op is rewritten for large batches. Either way the graph is made
    portable (rnnzoo.exporting.portable): no rank-changing ``If``, which tract cannot load.
    """
    from rnnzoo.exporting.portable import make_portable

    io = IoSpec.from_meta(meta)

    def rewrite(proto: onnx.ModelProto) -> onnx.ModelProto:
        return make_portable(lower_recurrent(proto) if lower else proto)

    return trace(net, io.sample_inputs("trace")[0], io, opset, model=meta.model,
                 metadata=onnx_metadata(meta, opset, io), rewrite=rewrite)


def _write_test_data(folder: Path, net: NormalizedModel, x: np.ndarray, lengths: np.ndarray) -> None:
    """ONNX Model Zoo layout: any runtime can re-check the export without rnnzoo."""
    from onnx import numpy_helper

    io = IoSpec.for_model(x.shape[-1])
    folder.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        y = net(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    named = [*((f"input_{i}", arr, t) for i, (arr, t) in enumerate(zip((x, lengths), io.input_names, strict=True))),
             ("output_0", y, io.output_names[0])]
    for name, arr, tensor_name in named:
        blob: bytes = numpy_helper.from_array(arr, tensor_name).SerializeToString()
        atomic_write(folder / f"{name}.pb", lambda p, b=blob: p.write_bytes(b))  # type: ignore[misc]
