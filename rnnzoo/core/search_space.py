"""What a hyperparameter search may vary, declared next to the model (``ModelSpec.search_space``).

A leaf module, torch- and Optuna-free, so a plugin declares its space at
registration and a mistake (an unknown name, an empty space, a range with
``low >= high``) fails then, naming the model and the parameter, rather than
in the middle of a study. ``rnnzoo.tuning`` turns each :class:`SearchParam`
into an Optuna distribution.

A name is either one of the model's ``default_hparams`` (passed to ``build``)
or one of :data:`TRAIN_SETTINGS` (a ``TrainConfig`` field).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from rnnzoo.errors import InvalidHyperparameterError

# TrainConfig fields a search may vary (tests keep this in step with TrainConfig).
TRAIN_SETTINGS: tuple[str, ...] = ("lr", "weight_decay", "schedule", "batch_size", "optimizer", "epochs",
                                   "clip_norm", "patience")
Scalar = bool | int | float | str | None
Kind = Literal["choice", "int", "float"]


@dataclass(frozen=True)
class SearchParam:
    """One searched parameter: ``choice`` among ``choices``, or an ``int``/``float`` range [low, high].

    ``log=True`` samples the range on a log scale (for rates; needs ``low > 0``).
    Build them with :meth:`choice`, :meth:`int_range` and :meth:`float_range`.
    """

    kind: Kind
    choices: tuple[Scalar, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    @classmethod
    def choice(cls, *choices: Scalar) -> SearchParam:
        return cls("choice", choices=tuple(choices))

    @classmethod
    def int_range(cls, low: int, high: int, log: bool = False) -> SearchParam:
        return cls("int", low=low, high=high, log=log)

    @classmethod
    def float_range(cls, low: float, high: float, log: bool = False) -> SearchParam:
        return cls("float", low=low, high=high, log=log)

    def problem(self) -> str | None:
        """Why this parameter cannot be searched, or None."""
        if self.kind == "choice":
            if not self.choices:
                return "has no choices"
            bad = [c for c in self.choices if c is not None and not isinstance(c, (bool, int, float, str))]
            return f"choices must be None, bool, int, float or str, got {bad!r}" if bad else None
        if self.kind not in ("int", "float"):
            return f"kind must be 'choice', 'int' or 'float', got {self.kind!r}"
        return _range_problem(self)


def _range_problem(p: SearchParam) -> str | None:
    for bound in (p.low, p.high):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            return f"bounds must be finite numbers, got low={p.low!r}, high={p.high!r}"
        if p.kind == "int" and not float(bound).is_integer():
            return f"an int range needs whole-number bounds, got low={p.low!r}, high={p.high!r}"
    if not p.low < p.high:
        return f"needs low < high, got low={p.low!r}, high={p.high!r}"
    if p.log and p.low <= 0:
        return f"a log range needs low > 0, got low={p.low!r}"
    return None


def check_search_space(model: str, space: object, hparams: Iterable[str]) -> None:
    """Raise InvalidHyperparameterError naming ``model`` and the parameter unless ``space`` can be searched."""
    from rnnzoo.core.checks import did_you_mean

    if not isinstance(space, Mapping):
        raise InvalidHyperparameterError(f"{model}: search space must be a mapping of name -> SearchParam")
    if not space:
        raise InvalidHyperparameterError(f"{model}: search space is empty; declare at least one parameter, "
                                         f"or leave search_space=None to declare none")
    known = [*hparams, *TRAIN_SETTINGS]
    for name, param in space.items():
        if name not in known:
            raise InvalidHyperparameterError(
                f"{model}: search space names unknown parameter {name!r}.{did_you_mean(str(name), known)} "
                f"Searchable: the model's default_hparams ({', '.join(hparams) or 'none'}) "
                f"and {', '.join(TRAIN_SETTINGS)}")
        if not isinstance(param, SearchParam):
            raise InvalidHyperparameterError(f"{model}: search parameter {name!r} must be a rnnzoo.SearchParam, "
                                             f"got {type(param).__name__}")
        problem = param.problem()
        if problem:
            raise InvalidHyperparameterError(f"{model}: search parameter {name!r} {problem}")


def split_params(params: Mapping[str, Scalar]) -> tuple[dict[str, Scalar], dict[str, Scalar]]:
    """(trainer settings, model hparams) of one sampled configuration."""
    train = {k: v for k, v in params.items() if k in TRAIN_SETTINGS}
    return train, {k: v for k, v in params.items() if k not in TRAIN_SETTINGS}
