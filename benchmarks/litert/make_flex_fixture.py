"""Regenerate tests/data/litert_flex.tflite: a tiny .tflite with rnnzoo's inputs that needs a Flex op.

Why a committed file: with rnnzoo's fixed-shape path onnx2tf gives builtin ops only, and with a dynamic
dimension onnx2tf 1.28.8 + TensorFlow 2.21 now fails outright (tfl.squeeze squeeze_dims) before it writes
the Flex TensorList ops that plain LiteRT refuses. So the refusal tests run on this file, made by the
TensorFlow Lite converter the same way (SELECT_TF_OPS allowed, as onnx2tf allows it), with x
[2, 6, 3] float32 and lengths [2] int64 and a cumulative product, which has no builtin LiteRT kernel.

Usage: .venv/bin/python benchmarks/litert/make_flex_fixture.py [OUT]   (needs the litert extra)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "litert_flex.tflite"


def main(out: Path) -> None:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([2, 6, 3], tf.float32, name="x"),
                                  tf.TensorSpec([2], tf.int64, name="lengths")])
    def model(x: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        steps = tf.cast(tf.reshape(lengths, [2, 1]), tf.float32)
        return tf.math.cumprod(tf.reduce_sum(x, axis=1), axis=1) / steps

    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(converter.convert())
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
