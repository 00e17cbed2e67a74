"""rnnzoo's own model plugin: six RNN/LSTM/GRU classifiers and regressors.

Registered through the ``rnnzoo`` entry point ``builtin_models`` in rnnzoo's
``pyproject.toml``, the same way a third-party plugin is. torch is imported
only when a model is built, so listing models stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rnnzoo.core.hookspecs import hookimpl
from rnnzoo.core.search_space import SearchParam
from rnnzoo.core.specs import DataSummary, ModelSpec

_COMMON = {"hidden_size": 64, "num_layers": 1, "bidirectional": False, "dropout": 0.0, "patch": "auto"}
# patch="auto": frames of `patch` steps so a sequence is about this many recurrent steps. Measured with the
# GRU on the offline sets (benchmarks/bench_real.py): ArrowHead (251 steps) 0.30 unpatched -> 0.71-0.74 at
# 32-63 frames, OSULeaf (427) 0.33 -> 0.57, GunPoint (150) 0.89 -> 0.97; 16-step frames lost again.
AUTO_FRAMES = 32
# The run's length comes from the data (TrainConfig: epochs=None -> `steps` optimizer steps, within a
# compute budget): 15 epochs on the 640 training samples of `sines`, 150 on GunPoint's 40. Measured on the
# default datasets and the offline real sets (benchmarks/bench_real.py): a plain tanh RNN needs smaller
# batches (so more steps for the same epochs) and a gentler lr; a constant lr beat warm-up + cosine for
# the LSTM on `sines` (0.99 vs 0.73 validation accuracy), which plateaus before it finds the period.
_TRAIN = {"lr": 5e-3, "batch_size": 32, "steps": 300}
_TRAIN_RNN = {"lr": 3e-3, "batch_size": 16, "steps": 800}
# Regressors: twice the steps and no early stop (the best validation epoch is still the one kept). Measured over
# 3 seeds: Tecator test RMSE GRU 8.5 -> 5.6, LSTM 9.3 -> 5.9 (mean predictor 12.9); next_value and Covid3Month
# unchanged within noise; classifiers gained nothing from more steps (they overfit the small real sets).
_TRAIN_REGRESSOR = {**_TRAIN, "steps": 600, "patience": None}
# What `rnnzoo tune` varies: on real sets the best recurrent configuration differs a lot from set to
# set (bidirectional or not, width, schedule), so the search covers the model's shape and the optimizer.
_SPACE = {
    "hidden_size": SearchParam.choice(32, 64, 128),
    "num_layers": SearchParam.int_range(1, 2),
    "bidirectional": SearchParam.choice(False, True),
    "dropout": SearchParam.float_range(0.0, 0.5),
    "lr": SearchParam.float_range(3e-4, 1e-2, log=True),
    "weight_decay": SearchParam.choice(0.0, 1e-5, 1e-4, 1e-3),
    "schedule": SearchParam.choice("none", "cosine", "plateau"),
    "batch_size": SearchParam.choice(16, 32, 64),
}
_TITLE = {"rnn": "Elman RNN", "lstm": "LSTM", "gru": "GRU"}


def auto_patch(summary: DataSummary) -> int:
    """Steps per frame for ``patch="auto"``: 1 for short or per-step data, else about AUTO_FRAMES frames."""
    if summary.per_step:
        return 1
    return max(1, round(summary.median_length / AUTO_FRAMES))


def fit_to_data(hparams: dict[str, Any], summary: DataSummary) -> dict[str, Any]:
    if hparams.get("patch") != "auto":
        return hparams
    return {**hparams, "patch": auto_patch(summary)}


def _builder(cell: str) -> Callable[..., Any]:
    def build(input_size: int, output_size: int, **hparams: Any) -> Any:
        from rnnzoo.models.recurrent import RecurrentNet

        return RecurrentNet(cell, input_size, output_size, **hparams)

    build.__name__ = f"build_{cell}"
    return build


def builtin_specs() -> list[ModelSpec]:
    """The six built-in specs (also handy for plugin authors to wrap or extend)."""
    specs = []
    for cell in ("rnn", "lstm", "gru"):
        hp = {**_COMMON, **({"nonlinearity": "tanh"} if cell == "rnn" else {})}
        specs.append(ModelSpec(
            name=f"{cell}_classifier", task="classification", build=_builder(cell),
            description=f"{_TITLE[cell]} with a linear head on each sample's last valid step",
            family=cell, default_hparams=hp, default_dataset="sines",
            train_defaults=_TRAIN_RNN if cell == "rnn" else _TRAIN,
            supports_streaming=True, search_space=_SPACE, fit_to_data=fit_to_data,
        ))
        specs.append(ModelSpec(
            name=f"{cell}_regressor", task="regression", build=_builder(cell),
            description=f"{_TITLE[cell]} regressor: sequence-to-one, or per step with per_step=True",
            family=cell, default_hparams=hp, default_dataset="next_value", train_defaults=_TRAIN_REGRESSOR,
            supports_per_step=True, supports_streaming=True, search_space=_SPACE, fit_to_data=fit_to_data,
        ))
    return specs


@hookimpl
def rnnzoo_register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in builtin_specs():
        register(spec)
