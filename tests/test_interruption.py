"""SIGKILL at random moments: checkpoints and exports are never half-written, and resume finishes the run.

Training runs in a real subprocess (no monkeypatching) and is killed with
SIGKILL at seeded random points: a random delay after a given epoch's
checkpoint reaches the disk, and once inside the window where
``last.safetensors`` is being written. Kill timing follows the run's own
progress (the epoch on disk), never wall-clock guesses, so a slow or loaded
machine changes how long the test takes, not what it checks.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import rnnzoo

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

EPOCHS = 10
# Small and quick, but with state that must survive a restart: cosine schedule, dropout
# (torch RNG), Adam moments and length-bucketed shuffling (numpy RNG).
CONFIG = {"epochs": EPOCHS, "seed": 3, "schedule": "cosine", "patience": None, "batch_size": 16,
          "hparams": {"hidden_size": 16, "num_layers": 2, "dropout": 0.2}}
DATA = {"n": 160, "max_len": 24}

TRAIN_SCRIPT = """
import json, sys
import rnnzoo
from rnnzoo.data.builtin import sines
out, resume, config, data = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3]), json.loads(sys.argv[4])
rnnzoo.train("gru_classifier", sines(**data), out_dir=out, resume=resume, **config)
"""

# What a run folder may hold. atomic_write's temp files are `.<name>.<random>.tmp`: hidden and
# never matched by `*.safetensors`, so nothing mistakes them for a checkpoint.
RUN_FILES = {"last.safetensors", "model.safetensors", "history.json", "history.csv", "curves.png"}
TEMP = re.compile(r"^\.(last\.safetensors|model\.safetensors|history\.json|history\.csv|curves\.png)\..+\.tmp$")
TIMEOUT = 240  # per subprocess: generous for a loaded 2-core machine, only hit if something hangs


# One torch thread: on a shared 2-core machine OpenMP's spinning threads make an epoch 10x slower.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _launch(out: Path, resume: bool) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", TRAIN_SCRIPT, str(out), "1" if resume else "0", json.dumps(CONFIG),
            json.dumps(DATA)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


@pytest.fixture
def one_thread():
    """The uninterrupted reference runs here with the subprocesses' thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_seen: dict[Path, tuple[int, int]] = {}


def _epoch_on_disk(path: Path) -> int:
    """epochs_run from last.safetensors' header (no tensors read; re-read only when the file changed)."""
    from safetensors import safe_open

    try:
        st = path.stat()
    except FileNotFoundError:
        return 0
    if path in _seen and _seen[path][0] == st.st_ino:
        return _seen[path][1]
    try:
        with safe_open(str(path), framework="pt") as fh:
            epoch = int(json.loads((fh.metadata() or {})["rnnzoo"])["epochs_run"])
    except FileNotFoundError:  # replaced between stat and open
        return 0
    _seen[path] = (st.st_ino, epoch)  # atomic_write renames a new file in: a new inode each time
    return epoch


def _wait(proc: subprocess.Popen[str], until: float, what: str, condition, every: float = 0.01) -> bool:
    """Poll ``condition`` until true (True) or the process ends (False)."""
    while not condition():
        if proc.poll() is not None:
            return False
        if time.monotonic() > until:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)
    return True


def _kill(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=TIMEOUT)
    return err


def _check_run_folder(out: Path, finished: bool) -> int:
    """Everything on disk is whole and consistent; returns the epoch last.safetensors holds."""
    names = {p.name for p in out.iterdir()}
    visible = {n for n in names if not n.startswith(".")}
    assert visible <= RUN_FILES, f"unexpected files after a kill: {visible - RUN_FILES}"
    strays = names - visible - {".rnnzoo.lock"}  # the run's lock file stays; the kernel dropped the lock itself
    assert all(TEMP.match(n) for n in strays), strays
    assert {p.name for p in out.glob("*.safetensors")} <= {"last.safetensors", "model.safetensors"}
    assert finished == ("model.safetensors" in names), "model.safetensors is written once, at the end"
    if "last.safetensors" not in names:
        return 0
    ckpt = rnnzoo.load_checkpoint(out / "last.safetensors")  # raises on a partial or corrupt file
    state = ckpt.train_state
    assert state is not None and ckpt.meta.model == "gru_classifier"
    epoch = state["epoch"]
    assert ckpt.meta.epochs_run == epoch
    assert [h["epoch"] for h in state["history"]] == list(range(1, epoch + 1))
    return int(epoch)


def _losses(history: list[dict]) -> list[tuple[float, float]]:
    return [(h["train_loss"], h["val_loss"]) for h in history]


def test_sigkill_during_training_then_resume_matches_an_uninterrupted_run(tmp_path: Path, one_thread, capfd) -> None:
    rng = random.Random(20240508)
    out, last = tmp_path / "run", tmp_path / "run" / "last.safetensors"
    kills: list[tuple[str, int, list[str]]] = []  # (how, epoch on disk afterwards, temp files left)
    on_disk = 0
    plans = ["after-epoch", "after-epoch", "during-write"]
    for i, how in enumerate(plans):
        proc = _launch(out, resume=i > 0)
        deadline = time.monotonic() + TIMEOUT
        if how == "after-epoch":
            # Kill at a random point of epoch on_disk + 3 (training, evaluation or the checkpoint
            # write), scaled by the duration of epoch on_disk + 2 measured on this very run.
            target = on_disk + 2
            alive = _wait(proc, deadline, f"epoch {target - 1}", lambda t=target: _epoch_on_disk(last) >= t - 1)
            started = time.monotonic()
            alive = alive and _wait(proc, deadline, f"epoch {target}", lambda t=target: _epoch_on_disk(last) >= t)
            time.sleep(rng.uniform(0.0, 0.9) * (time.monotonic() - started) if alive else 0)
        else:
            # Kill as soon as last.safetensors' temp file appears: inside atomic_write's window.
            target = on_disk + 1
            alive = _wait(proc, deadline, "a checkpoint write",
                          lambda t=target: any(out.glob(".last.safetensors.*.tmp")) or _epoch_on_disk(last) > t,
                          every=0.001)
        err = _kill(proc)
        assert alive and proc.returncode == -signal.SIGKILL, f"run ended before the kill:\n{err[-2000:]}"
        if i > 0:
            assert f"after epoch {on_disk}" in err, err[-2000:]  # resumed from what the last kill left
        epoch = _check_run_folder(out, finished=False)
        assert epoch >= target - (1 if how == "during-write" else 0) >= on_disk, (how, epoch, target)
        on_disk = epoch
        kills.append((how, epoch, sorted(p.name for p in out.glob(".*.tmp"))))

    # The last leg runs in this process (the public API) and must finish the run.
    from rnnzoo.data.builtin import sines

    done = rnnzoo.train("gru_classifier", sines(**DATA), out_dir=str(out), resume=True, **CONFIG)
    assert f"resumed from {last} after epoch {on_disk}" in capfd.readouterr().err
    assert _check_run_folder(out, finished=True) == EPOCHS
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1)), "no epoch skipped or repeated"
    assert done.history == history

    full = rnnzoo.train("gru_classifier", sines(**DATA), out_dir=str(tmp_path / "full"), quiet=True, **CONFIG)
    assert _losses(history) == _losses(full.history), kills
    resumed = rnnzoo.load_checkpoint(out / "model.safetensors")
    assert resumed.meta.epochs_run == EPOCHS and resumed.meta.metrics == full.metrics
    want = full.model.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in resumed.model.state_dict().items()), kills


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return rnnzoo.load_checkpoint(path).model.state_dict()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sigkill_during_export_leaves_the_previous_export_or_the_new_one(tmp_path: Path, one_thread) -> None:
    from rnnzoo.data.builtin import sines

    data = sines(n=120, max_len=20)
    kw = {"epochs": 1, "quiet": True, "hparams": {"hidden_size": 8}}
    old = rnnzoo.train("gru_classifier", data, out_dir=str(tmp_path / "a"), seed=1, **kw).checkpoint
    new = rnnzoo.train("gru_classifier", data, out_dir=str(tmp_path / "b"), seed=2, **kw).checkpoint
    assert old is not None and new is not None
    old_w, new_w = _weights(old), _weights(new)
    exp = tmp_path / "exp"
    rnnzoo.export(old, exp, data=data)

    rng = random.Random(7)
    cli = [sys.executable, "-c", "from rnnzoo.cli import main; main()", "export", str(new), "--out", str(exp)]
    outcomes = []
    for _ in range(2):
        proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        # The export builds in a hidden sibling folder (.exp.*.export); kill at a random point
        # once that exists: tracing, variants, parity, or the swap into place.
        before = set(tmp_path.glob(".exp.*"))
        started = _wait(proc, time.monotonic() + TIMEOUT, "the export to start writing",
                        lambda b=before: bool(set(tmp_path.glob(".exp.*.export")) - b))
        time.sleep(rng.uniform(0.0, 1.5) if started else 0)
        err = _kill(proc)
        outcomes.append("killed" if proc.returncode == -signal.SIGKILL else f"exit {proc.returncode}")
        assert exp.is_dir(), f"a killed export removed the previous one ({outcomes}):\n{err[-2000:]}"
        report = rnnzoo.verify(exp, parity=False)
        assert report["passed"], (outcomes, report["problems"])
        inside = _weights(exp / "checkpoint.safetensors")
        assert _same(inside, old_w) or _same(inside, new_w), "the folder holds an export of neither checkpoint"
        if _same(inside, new_w):
            break  # the new export completed before the kill: nothing left to interrupt
    # Whatever a kill left behind is a hidden sibling, never a file inside the export folder.
    assert {p.name for p in exp.iterdir()} <= {"model.onnx", "model.portable.onnx", "model.int8.onnx",
                                              "model.fp16.onnx", "checkpoint.safetensors", "test_data_set_0",
                                              "card.json"}
    rnnzoo.export(new, exp, data=data)
    assert _same(_weights(exp / "checkpoint.safetensors"), new_w), outcomes
    assert rnnzoo.verify(exp, parity=False)["passed"]
