"""rnnzoo tune: search-space validation, pruning, studies shared by processes, resuming, and a real improvement."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import rnnzoo
from rnnzoo import InvalidHyperparameterError, SearchParam
from rnnzoo.core.search_space import TRAIN_SETTINGS
from rnnzoo.tuning.objective import Objective
from rnnzoo.tuning.storage import open_storage
from rnnzoo.tuning.study import drain

TINY = {"epochs": 2, "steps": 1}  # steps: unused once epochs is given; keeps any data-sized default out


def _first_step_data(n: int = 160, t: int = 20, seed: int = 0) -> rnnzoo.SequenceDataset:
    """The label is the sign of the first step's feature 0, followed by noise: a unidirectional net must carry it
    through every step, a bidirectional one reads it in its backward state at once."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, 2)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.int64)
    return rnnzoo.SequenceDataset(x, np.full(n, t), y, "classification", name="first_step",
                                  label_names=["neg", "pos"])


def _noise_data(n: int = 64) -> rnnzoo.SequenceDataset:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 8, 2)).astype(np.float32)
    return rnnzoo.SequenceDataset(x, np.full(n, 8), rng.integers(0, 4, n), "classification", name="noise",
                                  label_names=list("abcd"))


# ---------------------------------------------------------------- search space


@pytest.mark.parametrize(("space", "message"), [
    ({"hiden_size": SearchParam.choice(8, 16)}, "unknown parameter 'hiden_size'. Did you mean: hidden_size"),
    ({}, "search space is empty"),
    ({"lr": SearchParam.float_range(1e-2, 1e-3)}, "'lr' needs low < high"),
    ({"lr": SearchParam.float_range(0.0, 1e-2, log=True)}, "a log range needs low > 0"),
    ({"num_layers": SearchParam.int_range(1, 2.5)}, "whole-number bounds"),  # type: ignore[arg-type]
    ({"dropout": SearchParam.float_range(0.0, float("nan"))}, "finite numbers"),
    ({"hidden_size": SearchParam.choice()}, "has no choices"),
    ({"hidden_size": SearchParam.choice([8, 16])}, "choices must be None, bool, int, float or str"),
    ({"lr": (1e-4, 1e-2)}, "must be a rnnzoo.SearchParam"),
])
def test_bad_search_spaces_are_refused_naming_the_parameter(space: dict, message: str) -> None:
    spec = rnnzoo.get_spec("gru_classifier")
    with pytest.raises(InvalidHyperparameterError, match="gru_classifier") as err:
        dataclasses.replace(spec, search_space=space)
    assert message in str(err.value)
    with pytest.raises(InvalidHyperparameterError, match=re.escape(message)):
        rnnzoo.tune("gru_classifier", _noise_data(), space=space, trials=1)


def test_every_builtin_declares_a_valid_space_of_known_settings() -> None:
    assert set(TRAIN_SETTINGS) <= {f.name for f in dataclasses.fields(rnnzoo.TrainConfig)}
    for name in rnnzoo.list_models():
        spec = rnnzoo.get_spec(name)
        if spec.search_space is not None:
            assert set(spec.search_space) <= {*spec.default_hparams, *TRAIN_SETTINGS}, name


def test_bad_tune_arguments() -> None:
    with pytest.raises(InvalidHyperparameterError, match="metric 'val_rmse' is not one of"):
        rnnzoo.tune("gru_classifier", _noise_data(), metric="val_rmse")
    with pytest.raises(InvalidHyperparameterError, match="trials must be a positive int"):
        rnnzoo.tune("gru_classifier", _noise_data(), trials=0)
    with pytest.raises(InvalidHyperparameterError, match="no setting 'epoch'"):
        rnnzoo.tune("gru_classifier", _noise_data(), epoch=3)
    with pytest.raises(InvalidHyperparameterError, match="neither a journal file path nor an RDB URL"):
        rnnzoo.tune("gru_classifier", _noise_data(), storage="redis://x", **TINY)


# ---------------------------------------------------------------- pruning


def test_pruning_stops_a_trial_after_the_epoch_it_falls_behind() -> None:
    """Three earlier trials scored 1.0 at every epoch; a net on random labels cannot, so it is cut at the warm-up."""
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(3, n_warmup_steps=2))
    dist = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2)}
    for _ in range(3):
        study.add_trial(optuna.trial.create_trial(params={"lr": 3e-3}, distributions=dist, value=1.0,
                                                  intermediate_values={e: 1.0 for e in range(1, 21)}))
    study.enqueue_trial({})
    objective = Objective("gru_classifier", _noise_data(), {"lr": SearchParam.float_range(1e-3, 1e-2)},
                          "val_accuracy", {"epochs": 20, "patience": None, "hparams": {"hidden_size": 8}})
    assert drain(lambda: study, objective) == 1
    trial = study.trials[-1]
    assert trial.state == TrialState.PRUNED
    assert max(trial.intermediate_values) == 2  # stopped at the first epoch past the warm-up, not after 20


def test_repeated_hold_out_averages_runs_on_other_validation_splits() -> None:
    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.NopPruner())
    space = {"lr": SearchParam.float_range(1e-3, 1e-2)}
    fixed = {**TINY, "hparams": {"hidden_size": 4}}
    one = Objective("gru_classifier", _noise_data(), space, "val_loss", fixed)
    three = Objective("gru_classifier", _noise_data(), space, "val_loss", fixed, repeats=3)
    study.enqueue_trial({"lr": 3e-3})
    assert drain(lambda: study, one) == 1
    study.enqueue_trial({"lr": 3e-3})
    assert drain(lambda: study, three) == 1
    single, repeated = study.trials
    values = repeated.user_attrs["repeat_values"]
    assert len(values) == 3 and len(set(values)) == 3  # seeds 0, 1, 2: three different validation splits
    assert values[0] == pytest.approx(single.value)  # the first run is the single-split trial
    assert repeated.value == pytest.approx(sum(values) / 3) and repeated.user_attrs["val_loss"] == repeated.value
    assert repeated.user_attrs["epochs_run"] == 3 * single.user_attrs["epochs_run"]


def test_repeats_must_be_a_positive_int() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(rnnzoo.InvalidHyperparameterError, match="repeats"):
            rnnzoo.tune("gru_classifier", _noise_data(), repeats=bad, **TINY)


# ---------------------------------------------------------------- shared studies


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "rnnzoo", "tune", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_two_processes_share_a_journal_study_and_run_every_trial_once(tmp_path: Path) -> None:
    data = tmp_path / "noise.npz"
    ds = _noise_data()
    np.savez(data, X=ds.x, lengths=ds.lengths, y=ds.y)
    journal = tmp_path / "shared" / "study.journal"
    args = ["gru_classifier", "--data", str(data), "--storage", str(journal), "--study", "shared", "--trials", "4",
            "--epochs", "2", "--pruner", "none", "--no-export"]
    workers = [_cli(*args, "--out", str(tmp_path / f"machine{i}")) for i in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = optuna.load_study(study_name="shared", storage=open_storage(str(journal))).trials
    assert sorted(t.number for t in trials) == list(range(4))  # four trials, none twice, none lost
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert {t.user_attrs["rnnzoo_pid"] for t in trials} <= {w.pid for w in workers}
    for i in range(2):
        assert (tmp_path / f"machine{i}" / "trials.csv").read_text().count("\n") == 5
        assert (tmp_path / f"machine{i}" / "best" / "model.safetensors").exists()


def test_resuming_a_study_by_name_keeps_its_trials_and_tops_it_up(tmp_path: Path) -> None:
    space = {"hidden_size": SearchParam.choice(4, 8), "lr": SearchParam.float_range(1e-3, 1e-2, log=True)}
    kw = {"study": "resumable", "out": tmp_path, "space": space, "pruner": "none", "export": False, "quiet": True,
          **TINY}
    first = rnnzoo.tune("gru_classifier", _noise_data(), trials=2, **kw)
    again = rnnzoo.tune("gru_classifier", _noise_data(), trials=4, jobs=2, **kw)  # two worker processes
    assert [r["number"] for r in first.trials] == [0, 1]
    assert [r["number"] for r in again.trials] == [0, 1, 2, 3]
    assert again.trials[:2] == first.trials  # the resumed study kept its finished trials untouched
    assert all(r["state"] == "complete" for r in again.trials)


def test_a_killed_workers_trial_is_replaced_when_the_study_resumes(tmp_path: Path) -> None:
    from rnnzoo.tuning.study import load_or_create, top_up

    storage = str(tmp_path / "study.journal")
    study = load_or_create(storage, "killed", "maximize")
    top_up(storage, study, 2)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from rnnzoo.tuning.study import claim

    claim(study).set_user_attr("rnnzoo_pid", int(dead.stdout))  # its worker has exited: a killed worker
    assert top_up(storage, study, 2) == 1  # the lost trial failed and was replaced; the waiting one kept
    states = sorted(t.state.name for t in study.get_trials())
    assert states == ["FAIL", "WAITING", "WAITING"]


def test_a_trial_being_claimed_is_not_taken_for_a_dead_workers(tmp_path: Path) -> None:
    """A coordinator topping up while another worker is mid-claim (state RUNNING, attributes not yet written)."""
    import socket

    from optuna.trial import TrialState

    from rnnzoo.tuning.study import fail_dead_workers, load_or_create, top_up

    storage = str(tmp_path / "study.journal")
    study = load_or_create(storage, "claiming", "maximize")
    top_up(storage, study, 1)
    waiting = study.get_trials(deepcopy=False)[0]
    study._storage.set_trial_state_values(waiting._trial_id, state=TrialState.RUNNING)
    study._storage.set_trial_user_attr(waiting._trial_id, "rnnzoo_host", socket.gethostname())  # no pid yet
    assert fail_dead_workers(study) == []
    assert top_up(storage, study, 1) == 0 and study.get_trials()[0].state == TrialState.RUNNING


# ---------------------------------------------------------------- outcome


def test_tune_beats_the_default_configuration_and_keeps_the_best_as_a_normal_export(tmp_path: Path) -> None:
    ds = _first_step_data()
    fixed = {"epochs": 4, "batch_size": 16, "lr": 1e-2, "hparams": {"hidden_size": 16}, "seed": 0}
    default = rnnzoo.train("gru_classifier", ds, quiet=True, **fixed)
    space = {"bidirectional": SearchParam.choice(False, True)}
    result = rnnzoo.tune("gru_classifier", ds, trials=2, space=space, out=tmp_path, pruner="none", quiet=True, **fixed)
    assert result.best_params == {"bidirectional": True}
    # measured 0.53 -> 1.0: the bidirectional net reads step 0 in its backward state at once
    assert result.metric == "val_loss" and result.best_value == result.best_metrics["val_loss"]
    assert result.best_metrics["val_accuracy"] >= default.metrics["val_accuracy"] + 0.2
    assert result.test_metrics is None  # no test split: none is invented
    assert (tmp_path / "trials.csv").exists() and (tmp_path / "tuning.png").stat().st_size > 0
    card = rnnzoo.verify(result.export, parity=True)
    assert card["passed"], card["problems"]
    assert rnnzoo.load_checkpoint(result.checkpoint).meta.hparams["bidirectional"] is True


# ---------------------------------------------------------------- the zoo


def test_zoo_searches_each_model_before_its_leaderboard(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from rnnzoo.cli import main
    from rnnzoo.zoo.run import run_zoo

    ds = _first_step_data(n=96, t=10)
    data = tmp_path / "first.npz"
    np.savez(data, X=ds.x, lengths=ds.lengths, y=ds.y)
    out = tmp_path / "zoo"
    res = CliRunner().invoke(main, ["zoo", "gru_classifier", "--data", str(data), "--task", "classification",
                                    "--tune", "2", "--epochs", "2", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    [row] = json.loads((out / "index.json").read_text())["models"]
    trials = (out / "tuning" / "gru_classifier" / "trials.csv").read_text().splitlines()
    assert len(trials) == 3 and set(row["tuned"]) == set(rnnzoo.get_spec("gru_classifier").search_space or {})
    assert not (out / "tuning" / "gru_classifier" / "best").exists()  # the zoo trains the chosen config itself
    with pytest.raises(InvalidHyperparameterError, match="--data"):
        run_zoo("gru_classifier", tmp_path / "nodata", tune=2)
