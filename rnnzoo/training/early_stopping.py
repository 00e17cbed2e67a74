"""Early stopping with restore-best: recurrent nets often overfit or diverge late, so keep the best epoch.

The policy keeps no counters of its own: the best epoch lives in
:class:`~rnnzoo.training.state.TrainState` (it is resume state), and the
epochs without improvement are ``state.epoch - state.best.epoch``. So a run
that had stopped is still stopped after a resume, by construction.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from torch import nn

from rnnzoo.errors import DataError
from rnnzoo.training.state import Best, TrainState


@dataclass(frozen=True)
class EarlyStopping:
    """When to stop, and which weights to keep at the end.

    ``patience=None`` never stops. ``min_epochs`` is a minimum budget: no
    stop before it, since a recurrent net's loss often stalls early (warm-up,
    a plateau before it finds the long-range cue) and a small validation
    split makes that stall look final.
    """

    patience: int | None
    restore_best: bool = True
    min_epochs: int = 0

    def observe(self, state: TrainState, loss: float, net: nn.Module) -> None:
        """Record the loss of the epoch just finished; copy the weights if it is the best so far.

        A non-finite loss fails the run: it would never count as an improvement,
        so the run would drift on, or stop, with nothing said.
        """
        if not np.isfinite(loss):
            raise DataError(f"loss became {loss} at epoch {state.epoch}; lower lr or check the data")
        if state.best is None or loss < state.best.loss:
            state.best = Best(state.epoch, loss, copy.deepcopy(net.state_dict()))

    def stale(self, state: TrainState) -> int:
        """Epochs since the best one (0 before any)."""
        return 0 if state.best is None else state.epoch - state.best.epoch

    def stopped(self, state: TrainState) -> bool:
        """Checked before each epoch, so a resumed, already-stopped run trains no further."""
        return self.patience is not None and state.epoch >= self.min_epochs and self.stale(state) >= self.patience

    def to_restore(self, state: TrainState) -> Best | None:
        """The best epoch to load at the end, or None to keep the last epoch's weights."""
        return state.best if self.restore_best else None
