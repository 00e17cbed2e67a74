"""The one call into ``torch.onnx.export``: every graph rnnzoo writes goes through :func:`trace`.

Why one: the plain and the streaming export used to call the exporter two
ways, and only one of them turned exporter failures into ``ExportError``,
ran ``onnx.checker`` and stamped rnnzoo's ``metadata_props``. Names and
dynamic axes come from the :class:`~rnnzoo.exporting.iospec.IoSpec`, the
example inputs from its ``sample_inputs("trace")``.

Why the TorchScript exporter (``dynamo=False``), explicitly: in torch 2.13
it turns every ``nn.RNN/LSTM/GRU`` into one fused ONNX node and keeps batch
and time dynamic, while the dynamo exporter froze dynamic axes or failed on
the RNN export matrix.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from io import BytesIO
from typing import Any

import onnx
import torch
from torch import nn

from rnnzoo._version import __version__
from rnnzoo.core.meta import ModelMeta
from rnnzoo.errors import ExportError
from rnnzoo.exporting.iospec import IoSpec, Sample


def trace(
    module: nn.Module, example: Sample, io: IoSpec, opset: int, *, model: str,
    metadata: Mapping[str, Any], rewrite: Callable[[onnx.ModelProto], onnx.ModelProto] | None = None,
) -> onnx.ModelProto:
    """Export ``module`` traced at ``example``, rewrite it (optional), stamp ``metadata`` and check it.

    ``model`` names the model in error messages. Raises :class:`ExportError`
    when the exporter fails or ``onnx.checker`` (full check) rejects the graph.
    """
    proto = _export(module, example, io, opset, model)
    if rewrite is not None:
        proto = rewrite(proto)
    stamp(proto, metadata)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected the export of {model}: {exc}") from exc
    return proto


def _export(module: nn.Module, example: Sample, io: IoSpec, opset: int, model: str) -> onnx.ModelProto:
    args = tuple(torch.from_numpy(example.feeds[name]) for name in io.input_names)
    buf = BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's generic LSTM batch-size advice does not apply
        try:
            torch.onnx.export(
                module.eval(), args, buf, dynamo=False, opset_version=opset,  # type: ignore[arg-type]
                input_names=io.input_names, output_names=io.output_names,
                dynamic_axes=io.dynamic_axes(),
            )
        except Exception as exc:  # the exporter raises many types
            raise ExportError(f"torch.onnx.export failed for {model}: {exc}") from exc
    return onnx.load_from_string(buf.getvalue())


def stamp(proto: onnx.ModelProto, metadata: Mapping[str, Any]) -> None:
    """Add ``metadata`` to ``metadata_props`` (non-strings as JSON) and name rnnzoo as the producer."""
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    proto.producer_name, proto.producer_version = "rnnzoo", __version__


def onnx_metadata(meta: ModelMeta, opset: int, io: IoSpec | None = None) -> dict[str, Any]:
    """What any runtime can read back from the ONNX file itself (``metadata_props``); also the card's header.

    ``io``: the graph's interface (default: the plain graph's), whose descriptions close the dict.
    """
    m = meta.to_json()
    io = io if io is not None else IoSpec.from_meta(meta)
    return {
        "rnnzoo.model": meta.model, "rnnzoo.task": meta.task,
        "rnnzoo.label_names": m["label_names"], "rnnzoo.feature_names": m["feature_names"],
        "rnnzoo.plugin": m["plugin"], "rnnzoo.version": __version__,
        "rnnzoo.opset": opset, "rnnzoo.exporter": "torch.onnx TorchScript (dynamo=False)",
        **io.metadata(),
    }
