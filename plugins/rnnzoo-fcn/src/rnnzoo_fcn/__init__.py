"""rnnzoo-fcn: the recurrent-convolutional family (LSTM-FCN, GRU-FCN, MLSTM-FCN); this hook is the whole plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rnnzoo

# Karim et al.: kernels 8/5/3, dropout 0.8 after the recurrent branch, 128/256/128 filters (width=128). The
# default width is 32 (32/64/32 filters): 16x fewer convolution weights, so training, export and the zoo's
# runtime matrix stay quick; `rnnzoo tune` searches the width up to the published 128.
_HPARAMS: dict[str, Any] = {"hidden_size": 32, "width": 32, "filters": None, "kernels": [8, 5, 3], "dropout": 0.8}
# A run's length follows the data (TrainConfig.steps): 160 optimizer steps are 8 epochs on the 640 training
# samples of `sines` (so `make zoo` stays quick) and 80 on GunPoint's 40. Real data: rnnzoo tune.
# Regressors keep the recurrent branch's last state whole: next-value targets live in it (0.8 dropout: RMSE 0.34).
_HPARAMS_REGRESSOR = {**_HPARAMS, "dropout": 0.0}
_TRAIN = {"steps": 160, "lr": 3e-3, "batch_size": 32}
_SPACE = {
    "hidden_size": rnnzoo.SearchParam.choice(8, 32, 64, 128),
    "width": rnnzoo.SearchParam.choice(32, 64, 128),
    "dropout": rnnzoo.SearchParam.float_range(0.0, 0.8),
    "lr": rnnzoo.SearchParam.float_range(3e-4, 1e-2, log=True),
    "weight_decay": rnnzoo.SearchParam.choice(0.0, 1e-5, 1e-4),
    "schedule": rnnzoo.SearchParam.choice("none", "cosine", "plateau"),
    "batch_size": rnnzoo.SearchParam.choice(16, 32, 64),
}
_FAMILIES = {
    "lstm_fcn": ("lstm", False, "LSTM-FCN"),
    "gru_fcn": ("gru", False, "GRU-FCN"),
    "mlstm_fcn": ("lstm", True, "MLSTM-FCN (squeeze-excite, for multivariate series)"),
}


def _builder(cell: str, squeeze_excite: bool) -> Callable[..., Any]:
    def build(input_size: int, output_size: int, **hparams: Any) -> Any:
        from rnnzoo_fcn.model import RecurrentFCN

        return RecurrentFCN(cell, input_size, output_size, squeeze_excite=squeeze_excite, **hparams)

    return build


def specs() -> list[rnnzoo.ModelSpec]:
    out = []
    for family, (cell, se, title) in _FAMILIES.items():
        for task, dataset in (("classification", "sines"), ("regression", "next_value")):
            kind = "classifier" if task == "classification" else "regressor"
            out.append(rnnzoo.ModelSpec(
                name=f"{family}_{kind}", task=task, build=_builder(cell, se),  # type: ignore[arg-type]
                description=f"{title} {kind}: recurrent + masked fully convolutional branches",
                family=family, default_hparams=_HPARAMS if kind == "classifier" else _HPARAMS_REGRESSOR,
                default_dataset=dataset, train_defaults=_TRAIN,
                search_space=_SPACE,
            ))
    return out


@rnnzoo.hookimpl
def rnnzoo_register_models(register: Callable[[rnnzoo.ModelSpec], None]) -> None:
    for spec in specs():
        register(spec)
