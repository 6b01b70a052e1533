"""Named results of the conformal predictors, convertible to pandas.

:class:`PredictionIntervals` (regression) and :class:`PredictionSets`
(classification) carry one column per confidence level, so that several levels
calibrated once travel together; ``to_pandas()`` gives a long DataFrame with one
row per (sample, level).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from conformal.exceptions import ConformalDeprecationWarning
from probinf.deprecation import renamed_argument

__all__ = ["PredictionIntervals", "PredictionSets"]


def _level_column(levels, confidence_level, level) -> int:
    """Column of ``confidence_level`` (or of the deprecated ``level``) among the calibrated ``levels``."""
    level = renamed_argument(level, confidence_level, old="level", new="confidence_level", default=None,
                             category=ConformalDeprecationWarning, stacklevel=4)
    if level is None and len(levels) == 1:
        return 0
    levels = np.asarray(levels)
    if level is None:
        raise ValueError(f"several levels were calibrated ({levels.tolist()}); pass confidence_level= one of them")
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.integer, np.floating)):
        raise TypeError(f"confidence_level must be a number, got {level!r}")
    hit = np.flatnonzero(np.isclose(levels, level))
    if hit.size == 0:
        raise ValueError(f"confidence level {level} was not calibrated; available: {levels.tolist()}")
    return int(hit[0])


@dataclass(frozen=True)
class PredictionIntervals:
    """Prediction intervals at one or several confidence levels.

    Attributes
    ----------
    prediction : ndarray, shape (n,)
        Point prediction (NaN where the method has none).
    lower, upper : ndarray, shape (n, L)
        Interval end points, one column per level; may be ``-inf`` / ``+inf``.
    confidence_level : tuple of float, length L
        The levels, in the order of the columns.
    """

    prediction: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    confidence_level: tuple

    @property
    def width(self) -> np.ndarray:
        """Interval widths, shape (n, L)."""
        return self.upper - self.lower

    def interval(self, confidence_level: float | None = None, *, level=None):
        """``(lower, upper)`` 1-D arrays for one level (the only one when ``confidence_level`` is None).

        ``level`` is the former name of ``confidence_level`` (deprecated; it warns).
        """
        j = _level_column(self.confidence_level, confidence_level, level)
        return self.lower[:, j], self.upper[:, j]

    def covers(self, y) -> np.ndarray:
        """Boolean (n, L): whether each interval contains ``y``."""
        try:
            y = np.asarray(y, dtype=float).reshape(-1, 1)
        except (TypeError, ValueError):
            raise TypeError("y must be numeric responses, one per interval") from None
        if y.shape[0] != self.lower.shape[0]:
            raise ValueError(f"y has {y.shape[0]} values for {self.lower.shape[0]} intervals; they must match")
        return (self.lower <= y) & (y <= self.upper)

    def to_pandas(self) -> pd.DataFrame:
        """Long DataFrame: sample, confidence_level, prediction, lower, upper, width."""
        n, L = self.lower.shape
        return pd.DataFrame({
            "sample": np.repeat(np.arange(n), L),
            "confidence_level": np.tile(np.asarray(self.confidence_level, float), n),
            "prediction": np.repeat(np.asarray(self.prediction, float), L),
            "lower": self.lower.reshape(-1),
            "upper": self.upper.reshape(-1),
            "width": self.width.reshape(-1),
        })


@dataclass(frozen=True)
class PredictionSets:
    """Prediction sets over ``classes`` at one or several confidence levels.

    Attributes
    ----------
    prediction : ndarray, shape (n,)
        Most probable class.
    sets : ndarray of bool, shape (n, K, L)
        ``sets[i, k, j]``: class ``classes[k]`` is in the set of sample i at level j.
    classes : ndarray, shape (K,)
    confidence_level : tuple of float, length L
    """

    prediction: np.ndarray
    sets: np.ndarray
    classes: np.ndarray
    confidence_level: tuple

    @property
    def size(self) -> np.ndarray:
        """Set sizes, shape (n, L)."""
        return self.sets.sum(axis=1)

    def set_at(self, confidence_level: float | None = None, *, level=None) -> np.ndarray:
        """Boolean (n, K) membership for one level (the only one when ``confidence_level`` is None).

        ``level`` is the former name of ``confidence_level`` (deprecated; it warns).
        """
        j = _level_column(self.confidence_level, confidence_level, level)
        return self.sets[:, :, j]

    def covers(self, y) -> np.ndarray:
        """Boolean (n, L): whether each set contains the label ``y``."""
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != self.sets.shape[0]:
            raise ValueError(f"y must hold one label per prediction set ({self.sets.shape[0]}), got shape {y.shape}")
        idx = np.searchsorted(self.classes, y)
        idx = np.clip(idx, 0, len(self.classes) - 1)
        known = self.classes[idx] == y
        return self.sets[np.arange(len(y)), idx, :] & known[:, None]

    def to_pandas(self) -> pd.DataFrame:
        """Long DataFrame: sample, confidence_level, prediction, set (list of labels), size."""
        n, K, L = self.sets.shape
        rows_set = [list(self.classes[self.sets[i, :, j]]) for i in range(n) for j in range(L)]
        return pd.DataFrame({
            "sample": np.repeat(np.arange(n), L),
            "confidence_level": np.tile(np.asarray(self.confidence_level, float), n),
            "prediction": np.repeat(self.prediction, L),
            "set": rows_set,
            "size": self.size.reshape(-1),
        })
