"""The shell's exception hierarchy: one base, each subclassing the builtin it refines."""

from __future__ import annotations

__all__ = ["CLIError", "UnknownReproductionError", "OutputDirError", "ReproductionFailedError"]


class CLIError(Exception):
    """Base class of the errors the ``probinf`` command line reports as one line (no traceback)."""


class UnknownReproductionError(CLIError, ValueError):
    """A reproduction name that is not registered."""


class OutputDirError(CLIError, OSError):
    """The output directory cannot be created or written."""


class ReproductionFailedError(CLIError, RuntimeError):
    """One or more reproductions raised; the index report says which and why."""
