"""Parametrization helpers shared by the test modules (tests parametrize over the registry)."""

from __future__ import annotations

import pytest

import rnnzoo


def _ids(hp: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in hp.items()) or "default"


def model_variants(variants: list[dict], task: str | None = None, per_step: bool = False) -> list:
    """(name, hparams) for every registered model and every variant its spec accepts.

    A third-party model without e.g. ``bidirectional`` is tested on the variants it has,
    never skipped; ``per_step=True`` keeps only models with a per-step mode.
    """
    return [
        pytest.param(name, hp, id=f"{name}-{_ids(hp)}")
        for name in rnnzoo.list_models(task=task)
        if not per_step or rnnzoo.get_spec(name).supports_per_step
        for hp in variants
        if set(hp) <= set(rnnzoo.get_spec(name).default_hparams)
    ]
