"""Every exception rnnzoo raises on purpose lives here.

Callers catch :class:`RnnzooError` to tell a user mistake (bad input, unknown
name, broken plugin, corrupt file) from a bug; the CLI prints these as one
line without a traceback. Each message says what was wrong and what to do.
"""

from __future__ import annotations


class RnnzooError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""


class UnknownModelError(RnnzooError, KeyError):
    """No registered model has this name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownDatasetError(UnknownModelError):
    """No registered dataset has this name."""


class UnknownRuntimeError(UnknownModelError):
    """No registered inference runtime has this name."""


class PluginError(RnnzooError):
    """A plugin failed to import, registered something malformed or clashed."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same model or dataset name."""


class InvalidHyperparameterError(RnnzooError, ValueError):
    """A hyperparameter is unknown or out of range."""


class DataError(RnnzooError, ValueError):
    """Input data is malformed: wrong shape, NaN/inf, bad labels, empty."""


class CheckpointError(RnnzooError):
    """A checkpoint is missing, corrupt, tampered with or from an incompatible version."""


class ExportError(RnnzooError):
    """A model could not be exported, or the exported graph failed a static check."""


class ParityError(RnnzooError):
    """onnxruntime (or the reference evaluator) disagrees with PyTorch beyond tolerance."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class BusyError(RnnzooError):
    """Another rnnzoo process is writing to the same run, export or zoo folder."""


class MissingDependencyError(RnnzooError, ImportError):
    """An optional dependency (torch, matplotlib, aeon…) is not installed."""
