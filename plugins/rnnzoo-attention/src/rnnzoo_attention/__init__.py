"""rnnzoo-attention: the whole plugin is this hook plus the module in ``model.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rnnzoo

_HPARAMS = {"hidden_size": 64, "num_layers": 1, "dropout": 0.0, "attention_size": 32}
_TRAIN = {"epochs": 15, "lr": 5e-3, "batch_size": 32}


def _builder(cell: str) -> Callable[..., Any]:
    def build(input_size: int, output_size: int, **hparams: Any) -> Any:
        from rnnzoo_attention.model import AttentionRNN

        return AttentionRNN(cell, input_size, output_size, **hparams)

    return build


@rnnzoo.hookimpl
def rnnzoo_register_models(register: Callable[[rnnzoo.ModelSpec], None]) -> None:
    for cell in ("lstm", "gru"):
        for task, dataset in (("classification", "sines"), ("regression", "next_value")):
            kind = "classifier" if task == "classification" else "regressor"
            register(rnnzoo.ModelSpec(
                name=f"{cell}_attention_{kind}", task=task, build=_builder(cell),  # type: ignore[arg-type]
                description=f"{cell.upper()} {kind} with attention pooling over the valid steps",
                family=f"{cell}_attention", default_hparams=_HPARAMS, default_dataset=dataset,
                train_defaults=_TRAIN,
            ))
