"""Data-parallel training under torchrun (gloo, 2 CPU workers, loopback only).

The claims: two workers with the same global batch and seed give the
single-process result (weights within 1e-5 after training on ragged data
with an uneven last batch), and a run whose worker was killed resumes to
the same result as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.data.split import split_dataset
from rnnzoo.training.distributed import Distributed, SingleProcess, from_env

# Float sums are reduced in another order across ranks; nothing else differs. The gap grows
# with Adam steps (measured: 5e-7 after 3 epochs, 3e-3 after 20), so the runs here are short.
WEIGHT_ATOL = 1e-5
MODEL, BATCH = "gru_classifier", 16


@pytest.fixture(scope="module")
def ragged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """101 sequences of length 3..40; the 81-sample train split leaves a last batch of ONE sample."""
    rng = np.random.default_rng(1)
    n, t = 101, 40
    lengths = rng.integers(3, t + 1, n)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, t, 3)).astype(np.float32)
    x[:, :, 0] += y[:, None] * np.sin(np.arange(t)[None, :] * (y[:, None] + 1) / 5)
    x[np.arange(t)[None, :] >= lengths[:, None]] = 0
    path = tmp_path_factory.mktemp("ddp") / "ragged.npz"
    np.savez(path, X=x, y=y, lengths=lengths)
    train = split_dataset(rnnzoo.load_file(path, task="classification"), 0.2, 0.0, 0).train
    assert len(train) % BATCH == 1  # so one worker gets an empty share of the last batch
    return path


def _torchrun(data: Path, out: Path, epochs: int, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "rnnzoo", "train", MODEL, "--data", str(data), "--out", str(out), "--epochs", str(epochs),
           "--batch-size", str(BATCH), "--no-early-stop", "--quiet", *extra]
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _single(data: Path, epochs: int) -> rnnzoo.TrainResult:
    return rnnzoo.train(MODEL, data, epochs=epochs, batch_size=BATCH, patience=None, quiet=True)


def _assert_same(result: rnnzoo.TrainResult, ckpt_path: Path) -> None:
    ckpt = rnnzoo.load_checkpoint(ckpt_path)
    assert ckpt.meta.world_size == 2
    for name, want in result.model.state_dict().items():
        torch.testing.assert_close(ckpt.model.state_dict()[name], want, atol=WEIGHT_ATOL, rtol=0)
    history = json.loads((ckpt_path.parent / "history.json").read_text())
    assert [h["epoch"] for h in history] == [h["epoch"] for h in result.history]
    for got, want in zip(history, result.history, strict=True):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-5)
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-5)
        assert got["val_accuracy"] == want["val_accuracy"]


def test_two_workers_match_one_process(ragged: Path, tmp_path: Path) -> None:
    proc = _torchrun(ragged, tmp_path / "ddp", 3)
    output = proc.communicate(timeout=300)[0].decode(errors="replace")
    assert proc.returncode == 0, output
    _assert_same(_single(ragged, 3), tmp_path / "ddp" / "model.safetensors")
    assert not list((tmp_path / "ddp").glob(".*.tmp"))


def test_run_resumes_after_a_worker_is_killed(ragged: Path, tmp_path: Path) -> None:
    out, epochs = tmp_path / "run", 8
    proc = _torchrun(ragged, out, epochs)
    killed_after = _kill_one_worker_after(proc, out / "last.safetensors", epoch=1)
    assert proc.wait(timeout=120) != 0  # torchrun notices the dead worker and stops the job
    assert 1 <= killed_after < epochs
    assert not (out / "model.safetensors").exists()
    resumed = _torchrun(ragged, out, epochs, "--resume")
    output = resumed.communicate(timeout=300)[0].decode(errors="replace")
    assert resumed.returncode == 0, output
    _assert_same(_single(ragged, epochs), out / "model.safetensors")


def _kill_one_worker_after(proc: subprocess.Popen[bytes], last: Path, epoch: int) -> int:
    """SIGKILL worker rank 1 once ``last`` holds at least ``epoch`` epochs; the epoch it held."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if last.exists():
            done = rnnzoo.load_checkpoint(last).train_state["epoch"]  # type: ignore[index]
            if done >= epoch:
                workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
                pids = sorted(int(p) for p in workers.stdout.split())
                assert len(pids) == 2, workers.stdout
                os.kill(pids[-1], signal.SIGKILL)
                return int(done)
        time.sleep(0.1)
    pytest.fail(f"training never reached epoch {epoch} (exit code {proc.poll()})")


@pytest.mark.parametrize("size", [1, 2, 5, 16])
def test_every_sample_of_a_global_batch_goes_to_exactly_one_worker(size: int) -> None:
    idx = np.arange(100, 100 + size)
    shares = [Distributed(rank, 2, rank, "gloo").shard(idx) for rank in range(2)]
    real = np.concatenate([rows for rows, stand_in in shares if not stand_in])
    assert sorted(real.tolist()) == idx.tolist()
    assert all(len(rows) == 1 for rows, stand_in in shares if stand_in)  # an empty share runs one weight-0 row


def _public(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")} - {"backend", "local_rank", "owns_group"}


def test_one_process_is_a_strategy_with_the_same_methods_doing_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop never asks which strategy it has, so the stand-in must answer everything, exactly."""
    assert _public(SingleProcess()) == _public(Distributed(1, 2, 1, "gloo"))
    monkeypatch.setenv("WORLD_SIZE", "1")
    one = from_env("cpu")
    assert isinstance(one, SingleProcess) and one.is_main and (one.rank, one.world) == (0, 1)
    idx, batches, weight = np.arange(5), [np.arange(3), np.arange(3, 5)], torch.tensor(2.5)
    assert one.shard(idx) == (idx, False) and one.share(batches) is batches
    assert one.loss_denominator(weight) is weight and one.sum(weight) is weight
    net = torch.nn.Linear(1, 1)
    assert one.wrap(net) is net and one.device("cpu") == "cpu"
    before = torch.get_rng_state()
    one.seed_worker(0, 3)
    one.check_same_epoch(3)
    one.wait_for_all()
    one.close()
    assert torch.equal(torch.get_rng_state(), before)
