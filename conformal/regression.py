r"""Conformal regression: split (absolute / normalized scores), CV+ / jackknife+, CQR.

Calling convention (as MAPIE 1.x): ``fit(X_train, y_train)`` trains the wrapped
scikit-learn estimator (skipped, and refused, with ``prefit=True``),
``conformalize(X_calib, y_calib)`` computes the calibration scores, and
``predict_interval(X)`` returns a :class:`~conformal.results.PredictionIntervals`
with one column per level of ``confidence_level``.

Guarantee (split methods, exchangeable data, continuous scores): for every level
:math:`1-\alpha`, :math:`1-\alpha \le P(Y \in C(X)) \le 1-\alpha + 1/(n+1)`, and
conditional on the calibration set the coverage is
:math:`\mathrm{Beta}(k, n+1-k)` with :math:`k = \lceil (n+1)(1-\alpha) \rceil`.
CV+ and jackknife+ guarantee :math:`1 - 2\alpha` (Barber et al. 2021).

References
----------
Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J. and Wasserman, L. (2018). Distribution-free
predictive inference for regression. JASA 113(523). doi:10.1080/01621459.2017.1307116
Barber, R. F., Candes, E. J., Ramdas, A. and Tibshirani, R. J. (2021). Predictive inference with
the jackknife+. Ann. Statist. 49(1). doi:10.1214/20-AOS1965
Romano, Y., Patterson, E. and Candes, E. J. (2019). Conformalized quantile regression. NeurIPS 32.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, LeaveOneOut
from sklearn.utils.validation import check_is_fitted

from conformal._common import (
    allows_nan,
    check_features,
    check_levels,
    check_on_insufficient,
    check_positive,
    check_X_y,
    conformal_quantile,
    conformal_rank,
    fit_or_check,
    is_int,
)
from conformal.results import PredictionIntervals
from probinf.randomness import check_random_state, sklearn_seed

__all__ = ["SplitConformalRegressor", "CrossConformalRegressor", "ConformalizedQuantileRegressor"]

_SCORES = ("absolute", "normalized")


class SplitConformalRegressor(BaseEstimator, RegressorMixin):
    r"""Split conformal prediction intervals around any scikit-learn regressor.

    Scores: ``"absolute"`` :math:`s = |y - \hat\mu(x)|`, interval :math:`\hat\mu(x) \pm \hat q`;
    ``"normalized"`` :math:`s = |y - \hat\mu(x)| / \hat\sigma(x)` with :math:`\hat\sigma` a
    second regressor (``scale_estimator``) fitted on the absolute training residuals,
    interval :math:`\hat\mu(x) \pm \hat q \hat\sigma(x)`.  :math:`\hat q` is the
    :math:`\lceil (n+1)(1-\alpha) \rceil`-th smallest calibration score.

    Parameters
    ----------
    estimator : regressor, optional
        Any scikit-learn regressor (default ``LinearRegression()``).  Cloned and fitted by
        :meth:`fit` unless ``prefit=True``, in which case it must already be fitted and
        :meth:`fit` must not be called.
    confidence_level : float or list of float
        Level(s) :math:`1-\alpha` in (0, 1); all are calibrated by one :meth:`conformalize`.
    conformity_score : {"absolute", "normalized"}
    scale_estimator : regressor, optional
        For ``"normalized"`` (default ``GradientBoostingRegressor``); prefit together with
        ``estimator`` when ``prefit=True``.
    prefit : bool
        Whether the estimators are already fitted.
    on_insufficient : {"raise", "inf"}
        With too few calibration points for a level, raise
        :class:`~conformal.exceptions.InsufficientCalibrationError` or return infinite intervals.
    min_scale : float
        Lower clip of :math:`\hat\sigma` (normalized score), avoiding division by zero.

    Attributes
    ----------
    estimator_, scale_estimator_ : fitted estimators
    conformity_scores_ : ndarray (n_calib,)
    quantiles_ : ndarray (L,)
    confidence_levels_ : ndarray (L,)

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(600, 4, noise=5.0, random_state=0)
    >>> scr = SplitConformalRegressor(confidence_level=[0.8, 0.9])
    >>> scr = scr.fit(X[:300], y[:300]).conformalize(X[300:500], y[300:500])
    >>> res = scr.predict_interval(X[500:])
    >>> res.lower.shape, bool((res.width[:, 1] >= res.width[:, 0]).all())
    ((100, 2), True)
    """

    def __init__(self, estimator=None, confidence_level=0.9, conformity_score="absolute",
                 scale_estimator=None, prefit=False, on_insufficient="raise", min_scale=1e-8):
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.conformity_score = conformity_score
        self.scale_estimator = scale_estimator
        self.prefit = prefit
        self.on_insufficient = on_insufficient
        self.min_scale = min_scale

    def _check_params(self):
        if self.conformity_score not in _SCORES:
            raise ValueError(f"conformity_score must be one of {_SCORES}, got {self.conformity_score!r}")
        check_on_insufficient(self.on_insufficient)
        check_positive(self.min_scale, "min_scale")
        return check_levels(self.confidence_level)

    def _nan_ok(self):
        scale = (self.scale_estimator,) if self.conformity_score == "normalized" else ()
        return allows_nan(self.estimator, *scale)

    def fit(self, X, y, **fit_params):
        """Train ``estimator`` (and the scale model) on ``(X, y)``; refused with ``prefit=True``."""
        self._check_params()
        if self.prefit:
            raise ValueError("prefit=True: the estimator is already fitted; call conformalize(X_calib, y_calib) "
                             "directly")
        X, y = check_X_y(X, y, allow_nan=self._nan_ok())
        self.estimator_ = fit_or_check(self.estimator, False, LinearRegression, X, y, **fit_params)
        if self.conformity_score == "normalized":
            resid = np.abs(y - self.estimator_.predict(X))
            self.scale_estimator_ = fit_or_check(
                self.scale_estimator, False, lambda: GradientBoostingRegressor(random_state=0), X, resid,
                name="scale_estimator")
        return self

    def _models(self):
        if self.prefit:
            self.estimator_ = fit_or_check(self.estimator, True, LinearRegression)
            if self.conformity_score == "normalized":
                self.scale_estimator_ = fit_or_check(self.scale_estimator, True, None, name="scale_estimator")
        elif not hasattr(self, "estimator_"):
            raise ValueError("prefit=False: call fit(X_train, y_train) before conformalize (or set prefit=True)")

    def _scale(self, X):
        if self.conformity_score == "absolute":
            return 1.0
        return np.maximum(np.asarray(self.scale_estimator_.predict(X), dtype=float), self.min_scale)

    def conformalize(self, X, y):
        """Compute the calibration scores on held-out ``(X, y)`` and the quantile per level."""
        levels = self._check_params()
        self._models()
        X, y = check_X_y(X, y, name_X="X_calib", name_y="y_calib", allow_nan=self._nan_ok())
        check_features(X, self.estimator_, "X_calib")
        self.conformity_scores_ = np.abs(y - self.estimator_.predict(X)) / self._scale(X)
        self.confidence_levels_ = levels
        self.quantiles_ = conformal_quantile(self.conformity_scores_, levels, self.on_insufficient)
        return self

    def predict(self, X):
        """Point prediction of the wrapped estimator."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(check_features(check_X_y(X, allow_nan=self._nan_ok())[0], self.estimator_))

    def predict_interval(self, X) -> PredictionIntervals:
        """Intervals (n, L) at every calibrated level."""
        check_is_fitted(self, "quantiles_")
        X = check_features(check_X_y(X, allow_nan=self._nan_ok())[0], self.estimator_)
        mu = np.asarray(self.estimator_.predict(X), dtype=float)
        half = np.multiply.outer(np.broadcast_to(self._scale(X), mu.shape), self.quantiles_)
        return PredictionIntervals(mu, mu[:, None] - half, mu[:, None] + half, tuple(self.confidence_levels_))

    def predict_pvalues(self, X, y, *, randomized=False, random_state=None):
        r"""Conformal p-values of candidate responses ``y`` at ``X``.

        :math:`p = (1 + \#\{i : s_i \ge s(x, y)\}) / (n + 1)` (``randomized=False``): super-uniform,
        and exactly uniform on :math:`\{1/(n+1), \dots, 1\}` with continuous scores.  The
        randomized p-value breaks ties with a uniform draw and is exactly U(0, 1).
        """
        check_is_fitted(self, "conformity_scores_")
        X, y = check_X_y(X, y, allow_nan=self._nan_ok())
        check_features(X, self.estimator_)
        s = np.abs(y - self.estimator_.predict(X)) / self._scale(X)
        cal = np.sort(self.conformity_scores_)
        n = cal.size
        greater = n - np.searchsorted(cal, s, side="right")
        if not randomized:
            return (1.0 + n - np.searchsorted(cal, s, side="left")) / (n + 1.0)
        ties = np.searchsorted(cal, s, side="right") - np.searchsorted(cal, s, side="left")
        u = check_random_state(random_state).uniform(size=s.shape)
        return (greater + u * (ties + 1.0)) / (n + 1.0)


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


def _quantile_clone(estimator, q):
    params = estimator.get_params()
    if "quantile" in params:
        return clone(estimator).set_params(quantile=q)
    if "alpha" in params and params.get("loss") == "quantile":
        return clone(estimator).set_params(alpha=q)
    raise TypeError(
        f"{type(estimator).__name__} has no quantile parameter; use a quantile regressor such as "
        "GradientBoostingRegressor(loss='quantile'), HistGradientBoostingRegressor(loss='quantile') "
        "or QuantileRegressor, or pass prefit (lower, upper) models"
    )


class ConformalizedQuantileRegressor(BaseEstimator, RegressorMixin):
    r"""Conformalized quantile regression (Romano et al. 2019).

    Quantile models :math:`\hat q_{\alpha/2}, \hat q_{1-\alpha/2}` give the score
    :math:`s = \max(\hat q_{\alpha/2}(x) - y,\ y - \hat q_{1-\alpha/2}(x))` and the interval
    :math:`[\hat q_{\alpha/2}(x) - \hat Q,\ \hat q_{1-\alpha/2}(x) + \hat Q]`; same finite-sample
    band as split conformal.

    Parameters
    ----------
    estimator : quantile regressor or (lower, upper) pair, optional
        Unfitted: cloned per level with its quantile parameter (``quantile=`` or, with
        ``loss="quantile"``, ``alpha=``) set to :math:`\alpha/2` and :math:`1-\alpha/2`.
        With ``prefit=True``: a fitted ``(lower, upper)`` pair, for a single level.
        Default ``GradientBoostingRegressor(loss="quantile")``.
    confidence_level : float or list of float
    prefit : bool
    on_insufficient : {"raise", "inf"}

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(400, 2, noise=3.0, random_state=0)
    >>> cqr = ConformalizedQuantileRegressor().fit(X[:200], y[:200]).conformalize(X[200:350], y[200:350])
    >>> cqr.predict_interval(X[350:]).upper.shape
    (50, 1)
    """

    def __init__(self, estimator=None, confidence_level=0.9, prefit=False, on_insufficient="raise"):
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.prefit = prefit
        self.on_insufficient = on_insufficient

    def _nan_ok(self):
        est = self.estimator
        return allows_nan(*est) if isinstance(est, (tuple, list)) else allows_nan(est)

    def fit(self, X, y, **fit_params):
        """Fit a lower and an upper quantile model per level."""
        levels = check_levels(self.confidence_level)
        check_on_insufficient(self.on_insufficient)
        if self.prefit:
            raise ValueError("prefit=True: the quantile models are already fitted; call conformalize directly")
        X, y = check_X_y(X, y, allow_nan=self._nan_ok())
        base = GradientBoostingRegressor(loss="quantile", random_state=0) if self.estimator is None else self.estimator
        self.models_ = [
            (_quantile_clone(base, (1 - a) / 2).fit(X, y, **fit_params),
             _quantile_clone(base, (1 + a) / 2).fit(X, y, **fit_params))
            for a in levels
        ]
        return self

    def conformalize(self, X, y):
        levels = check_levels(self.confidence_level)
        check_on_insufficient(self.on_insufficient)
        if self.prefit:
            pair = self.estimator
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError("prefit=True needs estimator=(fitted_lower_model, fitted_upper_model)")
            if levels.size != 1:
                raise ValueError("prefit=True supports a single confidence_level (one fitted quantile pair)")
            self.models_ = [tuple(fit_or_check(m, True, None) for m in pair)]
        elif not hasattr(self, "models_"):
            raise ValueError("prefit=False: call fit(X_train, y_train) before conformalize")
        X, y = check_X_y(X, y, name_X="X_calib", name_y="y_calib", allow_nan=self._nan_ok())
        check_features(X, self.models_[0][0], "X_calib")
        self.conformity_scores_ = np.stack(
            [np.maximum(lo.predict(X) - y, y - hi.predict(X)) for lo, hi in self.models_], axis=1)
        self.quantiles_ = np.array([
            conformal_quantile(self.conformity_scores_[:, j], levels[j:j + 1], self.on_insufficient)[0]
            for j in range(levels.size)])
        self.confidence_levels_ = levels
        return self

    def predict(self, X):
        check_is_fitted(self, "models_")
        X = check_features(check_X_y(X, allow_nan=self._nan_ok())[0], self.models_[0][0])
        lo, hi = self.models_[0]
        return 0.5 * (lo.predict(X) + hi.predict(X))

    def predict_interval(self, X) -> PredictionIntervals:
        check_is_fitted(self, "quantiles_")
        X = check_features(check_X_y(X, allow_nan=self._nan_ok())[0], self.models_[0][0])
        lo = np.stack([m[0].predict(X) for m in self.models_], axis=1) - self.quantiles_
        hi = np.stack([m[1].predict(X) for m in self.models_], axis=1) + self.quantiles_
        return PredictionIntervals(self.predict(X), lo, hi, tuple(self.confidence_levels_))
