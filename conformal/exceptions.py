"""Exceptions and warnings of the conformal package."""

__all__ = [
    "InsufficientCalibrationError",
    "ConformalWarning",
    "LowESSWarning",
    "GridBoundaryWarning",
    "ConformalDeprecationWarning",
]


class InsufficientCalibrationError(ValueError):
    """Too few calibration points for the requested confidence level.

    With n calibration scores, split conformal at level ``1 - alpha`` needs
    ``ceil((n + 1)(1 - alpha)) <= n``, i.e. ``n >= 1/alpha - 1``; otherwise the only
    valid interval is infinite.  Pass ``on_insufficient="inf"`` to get that infinite
    interval (or the full label set) instead of this error.
    """


class ConformalWarning(UserWarning):
    """Base class of the warnings of the conformal package."""


class LowESSWarning(ConformalWarning):
    """Conformal Bayes: the add-one-in importance weights have a small effective sample size."""


class GridBoundaryWarning(ConformalWarning):
    """Conformal Bayes: the prediction set reaches the end of the candidate grid (widen it)."""


class ConformalDeprecationWarning(ConformalWarning, FutureWarning):
    """A renamed argument was used by its former name (it works for one more release)."""
