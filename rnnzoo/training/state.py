"""What a run carries from one epoch to the next, and so what ``last.safetensors`` must hold to resume it.

Resuming is only bit-identical when *every* piece that feeds the next epoch
comes back: weights (saved by the checkpoint itself), optimizer and
scheduler state, the torch/CUDA/numpy generators, the history and the best
epoch so far. :class:`TrainState` names those pieces in one place and is the
only code that knows the ``train_state`` dict layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Best:
    """The best epoch so far: its number (1-based), monitored loss and a copy of its weights.

    ``loss`` is ``val_loss``, or ``train_loss`` when there is no validation split.
    """

    epoch: int
    loss: float
    weights: dict[str, torch.Tensor]


@dataclass
class TrainState:
    """The live resume state of one run: counters and history, plus the objects whose state it saves.

    It holds the optimizer, scheduler and batch-order generator themselves
    (not copies of their state) so the loop drives them directly and the
    saved dict is always their current state.
    """

    optimizer: torch.optim.Optimizer
    scheduler: Any  # a torch LR scheduler, or None for a constant learning rate
    rng: np.random.Generator  # draws the batch order
    cuda: bool = False  # whether to save the CUDA generators too
    epoch: int = 0  # epochs finished
    history: list[dict[str, Any]] = field(default_factory=list)
    best: Best | None = None

    @property
    def best_epoch(self) -> int:
        """The best epoch, or the last one when none has been measured."""
        return self.best.epoch if self.best is not None else self.epoch

    def step_scheduler(self, monitored: float) -> None:
        """Advance the learning-rate schedule; a plateau schedule needs the monitored loss."""
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored)
        elif self.scheduler is not None:
            self.scheduler.step()

    def to_dict(self) -> dict[str, Any]:
        """The ``train_state`` dict that ``save_checkpoint`` stores beside the weights."""
        best = self.best
        return {
            "epoch": self.epoch, "history": self.history,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "torch_rng": torch.get_rng_state(), "numpy_rng": self.rng.bit_generator.state,
            "cuda_rng": torch.cuda.get_rng_state_all() if self.cuda else None,
            "best": None if best is None else {"value": best.loss, "epoch": best.epoch, "weights": best.weights},
        }

    def load(self, st: dict[str, Any]) -> None:
        """Restore from ``Checkpoint.train_state``.

        Raises KeyError/TypeError/ValueError/RuntimeError when it does not fit
        this run. The global torch generator is restored too: dropout draws from it.
        """
        self.optimizer.load_state_dict(st["optimizer"])
        if self.scheduler is not None and st["scheduler"] is not None:
            self.scheduler.load_state_dict(st["scheduler"])
        torch.set_rng_state(st["torch_rng"])
        if st.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        self.rng.bit_generator.state = st["numpy_rng"]
        self.epoch, self.history = int(st["epoch"]), list(st["history"])
        b = st["best"]
        self.best = None if b is None else Best(int(b["epoch"]), float(b["value"]), b["weights"])
