r"""Adaptive conformal inference (Gibbs & Candes 2021) for sequences.

At time t the interval is :math:`\hat\mu_t \pm \hat Q_t(1 - \alpha_t)`, with
:math:`\hat Q_t(\beta)` the conformal :math:`\beta`-quantile of the past scores (all of
them, or the last ``window``); :math:`\alpha_t \le 0` gives an infinite interval and
:math:`\alpha_t \ge 1` an empty one.  After observing :math:`y_t`,

.. math:: \alpha_{t+1} = \alpha_t + \gamma (\alpha - \mathrm{err}_t),
          \qquad \mathrm{err}_t = 1\{y_t \notin C_t\}.

Guarantee (Gibbs & Candes 2021, Prop. 4.1), deterministic and for *any* sequence:

.. math:: \Big| \frac{1}{T} \sum_{t=1}^T \mathrm{err}_t - \alpha \Big|
          \le \frac{\max(\alpha_1, 1 - \alpha_1) + \gamma}{\gamma T}.

Reference: Gibbs, I. and Candes, E. (2021). Adaptive conformal inference under distribution
shift. NeurIPS 34. arXiv:2106.00170.
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np
from sklearn.base import BaseEstimator

from conformal._common import check_1d, check_levels
from conformal.results import PredictionIntervals

__all__ = ["AdaptiveConformal"]


class AdaptiveConformal(BaseEstimator):
    r"""Adaptive conformal intervals around a sequence of point forecasts.

    Parameters
    ----------
    confidence_level : float
        Target long-run coverage :math:`1-\alpha`.
    gamma : float
        Step size :math:`\gamma > 0`.
    window : int or None
        Use only the last ``window`` scores (None: all past scores).
    warmup_scores : array_like, optional
        Scores available before the sequence starts (e.g. from a calibration split).

    Attributes
    ----------
    alpha_trace_ : ndarray (T,)  the :math:`\alpha_t` used at each step.
    errors_ : ndarray (T,)  :math:`\mathrm{err}_t`.
    intervals_ : PredictionIntervals  the intervals issued before each :math:`y_t` was seen.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.cumsum(rng.normal(size=500)); pred = np.r_[0.0, y[:-1]]   # random-walk forecast
    >>> aci = AdaptiveConformal(confidence_level=0.9, gamma=0.01).fit(y, pred)
    >>> bool(abs(aci.errors_.mean() - 0.1) <= aci.long_run_bound())
    True
    """

    def __init__(self, confidence_level=0.9, gamma=0.005, window=None, warmup_scores=None):
        self.confidence_level = confidence_level
        self.gamma = gamma
        self.window = window
        self.warmup_scores = warmup_scores

    def fit(self, y, y_pred):
        """Run ACI over the sequence ``y`` (T,) with forecasts ``y_pred`` (T,) made before each y_t."""
        lv = check_levels(self.confidence_level)
        if lv.size != 1:
            raise ValueError("AdaptiveConformal tracks one confidence_level; run one instance per level")
        if not (np.isscalar(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be a positive float, got {self.gamma!r}")
        if self.window is not None and not (int(self.window) == self.window and self.window >= 1):
            raise ValueError(f"window must be a positive integer or None, got {self.window!r}")
        y = check_1d(y, "y")
        pred = check_1d(y_pred, "y_pred", y.shape[0])
        alpha = 1.0 - float(lv[0])
        past = [] if self.warmup_scores is None else list(check_1d(self.warmup_scores, "warmup_scores"))
        fifo = deque(past)
        if self.window is not None:
            while len(fifo) > self.window:
                fifo.popleft()
        srt = sorted(fifo)
        T = y.shape[0]
        a_t = alpha
        alphas, errs, half = np.empty(T), np.empty(T), np.empty(T)
        for t in range(T):
            alphas[t] = a_t
            n = len(srt)
            if a_t <= 0:
                q = np.inf
            elif a_t >= 1:
                q = -np.inf  # empty set
            else:
                k = int(np.ceil((n + 1) * (1 - a_t) - 1e-9 * (n + 1)))
                q = srt[k - 1] if 1 <= k <= n else (np.inf if k > n else -np.inf)
            s = abs(y[t] - pred[t])
            err = float(not (s <= q))
            half[t] = q
            errs[t] = err
            a_t = a_t + self.gamma * (alpha - err)
            bisect.insort(srt, s)
            fifo.append(s)
            if self.window is not None and len(fifo) > self.window:
                old = fifo.popleft()
                del srt[bisect.bisect_left(srt, old)]
        self.alpha_trace_, self.errors_ = alphas, errs
        lo = np.where(np.isneginf(half), np.nan, pred - half)
        hi = np.where(np.isneginf(half), np.nan, pred + half)
        self.intervals_ = PredictionIntervals(pred, lo[:, None], hi[:, None], (float(lv[0]),))
        self.alpha_ = alpha
        self.next_alpha_ = a_t
        return self

    def long_run_bound(self) -> float:
        r""":math:`(\max(\alpha_1, 1-\alpha_1) + \gamma)/(\gamma T)` for the fitted sequence."""
        a1 = self.alpha_trace_[0]
        return (max(a1, 1 - a1) + self.gamma) / (self.gamma * self.alpha_trace_.size)
