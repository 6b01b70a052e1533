"""Exceptions and warnings of the :mod:`crowd` package (all subclass builtins)."""

from __future__ import annotations

__all__ = [
    "AnswersFormatError",
    "MissingColumnError",
    "DegenerateModelError",
    "DuplicateAnswersError",
    "NotFittedError",
    "DatasetNotFoundError",
    "CrowdWarning",
    "CrowdDeprecationWarning",
]


class AnswersFormatError(ValueError):
    """The answers DataFrame is malformed (missing columns, empty, unknown labels, NaN ids)."""


class MissingColumnError(AnswersFormatError, KeyError):
    """A required column (``task``, ``worker``, ``label``) is absent.

    Subclasses :class:`KeyError` as well, so code written for crowd-kit (where
    ``data[["task", "worker", "label"]]`` raises ``KeyError``) catches it unchanged.
    """

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class DuplicateAnswersError(AnswersFormatError):
    """A (task, worker) pair occurs more than once and the duplicate policy is ``"error"``."""


class DegenerateModelError(ValueError):
    """The top-two model is not identifiable for these inputs (for example ``K = 2`` labels)."""


class NotFittedError(AttributeError, ValueError):
    """An estimator was used before ``fit``."""


class DatasetNotFoundError(FileNotFoundError):
    """A crowdsourcing dataset is not in the data directory (nothing is ever downloaded)."""


class CrowdWarning(UserWarning):
    """Non-fatal problems: an estimator clipped a parameter, EM hit ``n_iter``, etc."""


class CrowdDeprecationWarning(CrowdWarning, FutureWarning):
    """A renamed argument was used by its former name (it works for one more release)."""
