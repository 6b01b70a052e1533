"""Argument checks shared by the estimators: clear ValueError/TypeError naming the argument."""

from __future__ import annotations

import math
import numbers

import numpy as np

from probinf.randomness import check_random_state as _core_check_random_state

__all__ = ["check_int", "check_real", "check_random_state", "check_pair"]


INT_MAX = 2**31 - 1  # sizes and counts beyond this are a mistake, not a request


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError, ValueError):
        return False


def check_int(name: str, value, minimum: int, maximum: int = INT_MAX) -> int:
    """``value`` as an int in ``[minimum, maximum]``; bools, fractions, NaN, inf and strings are refused."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
        ok = _finite(value) and float(value).is_integer()
    if not ok or not (minimum <= int(value) <= maximum):
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], got {value!r}")
    return int(value)


def check_real(name: str, value, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a finite float in the interval ``[lo, hi]`` (ends open as asked)."""
    interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not _finite(value):
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    v = float(value)
    if (v < lo or (lo_open and v == lo)) or (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_pair(name: str, value) -> tuple[float, float]:
    """Two finite numbers (a tuple, list or array of length 2)."""
    try:
        a, b = value
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers (a, b), got {value!r}") from None
    if not (_finite(a) and _finite(b)):
        raise ValueError(f"{name} must be a pair of finite numbers, got {value!r}")
    return a, b


def check_random_state(value) -> np.random.Generator:
    """The Generator of ``random_state`` (:func:`probinf.randomness.check_random_state`: one rule for every package).

    A bad value is re-raised here, at the estimator's own boundary, with the core's message.
    """
    try:
        return _core_check_random_state(value)
    except TypeError as exc:
        raise TypeError(str(exc)) from None
