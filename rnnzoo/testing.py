"""The conformance kit: checks any registered model must pass (like scikit-learn's check_estimator).

A plugin's own CI runs it in one line::

    from rnnzoo.testing import parametrize_with_checks

    @parametrize_with_checks(["my_lstm"])
    def test_conformance(model_name, check):
        check(model_name)

A spec may list ``expected_failures={"check_name": "reason"}``; those
checks are reported as xfail with the reason instead of failing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnzoo.core.registry import create_model, get_spec
from rnnzoo.core.specs import ModelSpec
from rnnzoo.data.dataset import SequenceDataset

INPUT_SIZE, OUTPUT_SIZE = 3, 4


def _spec_and_model(name: str, **extra: Any) -> tuple[ModelSpec, torch.nn.Module]:
    torch.manual_seed(0)
    return get_spec(name), create_model(name, input_size=INPUT_SIZE, output_size=OUTPUT_SIZE, **extra).eval()


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(5, 11, INPUT_SIZE, generator=g), torch.tensor([11, 1, 6, 3, 11])


def check_builds_with_defaults(name: str) -> None:
    _, model = _spec_and_model(name)
    assert isinstance(model, torch.nn.Module), f"{name}: build must return a torch.nn.Module"
    assert sum(p.numel() for p in model.parameters()) > 0, f"{name}: the model has no parameters"


def check_forward_shapes(name: str) -> None:
    spec, model = _spec_and_model(name)
    x, lengths = _batch()
    with torch.no_grad():
        for out in (model(x, lengths), model(x)):
            assert tuple(out.shape) == (5, OUTPUT_SIZE), f"{name}: expected (5, {OUTPUT_SIZE}), got {tuple(out.shape)}"
            assert out.dtype == torch.float32 and torch.isfinite(out).all()
        if spec.supports_per_step:
            _, per_step = _spec_and_model(name, per_step=True)
            assert tuple(per_step(x, lengths).shape) == (5, 11, OUTPUT_SIZE)


def check_padding_invariance(name: str) -> None:
    """Each sample alone gives the same output as inside a padded, ragged batch."""
    spec, model = _spec_and_model(name)
    x, lengths = _batch(1)
    x = x.clone()
    for i, n in enumerate(lengths.tolist()):
        x[i, n:] = 1e3  # loud padding: any leak shows
    tol = spec.tolerance
    with torch.no_grad():
        together = model(x, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone = model(x[i : i + 1, :n], lengths[i : i + 1])
            torch.testing.assert_close(alone, together[i : i + 1], atol=tol.atol, rtol=tol.rtol)


def check_backward_reaches_every_parameter(name: str) -> None:
    _, model = _spec_and_model(name)
    model.train()
    x, lengths = _batch(2)
    model(x, lengths).pow(2).mean().backward()
    dead = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not dead, f"{name}: no gradient reaches {dead}"


def _toy_data(spec: ModelSpec) -> SequenceDataset:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 16, 96)
    x = rng.normal(size=(96, 15, INPUT_SIZE)).astype(np.float32)
    for i, n in enumerate(lengths):
        x[i, n:] = 0
    signal = np.array([x[i, : n, 0].mean() for i, n in enumerate(lengths)])
    if spec.task == "classification":
        y = np.digitize(signal, np.quantile(signal, [0.25, 0.5, 0.75]))
        return SequenceDataset(x, lengths, y, "classification", name="toy",
                               label_names=[f"q{i}" for i in range(OUTPUT_SIZE)])
    y = np.repeat(signal[:, None], OUTPUT_SIZE, axis=1).astype(np.float32)
    return SequenceDataset(x, lengths, y, "regression", name="toy")


def check_training_reduces_loss(name: str) -> None:
    from rnnzoo.training.trainer import train

    spec = get_spec(name)
    result = train(name, _toy_data(spec), epochs=4, lr=5e-3, quiet=True, patience=None, val_fraction=0.25)
    first, last = result.history[0]["train_loss"], result.history[-1]["train_loss"]
    assert last < first, f"{name}: training loss did not decrease ({first:.4f} -> {last:.4f})"


def check_checkpoint_round_trip(name: str) -> None:
    from rnnzoo.training.checkpoint import load_checkpoint
    from rnnzoo.training.trainer import train

    spec = get_spec(name)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(name, _toy_data(spec), epochs=1, quiet=True, out_dir=tmp)
        loaded = load_checkpoint(Path(tmp) / "model.safetensors")
    x, lengths = _batch(3)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x, lengths), result.model(x, lengths), atol=0, rtol=0)


def check_export_and_parity(name: str) -> None:
    """Export, then onnxruntime and onnx.reference must match PyTorch within the spec's tolerance."""
    from rnnzoo.exporting.exporter import export

    _, model = _spec_and_model(name)
    with tempfile.TemporaryDirectory() as tmp:
        result = export(model, tmp, int8=False, fp16=False)  # raises ParityError on mismatch
    assert result.card.passed, result.card.failures


CHECKS: dict[str, Callable[[str], None]] = {
    f.__name__.removeprefix("check_"): f
    for f in (check_builds_with_defaults, check_forward_shapes, check_padding_invariance,
              check_backward_reaches_every_parameter, check_training_reduces_loss,
              check_checkpoint_round_trip, check_export_and_parity)
}


CONTRACT_CHECKS = ("builds_with_defaults", "forward_shapes", "padding_invariance")


def check_model(name: str, checks: Iterable[str] | None = None) -> dict[str, str]:
    """Run the checks (all by default); returns {check: "passed" | "xfail: reason" | "FAILED: message"}."""
    expected = get_spec(name).expected_failures
    results = {}
    for check in checks or CHECKS:
        fn = CHECKS[check]
        try:
            fn(name)
            results[check] = "passed"
        except Exception as exc:  # report every failing check, not just the first
            message = str(exc) or type(exc).__name__  # a bare `assert` has no message
            results[check] = f"xfail: {expected[check]}" if check in expected else f"FAILED: {message}"
    return results


def contract_errors(models: Iterable[str], distribution: str) -> list[str]:
    """One line per model of ``distribution`` that breaks the forward contract (``CONTRACT_CHECKS``).

    What ``rnnzoo plugins --check`` reports: the check that failed, the
    first line of why, and where to fix it.
    """
    errors = []
    for model in models:
        for check, outcome in check_model(model, CONTRACT_CHECKS).items():
            if outcome.startswith("FAILED"):
                why = next(iter(outcome.removeprefix("FAILED:").strip().splitlines()), "") or "no message"
                errors.append(f"model {model} fails {check}: {why[:200]} "
                              f"(fix the model in {distribution}; run rnnzoo.testing.check_model({model!r}))")
    return errors


def parametrize_with_checks(names: Iterable[str]) -> Any:
    """A pytest parametrize decorator over (model_name, check) pairs, honouring expected failures."""
    import pytest

    params = []
    for name in names:
        expected = get_spec(name).expected_failures
        for check, fn in CHECKS.items():
            marks = [pytest.mark.xfail(reason=expected[check], strict=False)] if check in expected else []
            params.append(pytest.param(name, fn, id=f"{name}-{check}", marks=marks))
    return pytest.mark.parametrize(("model_name", "check"), params)
