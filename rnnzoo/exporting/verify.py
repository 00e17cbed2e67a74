"""``rnnzoo verify``: the torch-free file checks, plus parity with the checkpoint where torch is installed.

Why in exporting and not deploy: parity reruns the PyTorch model, which
deploy may never import. Importing this module does not import torch
either; only ``parity=True`` (or the default, with torch installed) does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from rnnzoo.deploy.card import read_card
from rnnzoo.deploy.verify import verify_files


def verify(folder: str | Path, parity: bool | None = None) -> dict[str, Any]:
    """Re-check an export: file hashes, onnx.checker, every test_data_set_*, and (with torch) parity.

    Returns a report; ``report["passed"]`` is False on any problem.
    ``parity=None`` compares with the checkpoint when torch is importable.
    Nothing is compared once a hash differs: an edited folder is not trusted.
    """
    folder = Path(folder)
    card = read_card(folder)
    has_torch = importlib.util.find_spec("torch") is not None
    parity = has_torch if parity is None else parity
    # the registry loads the model plugins, which need torch; without it the card's digest-checked tolerance serves
    report = verify_files(folder, card, _spec_tolerance(card.meta.model) if has_torch else None)
    if "test_data_sets" not in report:  # the hashes failed: see verify_files
        return report
    if parity:
        from rnnzoo.exporting.parity import check_parity

        rep = check_parity(folder, card=card, raise_on_fail=False)
        report["parity"] = rep.as_dict()
        if not rep.passed:
            report["problems"].append(rep.summary)
            report["passed"] = False
    return report


def _spec_tolerance(model: str) -> Any:
    """The registered model's own tolerance: a card's is never trusted beyond it. None when not registered here."""
    from rnnzoo.core.registry import get_spec
    from rnnzoo.errors import UnknownModelError

    try:
        return get_spec(model).tolerance
    except UnknownModelError:
        return None
