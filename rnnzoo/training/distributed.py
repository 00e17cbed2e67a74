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
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnzoo.errors import InvalidHyperparameterError


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

    def wrap(self, net: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(net, device_ids=ids)


def from_env(device: str) -> Distributed | None:
    """Join the process group if launched by torchrun with more than one worker, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
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


def close(d: Distributed | None) -> None:
    """Leave the process group rnnzoo joined (a no-op in a single process or for the caller's own group)."""
    if d is not None and d.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
