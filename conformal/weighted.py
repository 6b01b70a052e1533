r"""Weighted split conformal regression under covariate shift (Tibshirani et al. 2019).

If test covariates follow :math:`\tilde P_X` while calibration data follow :math:`P_X`
(same :math:`Y \mid X`), with likelihood ratio :math:`w(x) = d\tilde P_X / dP_X`, the
interval :math:`\hat\mu(x) \pm \hat q(x)` uses the quantile of

.. math:: \sum_i p_i(x)\, \delta_{s_i} + p_{n+1}(x)\, \delta_{+\infty}, \quad
          p_i(x) = \frac{w(X_i)}{\sum_j w(X_j) + w(x)}, \;
          p_{n+1}(x) = \frac{w(x)}{\sum_j w(X_j) + w(x)},

which covers with probability :math:`\ge 1-\alpha` when w is known.  Unknown w is
estimated by a probabilistic classifier separating calibration (label 0) from test
covariates (label 1): :math:`\hat w(x) = \frac{\hat P(1|x)}{\hat P(0|x)} \cdot \frac{n_0}{n_1}`;
coverage then degrades with the estimation error (Lei & Candes 2021).

Reference: Tibshirani, R. J., Barber, R. F., Candes, E. J. and Ramdas, A. (2019). Conformal
prediction under covariate shift. NeurIPS 32. arXiv:1904.06019.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils.validation import check_is_fitted

from conformal._common import (
    allows_nan,
    check_features,
    check_levels,
    check_X_y,
    fit_or_check,
    weighted_conformal_quantile,
)
from conformal.results import PredictionIntervals

__all__ = ["WeightedConformalRegressor"]


class WeightedConformalRegressor(BaseEstimator, RegressorMixin):
    r"""Split conformal with covariate-shift weights (absolute residual score).

    Parameters
    ----------
    estimator : regressor, optional (default ``LinearRegression()``)
    confidence_level : float or list of float
    likelihood_ratio : callable ``X -> (n,)`` non-negative, optional
        Known :math:`w(x)`.  When None, ``X_test`` must be given to :meth:`conformalize`
        and w is estimated by ``weight_estimator``.
    weight_estimator : classifier with ``predict_proba``, optional
        Default ``LogisticRegression()``.
    prefit : bool
    clip_weights : float
        Upper clip of the estimated ratio (stabilises extreme odds).

    Attributes
    ----------
    estimator_, weight_estimator_ (when estimated), conformity_scores_ (n_calib,), calib_weights_ (n_calib,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, 1)); y = X[:, 0] + rng.normal(size=600)
    >>> wcr = WeightedConformalRegressor(likelihood_ratio=lambda X: np.exp(X[:, 0] - 0.5))
    >>> wcr = wcr.fit(X[:300], y[:300]).conformalize(X[300:], y[300:])
    >>> wcr.predict_interval(rng.normal(1, 1, size=(5, 1))).lower.shape
    (5, 1)
    """

    def __init__(self, estimator=None, confidence_level=0.9, likelihood_ratio=None, weight_estimator=None,
                 prefit=False, clip_weights=1e6):
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.likelihood_ratio = likelihood_ratio
        self.weight_estimator = weight_estimator
        self.prefit = prefit
        self.clip_weights = clip_weights

    def _nan_ok(self):
        if self.likelihood_ratio is not None:
            return allows_nan(self.estimator)
        return allows_nan(self.estimator, self.weight_estimator)

    def _check_params(self):
        levels = check_levels(self.confidence_level)
        if self.likelihood_ratio is not None and not callable(self.likelihood_ratio):
            raise TypeError(f"likelihood_ratio must be a callable X -> (n,) weights or None, "
                            f"got {type(self.likelihood_ratio).__name__}")
        try:
            clip = float(self.clip_weights)
        except (TypeError, ValueError):
            raise TypeError(f"clip_weights must be a positive number, got {self.clip_weights!r}") from None
        if not clip > 0:
            raise ValueError(f"clip_weights must be > 0, got {self.clip_weights!r}")
        return levels

    def fit(self, X, y, **fit_params):
        self._check_params()
        if self.prefit:
            raise ValueError("prefit=True: the estimator is already fitted; call conformalize directly")
        X, y = check_X_y(X, y, allow_nan=self._nan_ok())
        self.estimator_ = fit_or_check(self.estimator, False, LinearRegression, X, y, **fit_params)
        return self

    def _weights(self, X):
        if self.likelihood_ratio is not None:
            w = np.asarray(self.likelihood_ratio(X), dtype=float).reshape(-1)
            if w.shape[0] != X.shape[0]:
                raise ValueError(f"likelihood_ratio returned {w.shape[0]} weights for {X.shape[0]} rows")
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))
                raise ValueError(f"likelihood_ratio must return finite non-negative weights; got "
                                 f"{w[bad[:5]].tolist()} at rows {bad[:5].tolist()}")
            return w
        p = self.weight_estimator_.predict_proba(np.asarray(X))[:, 1]  # fitted on stacked arrays
        odds = p / np.maximum(1 - p, 1e-300)
        return np.minimum(odds * self._prior_ratio, self.clip_weights)

    def conformalize(self, X, y, X_test=None):
        """Calibrate on ``(X, y)``; ``X_test`` (unlabelled target covariates) estimates w when unknown."""
        levels = self._check_params()
        if self.prefit:
            self.estimator_ = fit_or_check(self.estimator, True, LinearRegression)
        elif not hasattr(self, "estimator_"):
            raise ValueError("prefit=False: call fit(X_train, y_train) before conformalize (or set prefit=True)")
        X, y = check_X_y(X, y, name_X="X_calib", name_y="y_calib", allow_nan=self._nan_ok())
        check_features(X, self.estimator_, "X_calib")
        if self.likelihood_ratio is None:
            if X_test is None:
                raise ValueError("likelihood_ratio is None: pass X_test (target covariates) to conformalize "
                                 "so that the ratio can be estimated, or give likelihood_ratio")
            Xt = check_X_y(X_test, name_X="X_test", allow_nan=self._nan_ok())[0]
            if Xt.shape[1] != X.shape[1]:
                raise ValueError(f"X_test has {Xt.shape[1]} features but X_calib has {X.shape[1]}; they must match")
            Z = np.vstack([np.asarray(X), np.asarray(Xt)])
            lab = np.r_[np.zeros(X.shape[0]), np.ones(Xt.shape[0])]
            base = LogisticRegression(max_iter=1000) if self.weight_estimator is None else self.weight_estimator
            self.weight_estimator_ = clone(base).fit(Z, lab)
            self._prior_ratio = X.shape[0] / Xt.shape[0]
        scores = np.abs(y - self.estimator_.predict(X))
        order = np.argsort(scores)
        self.conformity_scores_ = scores[order]
        self.calib_weights_ = self._weights(X)[order]
        total = float(self.calib_weights_.sum())
        if not total > 0:
            raise ValueError(
                "the likelihood ratios of all calibration points are zero: the target distribution puts no "
                "mass where the calibration data lie, so they say nothing about it (the weighted quantile "
                "would be 0/0). Check likelihood_ratio (it must be dP_test/dP_calib, positive on the "
                "calibration support), or calibrate on data that overlap the target")
        self._cum = np.cumsum(self.calib_weights_)
        self.confidence_levels_ = levels
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(check_features(check_X_y(X, allow_nan=self._nan_ok())[0], self.estimator_))

    def predict_interval(self, X) -> PredictionIntervals:
        """Intervals (n, L); infinite where the test weight leaves too little calibration mass."""
        check_is_fitted(self, "conformity_scores_")
        X = check_features(check_X_y(X, allow_nan=self._nan_ok())[0], self.estimator_)
        mu = np.asarray(self.estimator_.predict(X), dtype=float)
        q = weighted_conformal_quantile(self.conformity_scores_, self._cum, self._weights(X), self.confidence_levels_)
        return PredictionIntervals(mu, mu[:, None] - q, mu[:, None] + q, tuple(self.confidence_levels_))
