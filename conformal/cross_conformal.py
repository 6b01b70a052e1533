r"""CV+ and jackknife+ regression intervals (Barber et al. 2021): :class:`CrossConformalRegressor`.

Guarantee: coverage at least :math:`1 - 2\alpha` for exchangeable data (Barber et al. 2021); the calling
convention is MAPIE 1.x's (see :mod:`conformal.regression`).

References
----------
Barber, R. F., Candes, E. J., Ramdas, A. and Tibshirani, R. J. (2021). Predictive inference with
the jackknife+. Ann. Statist. 49(1). doi:10.1214/20-AOS1965
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, LeaveOneOut
from sklearn.utils.validation import check_is_fitted

from conformal._common import (
    allows_nan,
    check_features,
    check_levels,
    check_on_insufficient,
    check_X_y,
    conformal_quantile,
    conformal_rank,
    is_int,
)
from conformal.results import PredictionIntervals
from probinf.randomness import sklearn_seed

__all__ = ["CrossConformalRegressor"]


class CrossConformalRegressor(BaseEstimator, RegressorMixin):
    r"""CV+ and jackknife+ intervals (Barber et al. 2021).

    With K folds, :math:`\hat\mu_{-k}` is trained without fold k and
    :math:`R_i = |y_i - \hat\mu_{-k(i)}(x_i)|`.  ``method="plus"`` gives
    :math:`[\hat q^-_{\alpha}\{\hat\mu_{-k(i)}(x) - R_i\},\ \hat q^+_{1-\alpha}\{\hat\mu_{-k(i)}(x) + R_i\}]`
    (the :math:`\lfloor \alpha(n+1) \rfloor`-th smallest and :math:`\lceil (1-\alpha)(n+1) \rceil`-th
    smallest values), ``"minmax"`` uses the min / max over the fold models, and ``"base"`` is
    :math:`\hat\mu(x) \pm \hat q_{1-\alpha}(R)` with :math:`\hat\mu` trained on all data.
    Guarantee: coverage :math:`\ge 1 - 2\alpha` for plus and minmax (``1-alpha`` for minmax
    jackknife); ``"base"`` has no finite-sample guarantee.

    Parameters
    ----------
    estimator : regressor, optional (default ``LinearRegression()``), never prefit.
    confidence_level : float or list of float
    cv : int or "jackknife"
        Number of folds (CV+) or leave-one-out (jackknife+).
    method : {"plus", "minmax", "base"}
    random_state : None, int or numpy Generator
        Fold shuffling seed: an int gives scikit-learn's (and MAPIE's) folds for that seed, a Generator a seed
        drawn from it, ``None`` fresh entropy.
    on_insufficient : {"raise", "inf"}

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(220, 3, noise=2.0, random_state=1)
    >>> ccr = CrossConformalRegressor(cv=5, random_state=0).fit(X[:200], y[:200])
    >>> ccr.predict_interval(X[200:]).lower.shape
    (20, 1)
    """

    def __init__(self, estimator=None, confidence_level=0.9, cv=5, method="plus", random_state=None,
                 on_insufficient="raise"):
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.cv = cv
        self.method = method
        self.random_state = random_state
        self.on_insufficient = on_insufficient

    def fit(self, X, y, **fit_params):
        """Fit the fold models and the out-of-fold residuals (and, for ``"base"``, a full model)."""
        levels = check_levels(self.confidence_level)
        check_on_insufficient(self.on_insufficient)
        if self.method not in ("plus", "minmax", "base"):
            raise ValueError(f"method must be 'plus', 'minmax' or 'base', got {self.method!r}")
        X, y = check_X_y(X, y, allow_nan=allows_nan(self.estimator))
        n = y.shape[0]
        if self.cv == "jackknife":
            splitter = LeaveOneOut()
        elif is_int(self.cv) and 2 <= self.cv <= n:
            splitter = KFold(self.cv, shuffle=True, random_state=sklearn_seed(self.random_state))
        else:
            raise ValueError(f"cv must be 'jackknife' or an integer in [2, n={n}], got {self.cv!r}")
        base = LinearRegression() if self.estimator is None else self.estimator
        Xv = X.values if hasattr(X, "values") else X
        self.fold_models_, self.fold_of_ = [], np.empty(n, dtype=int)
        self.residuals_ = np.empty(n)
        for k, (tr, te) in enumerate(splitter.split(Xv)):
            m = clone(base).fit(Xv[tr], y[tr], **fit_params)
            self.fold_models_.append(m)
            self.fold_of_[te] = k
            self.residuals_[te] = np.abs(y[te] - m.predict(Xv[te]))
        if self.method == "base":
            self.estimator_ = clone(base).fit(Xv, y, **fit_params)
        self.confidence_levels_ = levels
        k_hi = conformal_rank(n, levels)
        if np.any(k_hi > n) and self.on_insufficient == "raise":
            conformal_quantile(self.residuals_, levels, "raise", "residuals")
        return self

    def predict(self, X):
        check_is_fitted(self, "fold_models_")
        Xv = np.asarray(check_features(check_X_y(X, allow_nan=allows_nan(self.estimator))[0], self.fold_models_[0]))
        if self.method == "base":
            return self.estimator_.predict(Xv)
        return np.mean([m.predict(Xv) for m in self.fold_models_], axis=0)

    def predict_interval(self, X, *, batch_size: int = 2048) -> PredictionIntervals:
        """CV+/jackknife+ intervals (n, L); memory O(batch_size * n_train)."""
        check_is_fitted(self, "fold_models_")
        Xv = np.asarray(check_features(check_X_y(X, allow_nan=allows_nan(self.estimator))[0], self.fold_models_[0]))
        if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        levels = self.confidence_levels_
        n = self.residuals_.size
        preds = np.stack([m.predict(Xv) for m in self.fold_models_], axis=1)  # (m, K)
        if self.method == "base":
            q = conformal_quantile(self.residuals_, levels, self.on_insufficient, "residuals")
            mu = self.estimator_.predict(Xv)
            return PredictionIntervals(mu, mu[:, None] - q, mu[:, None] + q, tuple(levels))
        k_hi = conformal_rank(n, levels)  # ceil((1-a)(n+1))
        k_lo = n + 1 - k_hi  # floor(a(n+1))
        lo = np.empty((Xv.shape[0], levels.size))
        hi = np.empty_like(lo)
        R = self.residuals_
        for s in range(0, Xv.shape[0], batch_size):
            P = preds[s:s + batch_size]
            if self.method == "plus":
                mu_i = P[:, self.fold_of_]  # (b, n)
            else:
                mu_i = None
            lower_vals = (mu_i if mu_i is not None else P.min(1, keepdims=True)) - R
            upper_vals = (mu_i if mu_i is not None else P.max(1, keepdims=True)) + R
            lower_vals.sort(axis=1)
            upper_vals.sort(axis=1)
            for j in range(levels.size):
                hi[s:s + batch_size, j] = upper_vals[:, k_hi[j] - 1] if k_hi[j] <= n else np.inf
                lo[s:s + batch_size, j] = lower_vals[:, k_lo[j] - 1] if k_lo[j] >= 1 else -np.inf
        return PredictionIntervals(preds.mean(1), lo, hi, tuple(levels))
