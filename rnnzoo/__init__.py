"""rnnzoo: a plugin-based zoo of recurrent sequence models with a verified ONNX path.

Public API (everything else is private)::

    rnnzoo.list_models("lstm_*")            # timm-style wildcards
    model = rnnzoo.create_model("gru_classifier", input_size=12, output_size=9)
    result = rnnzoo.train("lstm_classifier", "sines", epochs=5)
    best = rnnzoo.tune("gru_classifier", "sines", trials=20)   # Optuna search, best retrained
    folder = rnnzoo.export(result.checkpoint, "exports/lstm_classifier")
    report = rnnzoo.check_parity(folder)

Imports are lazy so ``import rnnzoo`` (and the CLI) start fast without torch.
"""

from __future__ import annotations

from typing import Any

from rnnzoo._version import __version__
from rnnzoo.core.hookspecs import hookimpl, hookspec
from rnnzoo.core.plugins import list_plugins
from rnnzoo.core.registry import (
    create_model,
    get_dataset_spec,
    get_runtime,
    get_spec,
    list_datasets,
    list_models,
    list_runtimes,
    load_dataset,
    registered_by,
)
from rnnzoo.core.search_space import SearchParam
from rnnzoo.core.specs import DatasetSpec, DataSummary, ModelSpec, RuntimeSpec, Tolerance
from rnnzoo.errors import (
    BusyError,
    CheckpointError,
    DataError,
    DuplicateNameError,
    ExportError,
    InvalidHyperparameterError,
    MissingDependencyError,
    ParityError,
    PluginError,
    RnnzooError,
    UnknownDatasetError,
    UnknownModelError,
    UnknownRuntimeError,
)

_LAZY = {
    "SequenceDataset": "rnnzoo.data.dataset",
    "load_file": "rnnzoo.data.loaders",
    "train": "rnnzoo.training.trainer",
    "TrainConfig": "rnnzoo.training.config",
    "TrainResult": "rnnzoo.training.trainer",
    "load_checkpoint": "rnnzoo.training.checkpoint",
    "save_checkpoint": "rnnzoo.training.checkpoint",
    "export": "rnnzoo.exporting.exporter",
    "check_parity": "rnnzoo.exporting.parity",
    "predict": "rnnzoo.deploy.predict",
    "verify": "rnnzoo.exporting.verify",
    "run_zoo": "rnnzoo.zoo.run",
    "tune": "rnnzoo.tuning.tune",
    "TuneResult": "rnnzoo.tuning.tune",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnzoo' has no attribute {name!r}")


__all__ = [
    "BusyError", "CheckpointError", "DataError", "DataSummary", "DatasetSpec", "DuplicateNameError", "ExportError",
    "InvalidHyperparameterError", "MissingDependencyError", "ModelSpec", "ParityError",
    "PluginError", "RnnzooError", "RuntimeSpec", "SearchParam", "Tolerance", "UnknownDatasetError", "UnknownModelError",
    "UnknownRuntimeError", "__version__", "create_model", "get_dataset_spec", "get_runtime", "get_spec", "hookimpl",
    "hookspec", "list_datasets", "list_models", "list_plugins", "list_runtimes", "load_dataset", "registered_by",
    *_LAZY,
]
