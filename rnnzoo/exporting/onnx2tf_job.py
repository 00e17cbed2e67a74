"""The onnx2tf conversion, run as a script in its own process (``python onnx2tf_job.py IN.onnx OUT_DIR``).

Why a separate process, and a file that imports nothing of rnnzoo: the
converter stack (TensorFlow, tf_keras, onnx2tf) is large, slow to import,
keeps global graph state, logs on stderr and calls ``sys.exit`` on some
errors; a child process keeps all of that out of the exporting process. The
script needs only onnx2tf and its stack, so it also runs under another
Python (``RNNZOO_LITERT_PYTHON``) whose environment holds TensorFlow when
the main one cannot. The last stdout line is a JSON object: the written
float32 ``.tflite``, its fp16/int8 variants and the converter versions.
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


def convert(static_onnx: Path, out_dir: Path) -> dict[str, Path]:
    """onnx2tf on a fixed-shape, constant-folded ONNX file; its ``.tflite`` files by variant.

    ``fp32`` always; ``fp16`` (float16 weights, ``DEQUANTIZE`` to float32 at
    load) and ``int8`` (TFLite dynamic-range quantization: int8 weights, and
    FULLY_CONNECTED quantizes its input on the fly) when onnx2tf wrote them.

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
        output_dynamic_range_quantized_tflite=True,
    )
    written = {variant: out_dir / f"{static_onnx.stem}_{suffix}.tflite" for variant, suffix in
               (("fp32", "float32"), ("fp16", "float16"), ("int8", "dynamic_range_quant"))}
    return {variant: path for variant, path in written.items() if path.is_file()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: onnx2tf_job.py STATIC.onnx OUT_DIR", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    files = convert(Path(argv[0]), Path(argv[1]))
    if "fp32" not in files:
        print(f"onnx2tf wrote no float32 .tflite into {argv[1]}", file=sys.stderr)
        return 1
    print(json.dumps({"tflite": str(files["fp32"]), "variants": {k: str(v) for k, v in files.items() if k != "fp32"},
                      "versions": _versions()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
