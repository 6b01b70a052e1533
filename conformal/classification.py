r"""Split conformal classification: LAC, APS, RAPS and top-k scores, optionally Mondrian.

For a classifier with probabilities :math:`\hat p(x) \in \Delta^{K-1}` and
:math:`o_x(k)` the rank of class k (1 = most probable), the scores are

- ``"lac"``: :math:`s(x, k) = 1 - \hat p_k(x)` (Sadinle et al. 2019);
- ``"aps"``: :math:`s(x, k) = \sum_{j: \hat p_j > \hat p_k} \hat p_j + u\, \hat p_k`
  (Romano et al. 2020), :math:`u = 1` or, randomized, :math:`u \sim U(0, 1)`;
- ``"raps"``: APS plus :math:`\lambda (o_x(k) - k_{reg})^+` (Angelopoulos et al. 2021);
- ``"top_k"``: :math:`s(x, k) = o_x(k) - 1 + u` with :math:`u = 1` or random.

The set is :math:`C(x) = \{k : s(x, k) \le \hat q\}` with :math:`\hat q` the conformal
quantile of the calibration scores :math:`s(X_i, Y_i)`, so :math:`Y \in C(X) \iff s(X, Y) \le \hat q`
and the split-conformal band :math:`1-\alpha \le P(Y \in C) \le 1-\alpha+1/(n+1)` holds whenever
the scores have no ties (always for randomized scores; LAC/APS/RAPS with continuous
probabilities).  Non-randomized top-k has ties and only the lower bound.  (MAPIE's APS with
``include_last_label=True`` constructs sets differently and over-covers.)  The same uniform
draw :math:`u` is used for every candidate class of a test point.

Mondrian: with ``class_conditional=True`` a quantile per class gives
:math:`P(Y \in C \mid Y = k) \ge 1-\alpha` for every k; with ``groups`` passed to
:meth:`SplitConformalClassifier.conformalize` and ``predict_set``, a quantile per group
(known at test time) gives group-conditional coverage (Vovk 2003).

References
----------
Romano, Y., Sesia, M. and Candes, E. J. (2020). Classification with valid and adaptive coverage. NeurIPS 33.
Angelopoulos, A. N., Bates, S., Malik, J. and Jordan, M. I. (2021). Uncertainty sets for image
classifiers using conformal prediction. ICLR.
Sadinle, M., Lei, J. and Wasserman, L. (2019). Least ambiguous set-valued classifiers with bounded
error levels. JASA 114(525). doi:10.1080/01621459.2017.1395341
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from conformal._common import (
    allows_nan,
    check_1d,
    check_features,
    check_levels,
    check_on_insufficient,
    check_X_y,
    conformal_quantile,
    fit_or_check,
)
from conformal.results import PredictionSets
from probinf.randomness import check_random_state

__all__ = ["SplitConformalClassifier", "class_scores"]

_SCORES = ("lac", "aps", "raps", "top_k")


def _check_reg(k_reg, lambda_reg):
    if isinstance(k_reg, (bool, np.bool_)) or not isinstance(k_reg, (int, np.integer)) or k_reg < 0:
        raise ValueError(f"k_reg must be a non-negative integer (RAPS rank penalty offset), got {k_reg!r}")
    if isinstance(lambda_reg, (bool, np.bool_)) or not isinstance(lambda_reg, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(lambda_reg) and lambda_reg >= 0):
        raise ValueError(f"lambda_reg must be a finite number >= 0 (RAPS penalty weight), got {lambda_reg!r}")


def class_scores(proba, score="lac", u=None, k_reg=1, lambda_reg=0.01):
    r"""Conformity scores :math:`s(x, k)` of every class, shape (n, K).

    ``proba`` (n, K) class probabilities (finite, in [0, 1], rows summing to 1); ``u`` (n,) uniform
    draws in [0, 1] for the randomized variants (``None``: non-randomized, u = 1).
    """
    if score not in _SCORES:
        raise ValueError(f"score must be one of {_SCORES}, got {score!r}")
    _check_reg(k_reg, lambda_reg)
    if proba is None or isinstance(proba, (str, bytes)):
        raise TypeError(f"proba must be an (n, K) array of class probabilities, got {type(proba).__name__}")
    try:
        p = np.asarray(proba, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("proba must be an (n, K) array of numbers") from None
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"proba must be a non-empty (n, K) array, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1 or np.any(np.abs(p.sum(1) - 1) > 1e-6):
        raise ValueError("proba must hold finite probabilities in [0, 1] whose rows sum to 1 (predict_proba output)")
    n, K = p.shape
    uu = np.ones(n) if u is None else np.asarray(u, dtype=float)
    if uu.shape != (n,) or not np.all((uu >= 0) & (uu <= 1)):
        raise ValueError(f"u must hold {n} uniform draws in [0, 1], got shape {uu.shape}")
    if score == "lac":
        return 1.0 - p
    order = np.argsort(-p, axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(1, K + 1)[None, :]  # o_x(k), 1-based
    if score == "top_k":
        return rank - 1.0 + uu[:, None]
    sorted_p = np.take_along_axis(p, order, axis=1)
    cum_before = np.cumsum(sorted_p, axis=1) - sorted_p  # mass strictly before each rank
    before = np.take_along_axis(cum_before, rank - 1, axis=1)
    s = before + uu[:, None] * p
    if score == "raps":
        s = s + lambda_reg * np.maximum(rank - k_reg, 0)
    return s


class SplitConformalClassifier(BaseEstimator, ClassifierMixin):
    r"""Split conformal prediction sets around any probabilistic scikit-learn classifier.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``, optional
        Default ``LogisticRegression()``; cloned and fitted by :meth:`fit` unless ``prefit=True``.
    confidence_level : float or list of float
    conformity_score : {"lac", "aps", "raps", "top_k"}
    randomized : bool
        Use :math:`u \sim U(0,1)` in APS/RAPS/top-k (exact coverage, smaller sets).  APS/RAPS sets,
        randomized or not, **can be empty**: the most probable class has score :math:`u \hat p_{(1)}`
        (:math:`u = 1` when not randomized), and when that exceeds :math:`\hat q` no class enters the set
        (LAC sets are empty when no probability reaches :math:`1 - \hat q`).  This is what keeps the coverage in its
        exact band; MAPIE's APS default (``include_last_label=True``) always keeps a class and over-covers.
        Check ``PredictionSets.size == 0`` if an empty set needs special handling.
    k_reg, lambda_reg : int, float
        RAPS regularisation.
    class_conditional : bool
        Mondrian by true class: one quantile per class.
    prefit : bool
    on_insufficient : {"raise", "inf"}
        Too few calibration points (overall, per class or per group): raise, or use the full set.
    random_state : None, int or numpy Generator
        Seed of the randomized scores (calibration and prediction draws); ``None`` is fresh entropy.

    Attributes
    ----------
    estimator_, classes_, conformity_scores_ (n_calib,), quantiles_ (L,) or dict group -> (L,)

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> rng = np.random.default_rng(0); idx = rng.permutation(150)
    >>> scc = SplitConformalClassifier(confidence_level=0.8, conformity_score="aps", randomized=True,
    ...                                random_state=0)
    >>> scc = scc.fit(X[idx[:60]], y[idx[:60]]).conformalize(X[idx[60:120]], y[idx[60:120]])
    >>> scc.predict_set(X[idx[120:]]).sets.shape
    (30, 3, 1)
    """

    def __init__(self, estimator=None, confidence_level=0.9, conformity_score="lac", randomized=False,
                 k_reg=1, lambda_reg=0.01, class_conditional=False, prefit=False, on_insufficient="raise",
                 random_state=None):
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.conformity_score = conformity_score
        self.randomized = randomized
        self.k_reg = k_reg
        self.lambda_reg = lambda_reg
        self.class_conditional = class_conditional
        self.prefit = prefit
        self.on_insufficient = on_insufficient
        self.random_state = random_state

    def _check_params(self):
        if self.conformity_score not in _SCORES:
            raise ValueError(f"conformity_score must be one of {_SCORES}, got {self.conformity_score!r}")
        check_on_insufficient(self.on_insufficient)
        _check_reg(self.k_reg, self.lambda_reg)
        if not isinstance(self.class_conditional, (bool, np.bool_)):
            raise TypeError(f"class_conditional must be True or False, got {self.class_conditional!r}")
        if not isinstance(self.randomized, (bool, np.bool_)):
            raise TypeError(f"randomized must be True or False, got {self.randomized!r}")
        return check_levels(self.confidence_level)

    def fit(self, X, y, **fit_params):
        """Train the classifier; refused with ``prefit=True``."""
        self._check_params()
        if self.prefit:
            raise ValueError("prefit=True: the estimator is already fitted; call conformalize(X_calib, y_calib)")
        X, y = check_X_y(X, y, numeric_y=False, allow_nan=allows_nan(self.estimator))
        self.estimator_ = fit_or_check(self.estimator, False, lambda: LogisticRegression(max_iter=1000),
                                       X, y, **fit_params)
        return self

    def _u(self, n):
        if not self.randomized or self.conformity_score == "lac":
            return None
        return self._rng.uniform(size=n)

    def _scores(self, X):
        proba = np.asarray(self.estimator_.predict_proba(X), dtype=float)
        return proba, class_scores(proba, self.conformity_score, self._u(proba.shape[0]), self.k_reg, self.lambda_reg)

    def conformalize(self, X, y, groups=None):
        """Calibrate on held-out ``(X, y)``; ``groups`` (n,) gives group-conditional (Mondrian) quantiles."""
        levels = self._check_params()
        if self.prefit:
            self.estimator_ = fit_or_check(self.estimator, True, None)
        elif not hasattr(self, "estimator_"):
            raise ValueError("prefit=False: call fit(X_train, y_train) before conformalize (or set prefit=True)")
        if groups is not None and self.class_conditional:
            raise ValueError("use either class_conditional=True or groups, not both")
        X, y = check_X_y(X, y, name_X="X_calib", name_y="y_calib", numeric_y=False,
                         allow_nan=allows_nan(self.estimator))
        check_features(X, self.estimator_, "X_calib")
        self.classes_ = np.asarray(self.estimator_.classes_)
        pos = np.searchsorted(self.classes_, y)
        pos = np.clip(pos, 0, self.classes_.size - 1)
        unknown = self.classes_[pos] != y
        if unknown.any():
            raise ValueError(f"y_calib has labels {np.unique(y[unknown])[:5].tolist()} unknown to the "
                             f"estimator (classes {self.classes_.tolist()})")
        self._rng = check_random_state(self.random_state)
        _, S = self._scores(X)
        self.conformity_scores_ = S[np.arange(y.shape[0]), pos]
        self.confidence_levels_ = levels
        self.groups_ = None
        if self.class_conditional:
            keys = pos
            self.groups_ = "class"
        elif groups is not None:
            keys = check_1d(groups, "groups", y.shape[0], numeric=False)
            self.groups_ = "groups"
        if self.groups_ is None:
            self.quantiles_ = conformal_quantile(self.conformity_scores_, levels, self.on_insufficient)
        else:
            uniq = np.arange(self.classes_.size) if self.groups_ == "class" else np.unique(keys)
            self.quantiles_ = {
                g: conformal_quantile(self.conformity_scores_[keys == g], levels, self.on_insufficient,
                                      f"points of group {g!r}")
                for g in uniq}
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(check_features(check_X_y(X, allow_nan=allows_nan(self.estimator))[0],
                                                      self.estimator_))

    def predict_set(self, X, groups=None) -> PredictionSets:
        """Prediction sets (n, K, L); ``groups`` (n,) needed when calibrated with groups."""
        check_is_fitted(self, "quantiles_")
        X = check_features(check_X_y(X, allow_nan=allows_nan(self.estimator))[0], self.estimator_)
        proba, S = self._scores(X)
        n, K = S.shape
        if self.groups_ is None:
            Q = np.broadcast_to(self.quantiles_[None, None, :], (n, K, self.quantiles_.size))
        elif self.groups_ == "class":
            Q = np.broadcast_to(np.stack([self.quantiles_[k] for k in range(K)])[None],
                                (n, K, len(self.confidence_levels_)))
        else:
            if groups is None:
                raise ValueError("calibrated with groups: pass groups (one per row of X) to predict_set")
            g = check_1d(groups, "groups", n, numeric=False)
            missing = set(np.unique(g)) - set(self.quantiles_)
            if missing:
                raise ValueError(f"groups {sorted(missing)[:5]} were absent from the calibration data")
            Q = np.stack([self.quantiles_[gi] for gi in g])[:, None, :]
        sets = S[:, :, None] <= Q
        return PredictionSets(self.classes_[np.argmax(proba, axis=1)], sets, self.classes_,
                              tuple(self.confidence_levels_))

    def predict_pvalues(self, X, y):
        r"""Conformal p-values :math:`(1 + \#\{i: s_i \ge s(x, y)\})/(n+1)` of labels ``y`` (marginal calibration)."""
        check_is_fitted(self, "conformity_scores_")
        X, y = check_X_y(X, y, numeric_y=False, allow_nan=allows_nan(self.estimator))
        check_features(X, self.estimator_)
        _, S = self._scores(X)
        pos = np.clip(np.searchsorted(self.classes_, y), 0, self.classes_.size - 1)
        s = S[np.arange(y.shape[0]), pos]
        cal = np.sort(self.conformity_scores_)
        return (1.0 + cal.size - np.searchsorted(cal, s, side="left")) / (cal.size + 1.0)
