// rnnzoo's `web` (onnxruntime-web, WebAssembly) and `node` (onnxruntime-node) runtimes: a long-lived worker
// driven by rnnzoo/runtimes/web.py. One JSON request per stdin line, one JSON reply per stdout line, in order:
//   {"model": path, "backend": "wasm"|"node", "threads": n|null}                  -> {"ok": true, "inputs": [...], "outputs": [...]}
//   ... plus "x": {"dims": [B,T,F], "data_b64": float32 LE}, "lengths": {"dims": [B], "data_b64": int64 LE}
//                                                                                 -> {"dims": [...], "dtype": "float32", "data_b64": ...}
// Any failure is {"error": "..."}; the worker keeps serving. Sessions are cached per (model, backend, threads).
// No network at run time: the wasm binaries are loaded from node_modules.
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

// stdout carries the protocol only: anything a library logs goes to stderr.
console.log = console.info = console.debug = (...args) => console.error(...args);

const here = dirname(fileURLToPath(import.meta.url));
const backends = new Map(); // backend -> ort module
const sessions = new Map(); // key -> Promise<InferenceSession>

async function ortFor(backend) {
  if (backends.has(backend)) return backends.get(backend);
  let ort;
  if (backend === "wasm") {
    ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = 1; // no worker threads: deterministic and no cross-origin isolation needed
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = join(here, "node_modules", "onnxruntime-web", "dist") + "/";
  } else if (backend === "node") {
    ort = await import("onnxruntime-node");
  } else {
    throw new Error(`unknown backend ${JSON.stringify(backend)}: use "wasm" or "node"`);
  }
  backends.set(backend, ort);
  return ort;
}

async function session(req) {
  const threads = Number.isInteger(req.threads) && req.threads > 0 ? req.threads : null;
  const key = JSON.stringify([req.model, req.backend, threads]);
  if (!sessions.has(key)) {
    const pending = (async () => {
      const ort = await ortFor(req.backend);
      const bytes = new Uint8Array(await readFile(req.model));
      const options = { executionProviders: [req.backend === "wasm" ? "wasm" : "cpu"], graphOptimizationLevel: "all" };
      if (threads !== null && req.backend === "node") {
        options.intraOpNumThreads = threads;
        options.interOpNumThreads = 1;
      }
      return { ort, sess: await ort.InferenceSession.create(bytes, options) };
    })();
    sessions.set(key, pending);
    pending.catch(() => sessions.delete(key)); // a failed load is retried next time
  }
  return sessions.get(key);
}

function decode(tensor, Kind) {
  const buf = Buffer.from(tensor.data_b64, "base64");
  const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength); // aligned
  return new Kind(copy);
}

async function handle(req) {
  const { ort, sess } = await session(req);
  if (req.x === undefined) return { ok: true, inputs: sess.inputNames, outputs: sess.outputNames };
  const feeds = {
    x: new ort.Tensor("float32", decode(req.x, Float32Array), req.x.dims),
    lengths: new ort.Tensor("int64", decode(req.lengths, BigInt64Array), req.lengths.dims),
  };
  const results = await sess.run(feeds);
  const out = results[sess.outputNames[0]];
  if (out.type !== "float32") throw new Error(`first output is ${out.type}, expected float32`);
  const b64 = Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength).toString("base64");
  const dims = Array.from(out.dims);
  for (const t of Object.values(results)) t.dispose?.();
  return { dims, dtype: "float32", data_b64: b64 };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let reply;
  try {
    reply = await handle(JSON.parse(line));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    reply = { error: message.split("\n").find((l) => l.trim()) ?? String(err) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
