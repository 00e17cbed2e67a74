"""onnxruntime-web (WebAssembly) and onnxruntime-node, run in Node.js: what a browser or a Node service would see.

Both run in a long-lived ``node run.mjs`` worker (one per runtime, started on first ``load`` and reused),
spoken to in JSON lines over stdin/stdout; see ``rnnzoo/runtimes/node/run.mjs``. The npm packages live in
``rnnzoo/runtimes/node/node_modules``, installed by ``make node-runtimes`` (pinned by its package-lock.json).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from rnnzoo.core.specs import RuntimeSpec
from rnnzoo.errors import MissingDependencyError, RnnzooError
from rnnzoo.runtimes._common import GraphRunner, plain

NODE_DIR = Path(__file__).with_name("node")
INSTALL_HINT = "run `make node-runtimes` (npm ci in rnnzoo/runtimes/node)"


class NodeRuntimeError(RnnzooError):
    """The Node.js worker behind the ``web`` or ``node`` runtime failed, exited or replied nonsense."""


def _node() -> str | None:
    return shutil.which("node")


def _availability(package: str) -> Callable[[], str | None]:
    def available() -> str | None:
        if _node() is None:
            return "node (Node.js >= 18) is not on PATH: install Node.js, then " + INSTALL_HINT
        if not (NODE_DIR / "node_modules" / package / "package.json").is_file():
            return f"{package} is not installed in {NODE_DIR / 'node_modules'}: {INSTALL_HINT}"
        return None

    return available


def _version(package: str) -> Callable[[], str]:
    available = _availability(package)

    def version() -> str:
        reason = available()  # without node the package cannot run, so it is "not installed" either way
        if reason is not None:
            raise MissingDependencyError(reason)
        try:
            meta = json.loads((NODE_DIR / "node_modules" / package / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise MissingDependencyError(f"{package} is not installed: {INSTALL_HINT}") from None
        return str(meta["version"])

    return version


class _Worker:
    """One ``node run.mjs`` process; requests are serialized (one reply line per request line)."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self.stderr: IO[bytes] | None = None

    def _start(self) -> subprocess.Popen[str]:
        node = _node()
        if node is None:
            raise NodeRuntimeError(f"runtime {self.runtime}: node is not on PATH")
        self.close()
        # a file, not a pipe: a chatty worker can never block on it; it lives as long as the worker (close())
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [node, "run.mjs"], cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, encoding="utf-8", bufsize=1, env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        return self.proc

    def _stderr_tail(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0)
        lines = [ln.strip() for ln in self.stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return " | ".join(lines[-3:])[-500:]

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(message) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (BrokenPipeError, OSError):
                line = ""
            if not line:
                code = proc.wait(timeout=10)
                tail = self._stderr_tail()
                raise NodeRuntimeError(f"runtime {self.runtime}: its Node.js process (node run.mjs) exited with "
                                       f"code {code}" + (f": {tail}" if tail else ""))
        try:
            reply = json.loads(line)
        except ValueError:
            raise NodeRuntimeError(f"runtime {self.runtime}: unreadable reply from node run.mjs: {line[:200]!r}") \
                from None
        if not isinstance(reply, dict):
            raise NodeRuntimeError(f"runtime {self.runtime}: unexpected reply from node run.mjs: {line[:200]!r}")
        if "error" in reply:
            raise NodeRuntimeError(f"runtime {self.runtime}: {reply['error']}")
        return reply

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):  # closing stdin ends run.mjs at end of input
                try:
                    if stream is not None:
                        stream.close()
                except OSError:  # BrokenPipeError when it has already exited
                    pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


_WORKERS: dict[str, _Worker] = {}
_WORKERS_LOCK = threading.Lock()


def _worker(runtime: str) -> _Worker:
    with _WORKERS_LOCK:
        if runtime not in _WORKERS:
            _WORKERS[runtime] = _Worker(runtime)
        return _WORKERS[runtime]


@atexit.register
def shutdown() -> None:
    """Stop every Node.js worker (also called at interpreter exit)."""
    with _WORKERS_LOCK:
        workers = list(_WORKERS.values())
    for worker in workers:
        with worker.lock:
            worker.close()


def _tensor(array: np.ndarray) -> dict[str, Any]:
    kind = "int64" if np.issubdtype(array.dtype, np.integer) else "float32"
    data = np.ascontiguousarray(array, dtype="<i8" if kind == "int64" else "<f4")
    return {"dims": list(data.shape), "dtype": kind, "data_b64": base64.b64encode(data.tobytes()).decode("ascii")}


def _array(reply: dict[str, Any]) -> np.ndarray:
    dtype = {"float32": "<f4", "int64": "<i8"}[reply["dtype"]]
    data = np.frombuffer(base64.b64decode(reply["data_b64"]), dtype=dtype)
    return data.reshape(reply["dims"]).astype(np.float32 if reply["dtype"] == "float32" else np.int64)


def _graph_loader(runtime: str, backend: str) -> Callable[[Path, int | None], GraphRunner]:
    def load_graph(path: Path, threads: int | None = None) -> GraphRunner:
        worker = _worker(runtime)
        head = {"model": str(Path(path).resolve()), "backend": backend, "threads": threads}
        worker.request(head)  # load now, so a model the runtime cannot load fails here

        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            reply = worker.request({**head, "feeds": {name: _tensor(np.asarray(a)) for name, a in feeds.items()}})
            return [_array(out) for out in reply["outputs"]]

        return run

    return load_graph


_WASM_GRAPH, _NODE_GRAPH = _graph_loader("web", "wasm"), _graph_loader("node", "node")

WEB = RuntimeSpec(
    name="web",
    description="onnxruntime-web (WebAssembly, one thread) in Node.js: what a browser runs",
    load=plain(_WASM_GRAPH),
    load_graph=_WASM_GRAPH,
    version=_version("onnxruntime-web"),
    available=_availability("onnxruntime-web"),
    limitations="needs Node.js and `make node-runtimes`; single-threaded wasm (threads is ignored)",
)

NODE = RuntimeSpec(
    name="node",
    description="onnxruntime-node (native CPU) in Node.js",
    load=plain(_NODE_GRAPH),
    load_graph=_NODE_GRAPH,
    version=_version("onnxruntime-node"),
    available=_availability("onnxruntime-node"),
    limitations="needs Node.js and `make node-runtimes`",
)
