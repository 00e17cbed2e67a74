"""The study's trial budget and the workers that drain it, on Optuna's storage alone (no queue of our own).

A coordinator (each ``rnnzoo tune`` command) tops the study up to its budget
by enqueuing WAITING trials; workers, on any machine, claim one at a time
with the storage's atomic WAITING -> RUNNING update (the one Optuna's own
``ask`` uses) and stop when none is left. So every budgeted trial runs
exactly once however many workers join, and a killed worker loses only the
trial it was running: the next coordinator on its host marks that trial
FAIL and enqueues a replacement.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from rnnzoo.tuning.storage import BudgetLock, open_storage

HOST_ATTR, PID_ATTR = "rnnzoo_host", "rnnzoo_pid"


def load_or_create(storage_url: str, name: str, direction: Any, sampler: Any = None, pruner: Any = None) -> Any:
    """The named study, created on first use; a second creator racing us simply loads it."""
    import optuna

    storage = open_storage(storage_url)
    try:
        return optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                   pruner=pruner, load_if_exists=True)
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)


def top_up(storage_url: str, study: Any, budget: int) -> int:
    """Enqueue trials until the study holds ``budget`` live or finished ones; returns how many were added.

    Failed trials (errors, killed workers) do not count, so a resumed study replaces them.
    """
    from optuna.trial import TrialState

    with BudgetLock(storage_url):
        fail_dead_workers(study)
        live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING, TrialState.RUNNING)
        have = len(study.get_trials(deepcopy=False, states=live))
        for _ in range(max(0, budget - have)):
            study.enqueue_trial({}, skip_if_exists=False)
        return max(0, budget - have)


def fail_dead_workers(study: Any) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker ran on this host and no longer exists."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # claim() writes the pid before the host: a trial claimed a moment ago, whose attributes are still
        # being written, must not look like one whose worker died (that race failed live trials)
        pid = t.user_attrs.get(PID_ATTR)
        if t.user_attrs.get(HOST_ATTR) == host and pid is not None and not _alive(int(pid)):
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            failed.append(t.number)
    return failed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(study: Any) -> Any:
    """A WAITING trial switched to RUNNING by this worker, as an ``optuna.Trial``; None when none is left."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if not storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                continue  # another worker was faster
        except UpdateFinishedTrialError:
            continue
        trial = optuna.Trial(study, t._trial_id)
        trial.set_user_attr(PID_ATTR, os.getpid())  # before the host: see fail_dead_workers
        trial.set_user_attr(HOST_ATTR, socket.gethostname())
        return trial
    return None


def drain(study_factory: Callable[[], Any], objective: Callable[[Any], float],
          on_done: Callable[[Any], None] | None = None) -> int:
    """Run claimed trials until none is waiting; returns how many this worker ran.

    ``on_done(frozen_trial)`` is called after each (e.g. to log it).

    A fresh Study object per trial: its sampler then sees every trial other
    workers finished meanwhile (Optuna caches trials per Study object).
    """
    import optuna
    from optuna.trial import TrialState

    ran = 0
    while (trial := claim(study := study_factory())) is not None:
        ran += 1
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            frozen = study.tell(trial, state=TrialState.PRUNED)
        except Exception as exc:  # one bad configuration fails its trial, not the study
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            frozen = study.tell(trial, state=TrialState.FAIL)
        else:
            frozen = study.tell(trial, value)
        if on_done is not None:
            on_done(frozen)
    return ran
