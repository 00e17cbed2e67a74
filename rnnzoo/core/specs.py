"""The spec classes a plugin registers: the whole contract between a plugin and the rest of rnnzoo.

A leaf module (it imports only :mod:`rnnzoo.errors` and the leaf
:mod:`rnnzoo.core.search_space`), so hook specs, the
plugin loader and the registry can all use it without forming a cycle. The
trainer, exporter and parity check read everything they need from a spec,
so none of them ever special-cases a model family.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rnnzoo.core.search_space import SearchParam, check_search_space
from rnnzoo.errors import PluginError

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import torch

    from rnnzoo.data.dataset import SequenceDataset

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")
NAME_PATTERN = re.compile(r"[a-z0-9_]+")
RUNTIME_FORMATS = ("onnx", "tflite")  # RuntimeSpec.model_format: the model file a runtime loads
_PRINTABLE = set(string.printable) - set("\t\n\r\x0b\x0c")


@dataclass(frozen=True)
class Tolerance:
    """Parity tolerance: |onnx - torch| <= atol + rtol * |torch|, element-wise."""

    atol: float = 1e-4
    rtol: float = 1e-3


def _check_common(kind: str, name: object, task: object, description: object) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise PluginError(f"{kind} name {name!r} is invalid: use lowercase [a-z0-9_]+")
    if task not in TASKS:
        raise PluginError(f"{kind} {name!r}: task {task!r} is not one of {TASKS}")
    if not isinstance(description, str) or not description.strip() or not _printable(description):
        raise PluginError(f"{kind} {name!r}: description must be one non-empty line of printable text")


def _printable(text: str) -> bool:
    """One line without control characters (no newline, carriage return or ANSI escape to forge output)."""
    return all(ch in _PRINTABLE or (ch.isprintable() and not ch.isspace()) or ch == " " for ch in text)


@dataclass(frozen=True)
class DataSummary:
    """What a model's ``fit_to_data`` may look at: the training part's size and shape, never its values."""

    task: str
    samples: int
    features: int
    per_step: bool
    median_length: int
    max_length: int


@dataclass(frozen=True)
class ModelSpec:
    """One registrable model.

    ``build(input_size, output_size, **hparams)`` returns a ``torch.nn.Module``
    whose forward is ``model(x, lengths=None)``; see the README's plugin
    contract. ``supports_per_step`` means ``build`` accepts ``per_step=True``
    and then returns ``[batch, time, output_size]`` (regression only).
    ``train_defaults`` are trainer settings (lr, epochs, batch_size…) that
    suit this model; ``rnnzoo.train`` applies them under the user's own.
    ``expected_failures`` maps conformance-check names to the reason they are
    known to fail, so the kit reports them as xfail rather than errors.
    ``search_space`` maps hparam or trainer-setting names to the
    :class:`SearchParam` ``rnnzoo tune`` may vary (None: no search declared).
    ``fit_to_data(hparams, summary) -> hparams`` turns data-dependent values
    (such as the built-ins' ``patch="auto"``) into concrete ones when the
    trainer builds the model by name, so the checkpoint records what ran.
    """

    name: str
    task: Task
    build: Callable[..., torch.nn.Module]
    description: str
    family: str = "custom"
    default_hparams: Mapping[str, Any] = field(default_factory=dict)
    default_dataset: str | None = None
    train_defaults: Mapping[str, Any] = field(default_factory=dict)
    supports_per_step: bool = False
    supports_streaming: bool = False
    tolerance: Tolerance = field(default_factory=Tolerance)
    expected_failures: Mapping[str, str] = field(default_factory=dict)
    search_space: Mapping[str, SearchParam] | None = None
    fit_to_data: Callable[[dict[str, Any], DataSummary], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        _check_common("model", self.name, self.task, self.description)
        if self.fit_to_data is not None and not callable(self.fit_to_data):
            raise PluginError(f"model {self.name!r}: fit_to_data must be callable, got {self.fit_to_data!r}")
        if self.search_space is not None:
            check_search_space(self.name, self.search_space, self.default_hparams)
        if not callable(self.build):
            raise PluginError(f"model {self.name!r}: build must be callable, got {self.build!r}")
        if not isinstance(self.tolerance, Tolerance):
            raise PluginError(f"model {self.name!r}: tolerance must be rnnzoo.Tolerance")
        if self.supports_per_step and self.task != "regression":
            raise PluginError(f"model {self.name!r}: per-step output is for regressors only")


@dataclass(frozen=True)
class DatasetSpec:
    """One registrable dataset; ``load(**kwargs)`` returns a SequenceDataset.

    ``per_step`` says the targets are per time step (``[N, T, outputs]``).
    The optional facts let ``rnnzoo datasets`` describe a set without
    loading it: ``samples`` is ``(train, test)`` of its standard split
    (test 0 when it has none), ``length`` the ``(shortest, longest)``
    sequence, ``features`` the values per step, ``source`` where the data
    comes from (an archive, "generated", a paper...).
    """

    name: str
    task: Task
    load: Callable[..., SequenceDataset]
    description: str
    per_step: bool = False
    source: str = ""
    samples: tuple[int, int] | None = None
    length: tuple[int, int] | None = None
    features: int | None = None

    def __post_init__(self) -> None:
        _check_common("dataset", self.name, self.task, self.description)
        if not callable(self.load):
            raise PluginError(f"dataset {self.name!r}: load must be callable")
        if not isinstance(self.source, str) or not _printable(self.source):
            raise PluginError(f"dataset {self.name!r}: source must be one line of printable text")
        for key in ("samples", "length"):
            pair = getattr(self, key)
            if pair is not None and not (isinstance(pair, tuple) and len(pair) == 2 and all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair)):
                raise PluginError(f"dataset {self.name!r}: {key} must be a pair of non-negative ints, got {pair!r}")
        if self.features is not None and (isinstance(self.features, bool) or not isinstance(self.features, int)
                                          or self.features < 1):
            raise PluginError(f"dataset {self.name!r}: features must be a positive int, got {self.features!r}")


@dataclass(frozen=True)
class RuntimeSpec:
    """One registrable inference runtime that can run an exported ``model.onnx``.

    ``load(path, threads)`` returns ``run(x, lengths)``: ``x`` float32
    ``[batch, time, features]``, ``lengths`` int64 ``[batch]``, returning the
    graph's first output as a numpy array (``threads=None``: the runtime's
    default). ``version()`` is the installed runtime's version and raises
    ``ImportError`` when it is not installed. ``available()`` is ``None``
    when the runtime can be used, else the reason it cannot (e.g. how to
    install it). Import the runtime inside these functions, never at module
    level, so listing runtimes stays fast and works without them.
    ``limitations`` is a note for users (ops or shapes it does not support).

    ``load_graph(path, threads)`` (optional) returns ``run(feeds) ->
    outputs``: named inputs in, every output in graph order out. It is how
    a graph with other inputs than ``x``/``lengths`` runs, e.g. the
    streaming graph with its state; a runtime without it is skipped there.

    ``gate=False`` marks a runtime that is off from float32 by design (e.g.
    OpenVINO's bfloat16 defaults): its difference is measured and shown,
    never judged, and ``--runtime all`` leaves it out unless it is named.

    ``model_format``: the file ``load`` takes, ``"onnx"`` (``model.onnx`` and
    its variants) or ``"tflite"`` (``model.tflite``, LiteRT). What runs every
    runtime on the ONNX files lists them with ``list_runtimes()``, which
    returns the ONNX ones only.
    """

    name: str
    description: str
    load: Callable[[Path, int | None], Callable[[np.ndarray, np.ndarray], np.ndarray]]
    version: Callable[[], str]
    available: Callable[[], str | None]
    limitations: str = ""
    load_graph: Callable[[Path, int | None], Callable[[dict[str, np.ndarray]], list[np.ndarray]]] | None = None
    gate: bool = True
    model_format: str = "onnx"

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise PluginError(f"runtime name {name!r} is invalid: use lowercase [a-z0-9_]+")
        if not isinstance(self.description, str) or not self.description.strip() or not _printable(self.description):
            raise PluginError(f"runtime {name!r}: description must be one non-empty line of printable text")
        if self.model_format not in RUNTIME_FORMATS:
            raise PluginError(f"runtime {name!r}: model_format must be one of {RUNTIME_FORMATS}, "
                              f"got {self.model_format!r}")
        if not isinstance(self.gate, bool):
            raise PluginError(f"runtime {name!r}: gate must be True or False, got {self.gate!r}")
        if self.load_graph is not None and not callable(self.load_graph):
            raise PluginError(f"runtime {name!r}: load_graph must be callable or None, got {self.load_graph!r}")
        for attr in ("load", "version", "available"):
            if not callable(getattr(self, attr)):
                raise PluginError(f"runtime {name!r}: {attr} must be callable, got {getattr(self, attr)!r}")
        if not isinstance(self.limitations, str) or not _printable(self.limitations):
            raise PluginError(f"runtime {name!r}: limitations must be one line of printable text")
