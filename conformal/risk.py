r"""Conformal risk control (Angelopoulos, Bates, Fisch, Lei & Schuster, ICLR 2024).

For losses :math:`L_i(\lambda) \in [0, B]` non-increasing in :math:`\lambda`,

.. math:: \hat\lambda = \inf\Big\{\lambda : \frac{n}{n+1} \hat R_n(\lambda) + \frac{B}{n+1} \le \alpha\Big\}

gives :math:`E[L_{n+1}(\hat\lambda)] \le \alpha`, and (for continuous, non-atomic losses)
:math:`\ge \alpha - 2B/(n+1)`.  Losses are given on a grid of :math:`\lambda` values
(the infimum is taken over the grid, which keeps the upper guarantee).

Reference: Angelopoulos, A. N., Bates, S., Fisch, A., Lei, L. and Schuster, T. (2024).
Conformal risk control. ICLR. arXiv:2208.02814.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from conformal._common import check_positive

__all__ = ["ConformalRiskControl", "false_negative_rate"]


def false_negative_rate(proba, labels, lambdas):
    r"""Multilabel false-negative-rate losses :math:`L_i(\lambda)` for sets :math:`\{k : \hat p_k \ge 1 - \lambda\}`.

    ``proba`` (n, K) scores in [0, 1], ``labels`` (n, K) 0/1 with at least one positive per row,
    ``lambdas`` (Λ,) ascending.  Returns (n, Λ), non-increasing in :math:`\lambda`, bounded by 1.
    """
    if proba is None or labels is None or lambdas is None:
        raise TypeError("proba, labels and lambdas are required arrays, got None")
    proba = np.asarray(proba, float)
    lab = np.asarray(labels)
    lam = np.asarray(lambdas, float)
    if proba.ndim != 2 or not np.all(np.isfinite(proba)) or proba.min(initial=0) < 0 or proba.max(initial=0) > 1:
        raise ValueError(f"proba must be an (n, K) array of finite scores in [0, 1], got shape {proba.shape}")
    if not np.all((lab == 0) | (lab == 1)):
        raise ValueError("labels must be 0/1 (or boolean) indicators")
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(np.diff(lam) <= 0):
        raise ValueError("lambdas must be a non-empty, finite, strictly increasing 1-D array")
    labels = lab.astype(bool)
    if proba.shape != labels.shape:
        raise ValueError(f"proba {proba.shape} and labels {labels.shape} must have the same shape")
    npos = labels.sum(1)
    if np.any(npos == 0):
        raise ValueError("every row of labels needs at least one positive label for the FNR")
    inset = proba[:, :, None] >= 1 - lam[None, None, :]
    return 1.0 - (inset & labels[:, :, None]).sum(1) / npos[:, None]


class ConformalRiskControl(BaseEstimator):
    r"""Choose :math:`\hat\lambda` so that the expected loss is at most ``risk_level``.

    Parameters
    ----------
    risk_level : float
        :math:`\alpha` in (0, B).
    loss_bound : float
        :math:`B`, the upper bound of the losses.

    Attributes
    ----------
    lambda_hat_ : float   (``inf`` if no grid value qualifies and ``on_insufficient="inf"``)
    index_ : int          its grid index
    risk_ : ndarray (Λ,)  empirical risk on the grid

    Examples
    --------
    >>> lam = np.linspace(0, 1, 101)
    >>> losses = (np.random.default_rng(0).uniform(size=(500, 1)) > lam).astype(float)
    >>> crc = ConformalRiskControl(risk_level=0.1).fit(losses, lam)
    >>> round(crc.lambda_hat_, 2)
    0.92
    """

    def __init__(self, risk_level=0.1, loss_bound=1.0):
        self.risk_level = risk_level
        self.loss_bound = loss_bound

    def fit(self, losses, lambdas):
        """``losses`` (n, Λ) on the ascending grid ``lambdas`` (Λ,)."""
        if losses is None or lambdas is None:
            raise TypeError("losses (n, Λ) and lambdas (Λ,) are required arrays, got None")
        L = np.asarray(losses, dtype=float)
        lam = np.asarray(lambdas, dtype=float)
        B = check_positive(self.loss_bound, "loss_bound")
        a = check_positive(self.risk_level, "risk_level")
        if not (0 < a < B):
            raise ValueError(f"risk_level must lie in (0, loss_bound={B}), got {self.risk_level!r}")
        if L.ndim != 2 or lam.ndim != 1 or L.shape[1] != lam.size:
            raise ValueError(f"losses must be (n, {lam.size}) for {lam.size} lambdas, got {L.shape}")
        if L.shape[0] == 0:
            raise ValueError("losses has no calibration rows")
        if not np.all(np.isfinite(L)) or not np.all(np.isfinite(lam)):
            raise ValueError("losses and lambdas must be finite (no NaN/inf)")
        if np.any(np.diff(lam) <= 0):
            raise ValueError("lambdas must be strictly increasing")
        if L.min() < 0 or L.max() > B:
            raise ValueError(f"losses must lie in [0, loss_bound={B}], got range [{L.min()}, {L.max()}]")
        if np.any(np.diff(L, axis=1) > 1e-12):
            raise ValueError("losses must be non-increasing in lambda along each row")
        n = L.shape[0]
        self.risk_ = L.mean(0)
        ok = n / (n + 1) * self.risk_ + B / (n + 1) <= a
        if not ok.any():
            raise ValueError(
                f"no lambda on the grid meets the CRC bound: with n={n}, B/(n+1)={B / (n + 1):.4g} and "
                f"the smallest bound {np.min(n / (n + 1) * self.risk_ + B / (n + 1)):.4g} exceed "
                f"risk_level={a}; add calibration data or extend the grid")
        self.index_ = int(np.argmax(ok))
        self.lambda_hat_ = float(lam[self.index_])
        self.lambdas_ = lam
        return self
