r"""Conformalized quantile regression (Romano et al. 2019): :class:`ConformalizedQuantileRegressor`.

Split conformal on the score :math:`\max(\hat q_{lo}(x) - y,\ y - \hat q_{hi}(x))`, with the guarantee and the
MAPIE 1.x calling convention of :mod:`conformal.regression`.

References
----------
Romano, Y., Patterson, E. and Candes, E. J. (2019). Conformalized quantile regression. NeurIPS 32.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from conformal._common import (
    allows_nan,
    check_features,
    check_levels,
    check_on_insufficient,
    check_X_y,
    conformal_quantile,
    fit_or_check,
)
from conformal.results import PredictionIntervals

__all__ = ["ConformalizedQuantileRegressor"]


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
