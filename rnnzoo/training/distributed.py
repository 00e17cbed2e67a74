"""Data-parallel training on PyTorch's own engine: torchrun + DistributedDataParallel.

rnnzoo does not launch or coordinate processes itself. ``torchrun`` (or any
launcher that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``) starts one process
per worker; the trainer sees those variables, joins the process group (gloo
on CPU, NCCL on CUDA) and wraps the model in DDP.

Why the batch is split this way: every rank draws the same *global* batches
from the same seeded generator (bucketed by length, as in one process) and
takes every ``world``-th sample of each. Losses are returned as (sum, weight)
and divided by the weight summed over ranks, so the averaged gradient equals
the single-process gradient of the same global batch, whatever the lengths.
A rank whose share of a short last batch is empty runs one sample with
weight 0, so every rank joins every gradient all-reduce.

A single process is one more strategy, :class:`SingleProcess`, with the
same methods as :class:`Distributed` doing nothing or the identity, so the
trainer calls one interface and never asks which it has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from rnnzoo.errors import CheckpointError, InvalidHyperparameterError


class Strategy(Protocol):
    """What the training loop asks of its workers: :class:`Distributed` or :class:`SingleProcess`."""

    @property
    def rank(self) -> int: ...
    @property
    def world(self) -> int: ...
    @property
    def is_main(self) -> bool: ...
    def device(self, requested: str) -> str: ...
    def shard(self, idx: np.ndarray) -> tuple[np.ndarray, bool]: ...
    def share(self, batches: list[np.ndarray]) -> list[np.ndarray]: ...
    def sum(self, value: torch.Tensor | np.ndarray) -> Any: ...
    def loss_denominator(self, weight: torch.Tensor) -> torch.Tensor: ...
    def check_same_epoch(self, epoch: int) -> None: ...
    def wrap(self, net: nn.Module) -> nn.Module: ...
    def seed_worker(self, seed: int, epoch: int) -> None: ...
    def wait_for_all(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class SingleProcess:
    """The one-worker strategy: every method is the identity or does nothing.

    Kept method-for-method with :class:`Distributed` so the loop has no
    single-process branches; each identity is exact, so results are
    bit-identical to calling nothing at all.
    """

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return True

    def device(self, requested: str) -> str:
        return requested

    def shard(self, idx: np.ndarray) -> tuple[np.ndarray, bool]:
        return idx, False

    def share(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        return batches

    def sum(self, value: torch.Tensor | np.ndarray) -> Any:
        return value

    def loss_denominator(self, weight: torch.Tensor) -> torch.Tensor:
        return weight

    def check_same_epoch(self, epoch: int) -> None:
        pass

    def wrap(self, net: nn.Module) -> nn.Module:
        return net

    def seed_worker(self, seed: int, epoch: int) -> None:
        pass

    def wait_for_all(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Distributed:
    """This process's place in a torchrun job."""

    rank: int
    world: int
    local_rank: int
    backend: str
    owns_group: bool = True  # False when the caller had set up the process group: then it is theirs to close

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> str:
        """One GPU per local rank under NCCL; CPU runs keep what was asked for."""
        return f"cuda:{self.local_rank}" if self.backend == "nccl" else requested

    def shard(self, idx: np.ndarray) -> tuple[np.ndarray, bool]:
        """This rank's rows of a global batch; (one stand-in row, True) when its share is empty."""
        mine = idx[self.rank :: self.world]
        return (mine, False) if len(mine) else (idx[:1], True)

    def share(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """Whole batches for evaluation: no gradients to synchronise, so ranks split batches, then sum metrics."""
        return batches[self.rank :: self.world]

    def sum(self, value: torch.Tensor | np.ndarray) -> Any:
        """All-reduce SUM of a tensor or float64 numpy vector; returns the same kind."""
        import torch.distributed as dist

        if isinstance(value, np.ndarray):
            t = torch.from_numpy(value.astype(np.float64)).to(self.device("cpu"))
            dist.all_reduce(t)
            return t.cpu().numpy()
        t = value.detach().clone()
        dist.all_reduce(t)
        return t

    def loss_denominator(self, weight: torch.Tensor) -> torch.Tensor:
        """The global batch's weight over ranks, times ``1/world``.

        DDP averages gradients over ranks, hence the factor: ``sum / this``
        then has the gradient of sum/global_weight, as in one process.
        """
        return self.sum(weight.detach()) / self.world

    def check_same_epoch(self, epoch: int) -> None:
        """Every worker must start from the same epoch (e.g. --out not shared across machines on resume)."""
        epochs = self.sum(torch.tensor([float(epoch), 1.0]))
        if float(epochs[0]) != epoch * float(epochs[1]):
            raise CheckpointError(
                f"workers resumed from different epochs (rank {self.rank}: {epoch}); every worker must "
                "read the same last.safetensors, so --out must be a shared path"
            )

    def wrap(self, net: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(net, device_ids=ids)

    def seed_worker(self, seed: int, epoch: int) -> None:
        """Ranks other than 0 draw their own dropout masks; rank 0 keeps the stream one process would use.

        The epoch term keeps a resumed worker from replaying the masks it drew in epoch 1.
        """
        if not self.is_main:
            torch.manual_seed(seed + self.rank + 1_000_003 * epoch)

    def wait_for_all(self) -> None:
        """Block until every worker has finished its run, before any leaves the group.

        Rank 0 writes the final files after the last collective while the
        others are already done. A worker that tore its gloo group down and
        exited meanwhile sometimes died in interpreter shutdown ("terminate
        called without an active exception", SIGABRT: 2 jobs in 25 on a busy
        2-core machine, 0 in 40 with this barrier), failing the whole job.
        Called on success only: a worker that raised must not wait here for
        peers that are waiting in a collective it will never join.
        """
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()

    def close(self) -> None:
        """Leave the process group rnnzoo joined; a group the caller set up is theirs to close."""
        if self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def from_env(device: str) -> Strategy:
    """Join the process group if launched by torchrun with more than one worker, else a :class:`SingleProcess`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SingleProcess()
    import torch.distributed as dist

    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl" and not torch.cuda.is_available():
        raise InvalidHyperparameterError("device='cuda' under torchrun, but CUDA is not available")
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    return Distributed(dist.get_rank(), dist.get_world_size(), local_rank, backend, owns)
