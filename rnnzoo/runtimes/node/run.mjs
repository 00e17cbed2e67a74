// rnnzoo's `web` (onnxruntime-web, WebAssembly) and `node` (onnxruntime-node) runtimes: a long-lived worker
// driven by rnnzoo/runtimes/web.py. One JSON request per stdin line, one JSON reply per stdout line, in order:
//   {"model": path, "backend": "wasm"|"node", "threads": n|null}                  -> {"ok": true, "inputs": [...], "outputs": [...]}
//   ... plus "feeds": {name: {"dims": [...], "dtype": "float32"|"int64", "data_b64": little-endian bytes}, ...}
//                              -> {"outputs": [{"name", "dims", "dtype", "data_b64"}, ...]} (every output, graph order)
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

const KINDS = { float32: Float32Array, int64: BigInt64Array };

function decode(ort, tensor) {
  const Kind = KINDS[tensor.dtype];
  if (Kind === undefined) throw new Error(`unsupported input dtype ${JSON.stringify(tensor.dtype)}: float32 or int64`);
  const buf = Buffer.from(tensor.data_b64, "base64");
  const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength); // aligned
  return new ort.Tensor(tensor.dtype, new Kind(copy), tensor.dims);
}

function encode(name, out) {
  if (!(out.type in KINDS)) throw new Error(`output ${name} is ${out.type}: only float32 and int64 are supported`);
  const data_b64 = Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength).toString("base64");
  return { name, dims: Array.from(out.dims), dtype: out.type, data_b64 };
}

async function handle(req) {
  const { ort, sess } = await session(req);
  if (req.feeds === undefined) return { ok: true, inputs: sess.inputNames, outputs: sess.outputNames };
  const feeds = Object.fromEntries(Object.entries(req.feeds).map(([name, t]) => [name, decode(ort, t)]));
  const results = await sess.run(feeds);
  const outputs = sess.outputNames.map((name) => encode(name, results[name]));
  for (const t of Object.values(results)) t.dispose?.();
  return { outputs };
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
