"""``model.portable.onnx``: the float32 graph without control flow, for runtimes that run ``If``/``Scan`` slowly.

Why a second float32 file (issue 14): ``model.onnx`` puts one batch-size
``If`` around the whole graph, fused ``RNN``/``LSTM``/``GRU`` nodes on one
side and a ``Scan`` form on the other (rnnzoo.exporting.lowering). That is
the fastest graph in onnxruntime, and it costs onnxruntime up to 3.6x at
batch 64 (plain RNN) to drop it, so it stays the default file. tract runs
the ``If`` and its branches slowly: an LSTM classifier of hidden 64 took
about 8.8 ms at batch 1 instead of 0.3 ms with every layer one fused node.
One graph cannot serve both, so the export writes both and says which is
which: this one is ``to_onnx(..., lower=False)`` (still made portable and
statically checked like ``model.onnx``), parity-checked against PyTorch at
the model's own tolerance, and the card's runtime matrix times it in every
runtime and names the fastest verified file per runtime and shape.

When lowering changed nothing (a model with no recurrent layer), the file
would repeat ``model.onnx`` byte for byte; it is then not written and the
card entry names ``model.onnx`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnzoo.core.atomic import atomic_write
from rnnzoo.deploy.card import MODEL_FILE, PORTABLE_FILE, ExportCard
from rnnzoo.exporting.graph import all_nodes
from rnnzoo.exporting.graph_checks import RECURRENT_OPS, static_checks
from rnnzoo.exporting.iospec import IoSpec

if TYPE_CHECKING:
    import onnx
    from torch import nn

    from rnnzoo.data.dataset import SequenceDataset

PURPOSE = "no control flow: for tract, and runtimes without fast If/Scan"
FORM = "every recurrent layer one fused ONNX RNN/LSTM/GRU node, no batch-size If and no Scan (lower=False)"
CONTROL_FLOW_OPS = ("If", "Scan", "Loop")
SKIP_HINT = "export with portable=False (rnnzoo export --no-portable) to leave the file out"


def write_portable(
    folder: Path, portable: onnx.ModelProto, lowered: onnx.ModelProto, net: nn.Module, io: IoSpec
) -> dict[str, Any]:
    """Write ``portable`` as ``model.portable.onnx`` beside ``lowered`` (``model.onnx``); its card entry.

    The entry (``variants.portable``) says what the file is for, its form,
    size and ops, and ``problems`` (graph checks now, parity later, see
    :func:`check_portable_parity`), which fail the export like ``model.onnx``'s.
    """
    blob = portable.SerializeToString()
    if blob == lowered.SerializeToString():
        return {"file": MODEL_FILE, "written": False, "for": PURPOSE,
                "why": f"{MODEL_FILE} has no lowered layer (no batch-size If, no Scan): it is the portable form "
                       f"itself, so {PORTABLE_FILE} would be the same bytes"}
    atomic_write(folder / PORTABLE_FILE, lambda p: p.write_bytes(blob))
    checks = static_checks(portable, net, io)
    ops = [str(n.op_type) for n in all_nodes(portable.graph)]
    return {
        "file": PORTABLE_FILE, "written": True, "for": PURPOSE, "form": FORM,
        "size_bytes": len(blob), "size_ratio": round(len(blob) / max((folder / MODEL_FILE).stat().st_size, 1), 4),
        "recurrent_ops": sorted({o for o in ops if o in RECURRENT_OPS}),
        "control_flow_ops": sorted({o for o in ops if o in CONTROL_FLOW_OPS}),
        "fused_nodes": checks.fused_nodes,
        "problems": [f"graph check: {p}; {SKIP_HINT}" for p in checks.problems],
        "parity": None,
    }


def check_portable_parity(folder: Path, net: nn.Module, data: SequenceDataset | None, card: ExportCard) -> None:
    """PyTorch vs onnxruntime on ``model.portable.onnx`` over the full parity cases, into its card entry.

    Same cases and tolerance as ``model.onnx`` (it is the same math); a miss
    is a problem that fails the export. The reference evaluator is left out
    here (it is slow, and these are the nodes of ``model.onnx``'s fused
    branch); the runtime matrix runs this file in it on the small cases.
    """
    from rnnzoo.exporting.parity import check_parity

    entry = card.variants.get("portable")
    if not entry or not entry.get("written"):
        return
    report = check_parity(folder, net=net, data=data, runtimes=("onnxruntime",), raise_on_fail=False, card=card,
                          file=PORTABLE_FILE)
    worst = report.max_abs("onnxruntime")
    summary = (f"parity ok: {len(report.cases)} cases, max abs diff onnxruntime {worst:.2e} (atol {report.atol}, "
               f"rtol {report.rtol})") if report.passed else report.summary
    entry["parity"] = {"passed": report.passed, "summary": summary, "atol": report.atol,
                       "rtol": report.rtol, "cases": len(report.cases),
                       "max_abs_onnxruntime": worst, "seconds": round(report.seconds, 3)}
    if not report.passed:
        entry["problems"].append(f"{report.summary}; {SKIP_HINT}")
