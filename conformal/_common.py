"""Shared helpers: level and array validation, conformal (weighted) quantiles, prefit handling.

The conformal quantile of n scores at level ``1 - alpha`` is the k-th smallest with
``k = ceil((n + 1)(1 - alpha))`` (Vovk et al. 2005; Lei et al. 2018); ``k > n`` means
the quantile is ``+inf``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from conformal.exceptions import InsufficientCalibrationError

__all__ = [
    "allows_nan", "check_features", "check_positive", "check_levels", "check_X_y", "check_1d", "conformal_rank",
    "conformal_quantile",
    "weighted_conformal_quantile", "fit_or_check", "check_on_insufficient",
]


def check_levels(confidence_level, name: str = "confidence_level") -> np.ndarray:
    """Levels as a 1-D float array in (0, 1); a clear error otherwise."""
    if isinstance(confidence_level, (str, bytes)):
        raise TypeError(f"{name} must be a float or a list of floats in (0, 1), got {confidence_level!r}")
    lv = np.atleast_1d(np.asarray(confidence_level, dtype=float))
    if lv.ndim != 1 or lv.size == 0:
        raise ValueError(f"{name} must be a float or a non-empty list of floats, got {confidence_level!r}")
    bad = ~((lv > 0) & (lv < 1))
    if bad.any():
        raise ValueError(f"{name} values must lie strictly between 0 and 1, got {lv[bad].tolist()}")
    return lv


def check_on_insufficient(value):
    if value not in ("raise", "inf"):
        raise ValueError(f"on_insufficient must be 'raise' or 'inf', got {value!r}")
    return value


def check_1d(y, name: str, n: int | None = None, *, numeric: bool = True) -> np.ndarray:
    if y is None or isinstance(y, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D array (one value per sample), got {type(y).__name__}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per sample), got shape {y.shape}")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} entries but X has {n} rows; they must match")
    if y.dtype == object and any(v is None for v in y.tolist()):
        raise ValueError(f"{name} contains None at rows {[i for i, v in enumerate(y.tolist()) if v is None][:5]}")
    if numeric:
        if np.iscomplexobj(y) or (not np.issubdtype(y.dtype, np.number) and y.dtype != bool):
            raise TypeError(f"{name} must be numeric, got dtype {y.dtype}")
        y = y.astype(float)
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or inf at rows {np.flatnonzero(~np.isfinite(y))[:5].tolist()}")
    return y


def allows_nan(*estimators) -> bool:
    """Whether every given scikit-learn estimator accepts NaN in ``X`` (its ``allow_nan`` input tag).

    ``None`` entries (defaults chosen later) and objects without tags count as not accepting NaN.
    """
    for est in estimators:
        if est is None:
            return False
        try:
            from sklearn.utils import get_tags

            ok = bool(get_tags(est).input_tags.allow_nan)
        except Exception:  # not an sklearn estimator (or an old one without tags): be strict
            ok = False
        if not ok:
            return False
    return True


_NO_Y = object()


def check_X_y(X, y=_NO_Y, *, name_X: str = "X", name_y: str = "y", numeric_y: bool = True, allow_nan: bool = False):
    """Arrays with matching lengths; inf in numeric X is an error, NaN too unless ``allow_nan``.

    ``allow_nan=True`` (the wrapped estimator's ``allow_nan`` tag, see :func:`allows_nan`) lets
    missing values through to estimators that handle them, e.g. ``HistGradientBoostingRegressor``.
    """
    if X is None:
        raise ValueError(f"{name_X} is required, got None")
    if isinstance(X, (str, bytes)) or np.isscalar(X):
        raise TypeError(f"{name_X} must be a 2-D array-like (samples, features), got {type(X).__name__}")
    Xa = X if hasattr(X, "iloc") else np.asarray(X)
    if getattr(Xa, "ndim", 2) != 2:
        raise ValueError(f"{name_X} must be 2-D (samples, features), got {Xa.ndim}-D; "
                         "use X.reshape(-1, 1) for a single feature")
    n = Xa.shape[0]
    if n == 0:
        raise ValueError(f"{name_X} has no rows (0 samples); pass at least one sample")
    if Xa.shape[1] == 0:
        raise ValueError(f"{name_X} has no columns (features)")
    vals = np.asarray(Xa)
    if vals.dtype == bool:
        pass
    elif np.issubdtype(vals.dtype, np.number):
        if np.iscomplexobj(vals):
            raise TypeError(f"{name_X} must be real-valued, got dtype {vals.dtype}")
        bad = np.isinf(vals) if allow_nan else ~np.isfinite(vals)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(n, -1).any(axis=1))
            what = "inf" if allow_nan else "NaN or inf"
            fix = ("" if allow_nan else "; impute them (e.g. SimpleImputer in a Pipeline) or wrap an estimator "
                   "that accepts missing values (e.g. HistGradientBoostingRegressor/Classifier)")
            raise ValueError(f"{name_X} contains {what} at rows {rows[:5].tolist()}{fix}")
    elif vals.dtype.kind in "USa":
        raise TypeError(f"{name_X} must be numeric, got dtype {vals.dtype}; encode text features first")
    if y is _NO_Y:
        return Xa, None
    return Xa, check_1d(y, name_y, n, numeric=numeric_y)


def check_features(X, estimator, name: str = "X"):
    """``X`` must have the number of features ``estimator`` was fitted on (its ``n_features_in_``)."""
    nf = getattr(estimator, "n_features_in_", None)
    if nf is not None and X.shape[1] != nf:
        raise ValueError(f"{name} has {X.shape[1]} features but {type(estimator).__name__} was fitted on {nf}; "
                         "pass the same feature columns as in training")
    return X


def check_positive(value, name: str, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (>= 0 with ``allow_zero``), else a clear error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real,)):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be finite and {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v


def conformal_rank(n: int, levels: np.ndarray) -> np.ndarray:
    """k = ceil((n + 1) * level), guarded against float round-up (e.g. 10 * 0.9 = 9.000000000000002)."""
    x = (n + 1) * np.asarray(levels, dtype=float)
    return np.ceil(x - 1e-9 * (n + 1)).astype(int)


def _insufficient(n, levels, what):
    lv = float(np.max(levels))
    need = int(np.ceil(lv / (1.0 - lv) - 1e-9))  # smallest n with ceil((n+1) lv) <= n
    raise InsufficientCalibrationError(
        f"{n} calibration {what} are too few for confidence level {float(np.max(levels))}: at least "
        f"{need} are needed (ceil((n+1)*level) <= n). Add calibration data, lower the level, or pass "
        "on_insufficient='inf' to get infinite intervals / full sets"
    )


def conformal_quantile(scores, levels, on_insufficient: str = "raise", what: str = "points") -> np.ndarray:
    """Conformal quantile(s) of ``scores`` (n,) -> (L,), ``+inf`` where k > n."""
    s = np.asarray(scores, dtype=float)
    n = s.shape[0]
    k = conformal_rank(n, levels)
    if np.any(k > n) and on_insufficient == "raise":
        _insufficient(n, levels, what)
    out = np.full(k.shape, np.inf)
    ok = k <= n
    if ok.any():
        kk = np.unique(np.maximum(k[ok], 1) - 1)
        part = np.partition(s, kk)  # O(n) selection of the needed order statistics
        out[ok] = part[np.maximum(k[ok], 1) - 1]
    return out


def weighted_conformal_quantile(sorted_scores, cum_weights, w_test, levels) -> np.ndarray:
    r"""Weighted conformal quantile (Tibshirani et al. 2019), vectorised over test points.

    ``sorted_scores`` (n,) ascending and ``cum_weights`` (n,) the cumulative calibration
    weights in that order; ``w_test`` (m,) the test weights.  The distribution puts mass
    :math:`w_i / (W + w)` on score i and :math:`w / (W + w)` on :math:`+\infty`; the quantile
    is its smallest point with cumulative mass :math:`\ge` level.  Returns (m, L).
    """
    W = cum_weights[-1] if cum_weights.size else 0.0
    target = np.asarray(levels)[None, :] * (W + np.asarray(w_test)[:, None])  # (m, L)
    # Relative guard against the cumulative sum's rounding (like conformal_rank).
    k = np.searchsorted(cum_weights, target * (1 - 1e-12), side="left")
    out = np.full(target.shape, np.inf)
    ok = k < sorted_scores.shape[0]
    out[ok] = sorted_scores[k[ok]]
    return out


def fit_or_check(estimator, prefit: bool, default, X=None, y=None, name: str = "estimator", **fit_params):
    """Clone-and-fit an unfitted estimator (``prefit=False``), or check a fitted one (``prefit=True``)."""
    est = default() if estimator is None else estimator
    if prefit:
        if estimator is None:
            raise ValueError(f"prefit=True needs a fitted {name}, got None")
        try:
            check_is_fitted(est)
        except NotFittedError as e:
            raise NotFittedError(
                f"prefit=True but {name} {type(est).__name__} is not fitted; fit it first or use prefit=False"
            ) from e
        return est
    if X is None:
        raise ValueError(f"prefit=False: call fit(X, y) to train the {name} before conformalize")
    est = clone(est)
    return est.fit(X, y, **fit_params)


def is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)
