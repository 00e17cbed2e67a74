"""The plugin contract: every hook a plugin may implement, in one place.

A plugin is a module named by an entry point in the ``rnnzoo`` group::

    [project.entry-points.rnnzoo]
    my_models = "my_package.rnnzoo_plugin"

and that module implements one or more of the hooks below, marked with
:data:`hookimpl`. rnnzoo's own six models, its datasets and its runtimes are registered
through exactly this mechanism (see rnnzoo's ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from rnnzoo.core.specs import DatasetSpec, ModelSpec, RuntimeSpec

PROJECT = "rnnzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def rnnzoo_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model families.

    Called once, the first time rnnzoo needs the model registry (lazily, not
    at import time). Call ``register(rnnzoo.ModelSpec(...))`` once per model.

    ``register`` validates each spec: a malformed spec (bad name, unknown
    task, non-callable ``build``) or a name another plugin also registers is
    reported against this plugin and skipped; the other plugins keep working.
    Return value is ignored.
    """


@hookspec
def rnnzoo_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets.

    Called once, the first time rnnzoo needs the dataset registry. Call
    ``register(rnnzoo.DatasetSpec(...))`` once per dataset. Loading must not
    touch the network: generate the data, or read it from files that ship in
    an installed package. Same validation and isolation rules as
    :func:`rnnzoo_register_models`.
    """


@hookspec
def rnnzoo_register_runtimes(register: Callable[[RuntimeSpec], None]) -> None:
    """Register inference runtimes that run an exported ``model.onnx`` (``rnnzoo verify --runtime``).

    Called once, the first time rnnzoo needs the runtime registry. Call
    ``register(rnnzoo.RuntimeSpec(...))`` once per runtime. Registering must
    not import the runtime itself: a runtime that is not installed is still
    listed, and its ``available()`` says why it cannot run. Same validation
    and isolation rules as :func:`rnnzoo_register_models`.
    """
