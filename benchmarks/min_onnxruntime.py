"""Does the card's ``rnnzoo.min_onnxruntime`` hold for the onnxruntime installed here? Find out by trying.

Exports every built-in model in its one-layer, two-layer and bidirectional
forms, runs each ``model.onnx`` in the installed onnxruntime, and prints
whether it ran next to the minimum the card states. Run it in an
environment with an old onnxruntime (e.g. a ``nox -s onnxruntime`` one):

    .nox/onnxruntime-version-1-18-0/bin/python benchmarks/min_onnxruntime.py

A line marked WRONG means the card's rule (rnnzoo/exporting/min_runtime.py) is wrong for this release.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

import rnnzoo
from rnnzoo.deploy.runtime import make_session, run_session
from rnnzoo.errors import ExportError
from rnnzoo.exporting.exporter import export
from rnnzoo.exporting.min_runtime import version_key

# The graphs branch on the batch size (fused op or Scan), so every branch is run: batch 1 to 256, ragged.
SHAPES = ((1, 5), (2, 5), (40, 6), (256, 40))


def _runs(path: Path) -> bool:
    session = make_session(path)
    rng = np.random.default_rng(0)
    try:
        for batch, steps in SHAPES:
            x = rng.normal(size=(batch, steps, 3)).astype(np.float32)
            run_session(session, x, rng.integers(1, steps + 1, batch).astype(np.int64))
    except ExportError:
        return False
    return True


def main() -> None:
    installed = ort.__version__
    print(f"onnxruntime {installed}")
    wrong = 0
    for name in rnnzoo.list_models():
        for hp in ({}, {"num_layers": 2}, {"bidirectional": True}):
            if not set(hp) <= set(rnnzoo.get_spec(name).default_hparams):
                continue
            model = rnnzoo.create_model(name, input_size=3, output_size=4, **hp)
            with tempfile.TemporaryDirectory() as tmp:
                folder = export(model, tmp, int8=False, fp16=False, validate=False).folder
                need = json.loads((Path(folder) / "card.json").read_text())["rnnzoo.min_onnxruntime"]
                ran = _runs(Path(folder) / "model.onnx")
            ok = ran == (version_key(installed) >= version_key(need))
            wrong += not ok
            print(f"{name:<28} {json.dumps(hp):<24} card min {need:<8} ran: {'yes' if ran else 'no ':<3}  "
                  f"{'ok' if ok else 'WRONG'}")
    print(f"{wrong} wrong")


if __name__ == "__main__":
    main()
