r"""Conformal regression: split (absolute / normalized scores), CV+ / jackknife+ (:mod:`conformal.cross_conformal`), CQR
(:mod:`conformal.cqr`).

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
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.utils.validation import check_is_fitted

from conformal._common import (
    allows_nan,
    check_features,
    check_levels,
    check_on_insufficient,
    check_positive,
    check_X_y,
    conformal_quantile,
    fit_or_check,
)
from conformal.cqr import ConformalizedQuantileRegressor  # re-exported: the imports stay stable
from conformal.cross_conformal import CrossConformalRegressor  # re-exported
from conformal.results import PredictionIntervals
from probinf.randomness import check_random_state

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
