"""Exceptions of the kernels package."""

__all__ = ["BackendUnavailableError"]


class BackendUnavailableError(RuntimeError):
    """A requested kernel backend cannot run on this machine (missing library or device)."""
