r"""Input validation, public grids and the cell histogram behind every private Kaplan-Meier curve.

A release on a **public** grid :math:`t_1 < \dots < t_K` starts from a partition of the
records into :math:`L = 2K + 1` cells, in time order

.. math::

    (w_1, d_1, w_2, d_2, \dots, w_K, d_K, r),

where :math:`d_b` counts deaths with :math:`t_{b-1} < T \le t_b` (:math:`t_0 = -\infty`),
:math:`w_b` counts censorings with :math:`t_{b-1} \le T < t_b` and :math:`r` counts everyone
still under observation at :math:`t_K` (censored at or after :math:`t_K`, or dying after it).
Every record lies in exactly one cell, so adding or removing a record changes the vector
by one unit in one cell (L1 sensitivity 1) and replacing one changes it by at most 2.

The number at risk for the deaths of bin :math:`b` is the suffix sum starting at
:math:`d_b`, which equals :math:`\#\{T \ge t_b\}` when the grid is the set of observed
event times: on that grid the binned product-limit *is* the Kaplan-Meier estimator
(censorings tied with a death count as at risk, the lifelines/R convention).

Records beyond the grid (:math:`T > t_K`) are administratively censored at :math:`t_K`
(they land in :math:`r`) with ``beyond="censor"`` (the default), or rejected with
``beyond="error"``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..exceptions import PrivacyParameterError, PrivacyWarning

__all__ = ["validate_survival_data", "make_grid", "cell_counts", "cell_layout", "check_entry", "expand_weights"]


def validate_survival_data(durations, event_observed=None):
    """Check ``durations`` (non-negative, finite) and ``event_observed`` (0/1); return float and int arrays.

    Raises
    ------
    ValueError
        Empty input, NaN/inf or negative durations, events outside {0, 1}, length mismatch.
    TypeError
        Non-numeric input.
    """
    if durations is None or isinstance(durations, (str, bytes)):
        raise TypeError(f"durations must be a 1-D numeric array, got {type(durations).__name__}")
    if np.iscomplexobj(durations) or np.iscomplexobj(event_observed):
        raise TypeError("durations and event_observed must be real numbers, got complex values")
    try:
        t = np.asarray(durations, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"durations must be numeric, got {type(durations).__name__}: {exc}") from None
    if t.ndim != 1:
        raise ValueError(f"durations must be one-dimensional, got shape {t.shape}")
    if t.size == 0:
        raise ValueError("durations is empty: a Kaplan-Meier curve needs at least one record")
    if not np.all(np.isfinite(t)):
        bad = int(np.sum(~np.isfinite(t)))
        raise ValueError(f"durations contains {bad} NaN/inf value(s); drop or impute them before fitting")
    if np.any(t < 0):
        raise ValueError(f"durations must be non-negative, got minimum {t.min()!r}")
    if event_observed is None:
        e = np.ones(t.shape, dtype=np.int64)
    else:
        try:
            e_raw = np.asarray(event_observed, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"event_observed must be numeric or boolean: {exc}") from None
        if e_raw.shape != t.shape:
            raise ValueError(
                f"event_observed has shape {e_raw.shape} but durations has shape {t.shape}; they must match"
            )
        ok = (e_raw == 0) | (e_raw == 1)
        if not np.all(ok):
            bad = np.unique(e_raw[~ok])[:5]
            raise ValueError(f"event_observed must contain only 0/1 (or booleans), got values {bad.tolist()}")
        e = e_raw.astype(np.int64)
    return t, e


def make_grid(grid, durations=None, *, horizon=None):
    """The public grid :math:`t_1 < \\dots < t_K` as a float array.

    ``grid`` is an increasing array of public time points, or an int ``K`` for ``K``
    equal bins over ``(0, horizon]``, or None for 50 bins.  Without a public ``horizon``
    the data maximum is used, which leaks it: a :class:`PrivacyWarning` says so.
    """
    if grid is None or (isinstance(grid, numbers.Integral) and not isinstance(grid, bool)):
        k = 50 if grid is None else int(grid)
        if k < 1:
            raise ValueError(f"grid as a number of bins must be >= 1, got {k}")
        if horizon is None:
            if durations is None:
                raise ValueError("grid given as a number of bins needs a public horizon or data")
            warnings.warn(
                "no public horizon given: the grid is spread over (0, max(durations)], which releases "
                "the largest duration without noise; pass horizon=<public follow-up limit> or an explicit "
                "grid for an epsilon-DP release",
                PrivacyWarning,
                stacklevel=3,
            )
            horizon = float(np.max(durations))
        horizon = float(horizon)
        if not np.isfinite(horizon) or horizon <= 0:
            raise ValueError(f"horizon must be a positive finite time, got {horizon!r}")
        return np.linspace(horizon / k, horizon, k)
    try:
        g = np.asarray(grid, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"grid must be None, an int or an array of times: {exc}") from None
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"grid must be a non-empty 1-D array of times, got shape {g.shape}")
    if not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError("grid must contain finite, non-negative times")
    if np.any(np.diff(g) <= 0):
        i = int(np.argmax(np.diff(g) <= 0))
        raise ValueError(
            f"grid must be strictly increasing; grid[{i}]={g[i]!r} >= grid[{i + 1}]={g[i + 1]!r}"
        )
    return g


def cell_layout(k: int) -> dict[str, np.ndarray]:
    """Indices of the censoring cells ``w``, death cells ``d`` and the remainder ``r`` for ``k`` grid points."""
    return {"w": 2 * np.arange(k), "d": 2 * np.arange(k) + 1, "r": np.array([2 * k])}


def cell_counts(durations, events, grid, *, beyond="censor"):
    """Counts of the ``2K + 1`` cells (module docstring) as an int array.

    ``beyond="error"`` raises when a duration exceeds the last grid point.
    """
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events).astype(bool)
    g = np.asarray(grid, dtype=float)
    k = g.size
    if beyond not in ("censor", "error"):
        raise ValueError(f"beyond must be 'censor' or 'error', got {beyond!r}")
    if beyond == "error" and t.size and t.max() > g[-1]:
        raise ValueError(
            f"{int(np.sum(t > g[-1]))} duration(s) exceed the last grid point {g[-1]!r} (max {t.max()!r}); "
            "extend the grid or use beyond='censor' (administrative censoring at the last grid point)"
        )
    cells = np.zeros(2 * k + 1, dtype=np.int64)
    dbin = np.searchsorted(g, t[e], side="left")  # first grid point >= T
    wbin = np.searchsorted(g, t[~e], side="right")  # number of grid points <= T
    np.add.at(cells, np.where(dbin < k, 2 * dbin + 1, 2 * k), 1)
    np.add.at(cells, np.where(wbin < k, 2 * wbin, 2 * k), 1)
    return cells


def check_entry(entry, n):
    """Left truncation is refused (see ``PrivateKaplanMeier.fit``); an all-zero ``entry`` is no truncation."""
    if entry is None:
        return
    a = np.asarray(entry, dtype=float)
    if a.shape != (n,):
        raise ValueError(f"entry must have one value per record ({n}), got shape {a.shape}")
    if np.any(a != 0):
        raise ValueError(
            "entry (left truncation) is not supported by PrivateKaplanMeier: a late-entering record is at risk "
            "only from its entry time, so it must be counted in an entry cell as well as an exit cell; one "
            "individual would then change two cells, doubling the L1 sensitivity and the Laplace noise, and that "
            "release is not implemented. Use records followed from time 0, or lifelines' KaplanMeierFitter "
            "(no privacy) for left-truncated data")


def expand_weights(weights, t, e):
    """Expand non-negative integer frequency weights into repeated records; refuse case weights."""
    if weights is None:
        return t, e
    w = np.asarray(weights, dtype=float)
    if w.shape != t.shape:
        raise ValueError(f"weights must have one value per record ({t.size}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w != np.round(w)):
        raise PrivacyParameterError(
            "weights must be non-negative integers (frequency weights: row i stands for weights[i] identical "
            "individuals). Case weights are refused for a privacy reason: a record of weight w moves the released "
            "counts by w, so the sensitivity, and the noise needed for epsilon-DP, would grow with the largest "
            "weight; with integer frequency weights the privacy unit stays one individual")
    k = w.astype(np.int64)
    if k.sum() == 0:
        raise ValueError("weights are all zero: no records to fit")
    return np.repeat(t, k), np.repeat(e, k)
