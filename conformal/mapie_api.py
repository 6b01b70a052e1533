"""MAPIE v1 adapter: the same class names, defaults, call sequence and return shapes as MAPIE 1.x.

Code written for MAPIE v1 runs with only its import changed, e.g.
``from mapie.regression import SplitConformalRegressor`` becomes
``from conformal.mapie_api import SplitConformalRegressor``.  The differences from the
native classes of :mod:`conformal` are exactly MAPIE's conventions:

========================  ====================================  ===========================================
                          native (:mod:`conformal`)              this adapter (as MAPIE v1)
========================  ====================================  ===========================================
``prefit`` default        ``False``                              ``True``
``predict_interval``      :class:`~conformal.PredictionIntervals`  ``(y_pred (n,), y_pis (n, 2, L))``
``predict_set``           :class:`~conformal.PredictionSets`       ``(y_pred (n,), y_pss (n, K, L))``
fit parameters            ``fit(X, y, **fit_params)``            ``fit(X_train, y_train, fit_params=None)``
too few calibration pts   ``on_insufficient`` in ``__init__``     ``allow_infinite_bounds`` at prediction
CV+ / jackknife+          ``fit(X, y)``                          ``fit_conformalize(X, y)``
========================  ====================================  ===========================================

Not adapted (refused with a clear error): MAPIE's score objects and ``"gamma"`` /
``"residual_normalized"`` scores, ``predict_params``, ``minimize_interval_width=True``,
``aggregate_predictions="median"`` and ``conformity_score_params``.  MAPIE's APS default
(``include_last_label=True``) builds larger sets than the APS of :mod:`conformal`, so only LAC
sets are identical; regression intervals (absolute score) are identical.
"""

from __future__ import annotations

import numpy as np

from conformal import classification as _clf
from conformal import regression as _reg
from conformal.exceptions import InsufficientCalibrationError

__all__ = ["SplitConformalRegressor", "CrossConformalRegressor", "SplitConformalClassifier"]


def _fit_params(fit_params):
    if fit_params is None:
        return {}
    if not isinstance(fit_params, dict):
        raise TypeError(f"fit_params must be a dict or None, got {type(fit_params).__name__}")
    return fit_params


def _no_predict_params(predict_params):
    if predict_params:
        raise ValueError("predict_params is not supported by the conformal MAPIE adapter; wrap the estimator "
                         "(e.g. in a Pipeline or a small subclass) so that predict needs no extra arguments")


def _check_score(score, allowed):
    if not isinstance(score, str) or score not in allowed:
        raise ValueError(f"conformity_score must be one of {allowed} in the conformal MAPIE adapter, got {score!r} "
                         "(MAPIE score objects are not supported)")
    return score


def _intervals(res, allow_infinite_bounds, minimize_interval_width=False):
    if minimize_interval_width:
        raise ValueError("minimize_interval_width=True is not supported (intervals are symmetric in the score)")
    if not allow_infinite_bounds and not (np.all(np.isfinite(res.lower)) and np.all(np.isfinite(res.upper))):
        raise InsufficientCalibrationError(
            "too few calibration points for a requested confidence level: the interval is infinite. "
            "Add calibration data, lower confidence_level, or pass allow_infinite_bounds=True")
    return np.asarray(res.prediction), np.stack([res.lower, res.upper], axis=1)


class _SplitStages:
    """MAPIE's ``fit(X, y, fit_params=None)`` and ``conformalize(X, y, predict_params=None)`` over ours."""

    def fit(self, X_train, y_train, fit_params=None):
        """Fit the base estimator (only with ``prefit=False``)."""
        return super().fit(X_train, y_train, **_fit_params(fit_params))  # type: ignore[misc]

    def conformalize(self, X_conformalize, y_conformalize, predict_params=None):
        """Conformity scores on the conformalization set."""
        _no_predict_params(predict_params)
        return super().conformalize(X_conformalize, y_conformalize)  # type: ignore[misc]


class SplitConformalRegressor(_SplitStages, _reg.SplitConformalRegressor):  # type: ignore[misc]  # MAPIE signatures
    """MAPIE v1 ``SplitConformalRegressor``: ``prefit=True`` by default, tuple outputs.

    Parameters
    ----------
    estimator : regressor, optional
        Default ``LinearRegression()``; must be fitted when ``prefit=True``.
    confidence_level : float or list of float
    conformity_score : {"absolute"}
    prefit : bool, default True
    n_jobs, verbose : accepted for MAPIE compatibility (unused: nothing here is parallel).

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> X, y = make_regression(500, 2, noise=1.0, random_state=0)
    >>> reg = SplitConformalRegressor(Ridge(), confidence_level=0.95, prefit=False)
    >>> y_pred, y_pis = reg.fit(X[:300], y[:300]).conformalize(X[300:400], y[300:400]).predict_interval(X[400:])
    >>> y_pred.shape, y_pis.shape
    ((100,), (100, 2, 1))
    """

    def __init__(self, estimator=None, confidence_level=0.9, conformity_score="absolute", prefit=True, n_jobs=None,
                 verbose=0):
        super().__init__(estimator=estimator, confidence_level=confidence_level, conformity_score=conformity_score,
                         prefit=prefit, on_insufficient="inf")
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self):
        _check_score(self.conformity_score, ("absolute",))
        self.on_insufficient = "inf"
        return super()._check_params()

    def predict_interval(self, X, minimize_interval_width=False, allow_infinite_bounds=False):
        """``(y_pred (n,), y_pis (n, 2, L))``: point predictions and ``[lower, upper]`` per level."""
        return _intervals(super().predict_interval(X), allow_infinite_bounds, minimize_interval_width)


class CrossConformalRegressor(_reg.CrossConformalRegressor):
    """MAPIE v1 ``CrossConformalRegressor`` (CV+, jackknife+ via ``cv=-1`` or ``"jackknife"``).

    ``fit_conformalize(X, y)`` then ``predict_interval(X) -> (y_pred, y_pis (n, 2, L))``.
    ``method`` in {"plus", "minmax", "base"}; ``aggregate_predictions="mean"`` only.
    """

    def __init__(self, estimator=None, confidence_level=0.9, conformity_score="absolute", method="plus", cv=5,
                 n_jobs=None, verbose=0, random_state=None):
        super().__init__(estimator=estimator, confidence_level=confidence_level, cv=cv, method=method,
                         random_state=random_state, on_insufficient="inf")
        self.conformity_score = conformity_score
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit_conformalize(self, X, y, groups=None, fit_params=None, predict_params=None):
        """Fit the fold models and their out-of-fold residuals."""
        _check_score(self.conformity_score, ("absolute",))
        _no_predict_params(predict_params)
        if groups is not None:
            raise ValueError("groups is not supported by the conformal MAPIE adapter (folds are KFold/LeaveOneOut)")
        cv = self.cv
        self.on_insufficient = "inf"
        try:
            if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool) and cv == -1:
                self.cv = "jackknife"
            return super().fit(X, y, **_fit_params(fit_params))
        finally:
            self.cv = cv

    def fit(self, X, y, **fit_params):  # native name kept working
        return self.fit_conformalize(X, y, fit_params=fit_params or None)

    def predict_interval(self, X, aggregate_predictions="mean", minimize_interval_width=False,
                         allow_infinite_bounds=False):
        """``(y_pred (n,), y_pis (n, 2, L))``; ``y_pred`` is the mean of the fold models."""
        if aggregate_predictions != "mean":
            raise ValueError(f"aggregate_predictions must be 'mean' in the conformal MAPIE adapter, "
                             f"got {aggregate_predictions!r}")
        return _intervals(super().predict_interval(X), allow_infinite_bounds, minimize_interval_width)

    def predict(self, X, aggregate_predictions="mean"):
        if aggregate_predictions != "mean":
            raise ValueError(f"aggregate_predictions must be 'mean', got {aggregate_predictions!r}")
        return super().predict(X)


class SplitConformalClassifier(_SplitStages, _clf.SplitConformalClassifier):  # type: ignore[misc]  # MAPIE signatures
    """MAPIE v1 ``SplitConformalClassifier``: ``prefit=True`` by default, ``predict_set -> (y_pred, y_pss)``.

    ``conformity_score`` in {"lac", "aps", "raps", "top_k"} (MAPIE's APS/RAPS sets differ, see the
    module docstring).  Too few calibration points give full sets (MAPIE's behaviour).
    """

    def __init__(self, estimator=None, confidence_level=0.9, conformity_score="lac", prefit=True, n_jobs=None,
                 verbose=0, random_state=None):
        super().__init__(estimator=estimator, confidence_level=confidence_level, conformity_score=conformity_score,
                         prefit=prefit, on_insufficient="inf", random_state=random_state)
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self):
        self.on_insufficient = "inf"
        return super()._check_params()

    def predict_set(self, X, conformity_score_params=None):
        """``(y_pred (n,), y_pss (n, K, L))``: predicted labels and boolean set membership per level."""
        if conformity_score_params:
            raise ValueError("conformity_score_params is not supported by the conformal MAPIE adapter")
        res = super().predict_set(X)
        return np.asarray(res.prediction), np.asarray(res.sets)
