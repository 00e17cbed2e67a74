"""The onnx2tf conversion, run as a script in its own process (``python onnx2tf_job.py IN.onnx OUT_DIR``).

Why a separate process, and a file that imports nothing of rnnzoo: the
converter stack (TensorFlow, tf_keras, onnx2tf) is large, slow to import,
keeps global graph state, logs on stderr and calls ``sys.exit`` on some
errors; a child process keeps all of that out of the exporting process. The
script needs only onnx2tf and its stack, so it also runs under another
Python (``RNNZOO_LITERT_PYTHON``) whose environment holds TensorFlow when
the main one cannot. The last stdout line is a JSON object: the written
``.tflite`` and the converter versions.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import sys
from pathlib import Path

CONVERTER_DISTRIBUTIONS = ("onnx2tf", "tensorflow", "tf_keras", "onnx", "onnx_graphsurgeon")


def _versions() -> dict[str, str]:
    out = {}
    for dist in CONVERTER_DISTRIBUTIONS:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def convert(static_onnx: Path, out_dir: Path) -> Path:
    """onnx2tf on a fixed-shape, constant-folded ONNX file; returns its float32 ``.tflite``.

    ``keep_shape_absolutely_input_names``: without it onnx2tf reads
    ``x [batch, time, features]`` as NCW and transposes it. onnxsim is not
    run (``not_use_onnxsim``): rnnzoo folds the shape arithmetic itself
    before calling this (onnxruntime's basic graph optimizations), and
    onnx2tf would otherwise rewrite its input file in place.
    """
    import onnx2tf
    import tensorflow as tf

    # onnx2tf 1.28 always writes a TensorFlow SavedModel next to the .tflite (the .tflite itself comes from a
    # concrete function, not from that folder); nothing here reads it, and writing it is ~40% of the time.
    tf.saved_model.save = lambda *args, **kwargs: None
    onnx2tf.convert(
        input_onnx_file_path=str(static_onnx),
        output_folder_path=str(out_dir),
        keep_shape_absolutely_input_names=["x", "lengths"],
        copy_onnx_input_output_names_to_tflite=True,
        not_use_onnxsim=True,
        verbosity="error",
    )
    return out_dir / f"{static_onnx.stem}_float32.tflite"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: onnx2tf_job.py STATIC.onnx OUT_DIR", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    tflite = convert(Path(argv[0]), Path(argv[1]))
    if not tflite.is_file():
        print(f"onnx2tf wrote no {tflite.name} into {argv[1]}", file=sys.stderr)
        return 1
    print(json.dumps({"tflite": str(tflite), "versions": _versions()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
