"""Prototype: rnnzoo ONNX export -> builtin-only LiteRT (.tflite), checked against onnxruntime.

Path that works (see README.md next to this file):
  1. pin the ONNX inputs to a fixed [batch, time, features] / [batch] signature and run onnxsim,
     which folds the Shape/ConstantOfShape/Expand subgraph the dynamic graph needs;
  2. onnx2tf with keep_shape_absolutely_input_names=["x", "lengths"] (otherwise onnx2tf treats
     x as NCW and transposes it to [batch, features, time]) and, optionally, enable_rnn_unroll;
  3. load the .tflite in plain ai_edge_litert.interpreter.Interpreter (no Flex delegate), assert
     there is no Flex op, and compare with onnxruntime on ragged batches (shorter sequences are
     zero-padded to `time`, `lengths` says how many leading steps are valid).

Needs: onnx2tf==1.29.24 (pins tensorflow==2.19.0, tf_keras, onnx==1.19.1, onnxsim, ai-edge-litert==2.1.0 ...),
onnxruntime, numpy; torch + rnnzoo only for --export.

Usage:
  python convert.py --export lstm_classifier --out /tmp/litert/proto          # export + convert + check
  python convert.py --onnx path/to/model.onnx --out DIR --batch 1 --time 128 [--unroll]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np


def export_with_rnnzoo(name: str, out: Path, **hparams) -> Path:
    import torch

    import rnnzoo

    torch.manual_seed(0)
    model = rnnzoo.create_model(name, input_size=3, output_size=2, **hparams)
    rnnzoo.export(model, out / "export", int8=False, fp16=False)
    return out / "export" / "model.onnx"


def make_static(src: Path, dst: Path, batch: int, time: int) -> None:
    """Give every input/output a fixed shape, then let onnxsim fold the shape arithmetic."""
    import onnx
    from onnxsim import simplify

    m = onnx.load(str(src))
    for inp in m.graph.input:
        dims = inp.type.tensor_type.shape.dim
        want = [batch, time, dims[2].dim_value] if inp.name == "x" else [batch]
        for d, v in zip(dims, want, strict=True):
            d.ClearField("dim_param")
            d.dim_value = v
    for out in m.graph.output:
        d = out.type.tensor_type.shape.dim[0]
        d.ClearField("dim_param")
        d.dim_value = batch
    m, ok = simplify(m)
    if not ok:
        raise RuntimeError("onnxsim could not validate the simplified model")
    onnx.save(m, str(dst))


def to_tflite(static_onnx: Path, folder: Path, unroll: bool) -> Path:
    import onnx2tf

    if folder.exists():
        shutil.rmtree(folder)
    onnx2tf.convert(
        input_onnx_file_path=str(static_onnx),
        output_folder_path=str(folder),
        keep_shape_absolutely_input_names=["x", "lengths"],
        enable_rnn_unroll=unroll,
        copy_onnx_input_output_names_to_tflite=True,
        verbosity="error",
    )
    return folder / f"{static_onnx.stem}_float32.tflite"


def _all_ops(tflite: Path) -> list[str]:
    """Op names over every subgraph (WHILE bodies included), read from the flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema  # shipped in ai-edge-litert

    model = schema.ModelT.InitFromPackedBuf(tflite.read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = set()
    for sg in model.subgraphs:
        for op in sg.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            bc = max(code.builtinCode, code.deprecatedBuiltinCode)
            ops.add(code.customCode.decode() if bc == schema.BuiltinOperator.CUSTOM else names.get(bc, str(bc)))
    return sorted(ops)


def check(tflite: Path, onnx_path: Path, batch: int, time: int, features: int, trials: int = 20) -> dict:
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    ops = _all_ops(tflite)
    flex = [o for o in ops if o.startswith("Flex") or o in ("CUSTOM",)]
    it = Interpreter(model_path=str(tflite))  # plain interpreter: no Flex delegate linked
    it.allocate_tensors()
    by_name = {}
    for d in it.get_input_details():
        by_name["lengths" if d["dtype"] == np.int64 or "lengths" in d["name"] else "x"] = d
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for t in range(trials):
        x = rng.standard_normal((batch, time, features)).astype(np.float32) * (1 + 4 * (t % 3 == 2))
        lengths = rng.integers(1, time + 1, size=batch).astype(np.int64)
        lengths[0] = time
        if batch > 1:
            lengths[-1] = 1
        x[np.arange(time)[None, :] >= lengths[:, None]] = 0.0  # padding, as a caller would send it
        ref = sess.run(None, {"x": x, "lengths": lengths})[0]
        it.set_tensor(by_name["x"]["index"], x)
        it.set_tensor(by_name["lengths"]["index"], lengths.astype(by_name["lengths"]["dtype"]))
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        worst = max(worst, float(np.abs(got - ref).max()))
    return {
        "tflite": str(tflite),
        "bytes": tflite.stat().st_size,
        "inputs": {k: v["shape"].tolist() for k, v in by_name.items()},
        "ops": ops,
        "flex_ops": flex,
        "max_abs_vs_onnxruntime": worst,
    }


def main() -> int:
    p = argparse.ArgumentParser()
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--export", metavar="MODEL", help="rnnzoo model name to export first, e.g. lstm_classifier")
    g.add_argument("--onnx", type=Path, help="an existing rnnzoo model.onnx")
    p.add_argument("--hparams", default="{}", help='JSON, e.g. \'{"num_layers": 2, "bidirectional": true}\'')
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--time", type=int, default=12)
    p.add_argument("--unroll", action="store_true", help="onnx2tf -eru: unrolled graph instead of a builtin WHILE")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    onnx_path = export_with_rnnzoo(a.export, a.out, **json.loads(a.hparams)) if a.export else a.onnx
    import onnx

    features = onnx.load(str(onnx_path)).graph.input[0].type.tensor_type.shape.dim[2].dim_value
    static = a.out / f"model_b{a.batch}_t{a.time}.onnx"
    make_static(onnx_path, static, a.batch, a.time)
    tfl = to_tflite(static, a.out / ("tflite_unrolled" if a.unroll else "tflite_while"), a.unroll)
    report = check(tfl, onnx_path, a.batch, a.time, features)
    print(json.dumps(report, indent=1))
    ok = not report["flex_ops"] and report["max_abs_vs_onnxruntime"] < 1e-4
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
