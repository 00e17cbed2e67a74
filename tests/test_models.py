"""The forward contract of every registered model, and the built-ins' specifics."""

from __future__ import annotations

import pytest
import torch
from helpers import model_variants
from torch import nn

import rnnzoo
from rnnzoo.errors import DataError

VARIANTS = [
    {},
    {"bidirectional": True},
    {"num_layers": 2},
    {"num_layers": 2, "bidirectional": True, "hidden_size": 16},
]


def _build(name: str, **hp) -> nn.Module:
    torch.manual_seed(0)
    model = rnnzoo.create_model(name, input_size=3, output_size=4, **hp)
    return model.eval()


@pytest.mark.parametrize(("name", "hp"), model_variants(VARIANTS))
def test_output_shapes(name: str, hp: dict) -> None:
    model = _build(name, **hp)
    x, lengths = torch.randn(5, 9, 3), torch.tensor([9, 1, 4, 9, 2])
    assert model(x, lengths).shape == (5, 4)
    assert model(x).shape == (5, 4)  # lengths=None: every step valid


@pytest.mark.parametrize(("name", "hp"), model_variants(VARIANTS[:2] + VARIANTS[3:], per_step=True))
def test_per_step_regressor_shapes_and_masking(name: str, hp: dict) -> None:
    model = _build(name, per_step=True, **hp)
    out = model(torch.randn(3, 7, 3), torch.tensor([7, 2, 5]))
    assert out.shape == (3, 7, 4)
    assert torch.all(out[1, 2:] == 0) and torch.all(out[2, 5:] == 0)
    assert torch.all(out[1, :2] != 0)


@pytest.mark.parametrize(("name", "hp"), model_variants(VARIANTS))
def test_padding_never_changes_a_samples_output(name: str, hp: dict) -> None:
    """A sample alone equals the same sample padded with garbage inside a ragged batch."""
    spec = rnnzoo.get_spec(name)
    extra = {"per_step": True} if spec.supports_per_step else {}
    for kwargs in ({}, extra):
        model = _build(name, **hp, **kwargs)
        torch.manual_seed(1)
        batch = torch.randn(4, 12, 3) * 3
        lengths = torch.tensor([12, 5, 1, 8])
        with torch.no_grad():
            together = model(batch, lengths)
            for i, n in enumerate(lengths.tolist()):
                alone = model(batch[i : i + 1, :n], lengths[i : i + 1])
                ref = together[i : i + 1, :n] if together.dim() == 3 else together[i : i + 1]
                torch.testing.assert_close(alone, ref, atol=1e-5, rtol=1e-5)


class SeedTutorialRNN(nn.Module):
    """The first seed tutorial's model, verbatim in spirit: RNN + linear head on the last step."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.rnn = nn.RNN(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(1, x.size(0), self.hidden_size)
        out, _ = self.rnn(x, h0)
        return self.fc(out[:, -1, :])


def test_rnn_classifier_is_the_seed_tutorial_model() -> None:
    torch.manual_seed(0)
    seed = SeedTutorialRNN(10, 64, 2)
    ours = rnnzoo.create_model("rnn_classifier", input_size=10, output_size=2)
    mapping = {f"rnn.fwd.0.{k[4:]}" if k.startswith("rnn.") else k: v for k, v in seed.state_dict().items()}
    ours.load_state_dict(mapping)  # strict: the same parameters, nothing more
    x = torch.randn(8, 15, 10)
    torch.testing.assert_close(ours(x), seed(x), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", ["lstm_classifier", "gru_regressor", "rnn_regressor"])
def test_streaming_chunks_equal_the_whole_sequence(name: str) -> None:
    model = _build(name, num_layers=2)
    x = torch.randn(2, 20, 3)
    state = model.initial_state(2)
    for chunk in torch.split(x, 6, dim=1):
        out, state = model.stream(chunk, state)
    torch.testing.assert_close(out, model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("x", "lengths", "message"),
    [
        (torch.randn(2, 5), None, r"shape \[batch, time, 3\]"),
        (torch.randn(2, 5, 4), None, r"shape \[batch, time, 3\]"),
        (torch.randn(2, 5, 3), torch.tensor([5, 6]), r"lengths must lie in \[1, 5\]"),
        (torch.randn(2, 5, 3), torch.tensor([0, 5]), r"lengths must lie in \[1, 5\]"),
        (torch.randn(2, 5, 3), torch.tensor([5]), r"lengths must have shape \[2\]"),
        (torch.randn(2, 5, 3), torch.tensor([5.0, 2.0]), "integer"),
        (torch.randn(2, 0, 3), None, "zero time steps"),
    ],
)
def test_bad_inputs_get_clear_errors(x, lengths, message) -> None:
    with pytest.raises(DataError, match=message):
        _build("gru_classifier")(x, lengths)
