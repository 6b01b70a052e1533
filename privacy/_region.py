r"""Deterministic quadrature for the posterior mass of an (eps, delta)-DP privacy region.

Private numerics behind :mod:`privacy.epsilon`.  With independent posteriors
:math:`\alpha \sim \mathrm{Beta}(a_1, b_1)` (FPR) and :math:`\beta \sim \mathrm{Beta}(a_2, b_2)`
(FNR), the posterior CDF of epsilon is the mass of the privacy region

.. math::

    R(e, \delta) = \{(\alpha, \beta):\ L_e(\alpha) \le \beta \le U_e(\alpha)\},\qquad
    L_e(\alpha) = \max\{(c-\alpha)/k,\ c - k\alpha,\ 0\},

with :math:`k = e^{e}`, :math:`c = 1-\delta`; the upper boundary is the reflection of the
lower one under :math:`(\alpha, \beta) \mapsto (1-\beta, 1-\alpha)`.  Hence
``1 - F(e) = P_low(alpha, beta) + P_low(1 - beta, 1 - alpha)`` with
``P_low(X, Y) = P(Y < L_e(X))``.

Splitting the lower region at the corner :math:`t = c/(1+k)` where its two edges meet,

.. math::

    P_{low}(X, Y) = Q(X, Y) + Q(Y, X) - F_X(t) F_Y(t),\qquad
    Q(X, Y) = P(Y < t,\ X < c - kY),

and each :math:`Q` is a *one-dimensional* integral with a smooth integrand, in either of two
exact forms

* (A) :math:`Q = F_X(t) G_Y(t) + \int_t^c f_X(x)\, G_Y\bigl((c-x)/k\bigr)\,dx` (integrate over X),
* (B) :math:`Q = \int_0^t f_Y(y)\, F_X(c - k y)\,dy` (integrate over Y).

The integrand of (A) moves the boundary by ``sd_X / k`` over the spread of X, that of (B)
by ``k sd_Y``; we pick the form whose boundary moves *less* relative to the other variable's
spread, so the inner CDF never becomes a step on the integration grid.  Integrals use
composite Gauss-Legendre rules in logit coordinates, on panels bounded by the integration
variable's quantiles (fixed per posterior, clipped to the query's interval), so that every
panel carries a bounded share of the mass.  Inner CDFs are ``scipy.special.betainc``.
The density ``dF/de`` follows by differentiating (A), (B) and the product term under the
integral sign (see :func:`lower_mass`).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["BetaDist", "lower_mass", "region_sf"]

# Quantile levels bounding the quadrature panels of each Beta distribution.  Tail mass
# outside [1e-13, 1 - 1e-13] is ignored (error <= 2e-13 in probability).
_LEVELS = np.array(
    [1e-13, 1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 5e-3, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5,
     0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.995, 0.999, 1 - 1e-4, 1 - 1e-5, 1 - 1e-6, 1 - 1e-8,
     1 - 1e-10, 1 - 1e-13]
)


class BetaDist:
    """A Beta(a, b) distribution with a quantile-panel Gauss-Legendre rule in logit space."""

    def __init__(self, a: float, b: float, n_per_panel: int = 4):
        self.a, self.b = float(a), float(b)
        self.lbeta = special.betaln(self.a, self.b)
        self.sd = np.sqrt(self.a * self.b / ((self.a + self.b) ** 2 * (self.a + self.b + 1.0)))
        q = special.betaincinv(self.a, self.b, _LEVELS)
        lo = special.betaincinv(self.a, self.b, 1e-13)
        hi = special.betaincinv(self.b, self.a, 1e-13)  # via the reflected distribution: 1 - x
        with np.errstate(divide="ignore"):
            s = special.logit(q)
            s[0] = np.log(max(lo, 1e-300)) - np.log1p(-max(lo, 1e-300))
            s[-1] = np.log1p(-max(hi, 1e-300)) - np.log(max(hi, 1e-300))
        s = np.maximum.accumulate(np.clip(s, -745.0, 745.0))
        self.breaks = s  # (K+1,) logit breakpoints
        xi, w = special.roots_legendre(n_per_panel)
        self._xi, self._w = xi, w

    def reflected(self) -> BetaDist:
        """Distribution of 1 - X."""
        return BetaDist(self.b, self.a, len(self._xi))

    def cdf(self, x):
        return special.betainc(self.a, self.b, np.clip(x, 0.0, 1.0))

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # xlogy handles the endpoints: inf for a < 1, 1/B for a == 1, 0 for a > 1
            return np.exp(special.xlogy(self.a - 1.0, x) + special.xlog1py(self.b - 1.0, -x) - self.lbeta)

    def nodes(self, lo, hi):
        """Nodes ``x`` and weights ``w`` (shape (Q, n)) with ``sum w g(x) ~ E[g(X); lo < X < hi]``."""
        with np.errstate(divide="ignore"):
            slo = np.log(lo) - np.log1p(-lo)
            shi = np.log(hi) - np.log1p(-hi)
        slo = np.where(np.isnan(slo), np.inf, slo)  # lo >= 1: empty
        b = np.clip(self.breaks[None, :], slo[:, None], shi[:, None])
        b = np.where(slo[:, None] > shi[:, None], shi[:, None], b)
        mid = 0.5 * (b[:, 1:] + b[:, :-1])
        half = 0.5 * (b[:, 1:] - b[:, :-1])
        s = (mid[..., None] + half[..., None] * self._xi).reshape(len(slo), -1)
        hw = (half[..., None] * self._w).reshape(len(slo), -1)
        # density of s = logit(x):  x^a (1-x)^b / B(a, b), computed in log space
        lw = self.a * special.log_expit(s) + self.b * special.log_expit(-s) - self.lbeta
        return special.expit(s), hw * np.exp(lw)


def _q_term(X: BetaDist, Y: BetaDist, t, c, k, want_pdf: bool):
    """Q(X, Y) = P(Y < t, X < c - kY) and its e-derivative (without the t' boundary terms)."""
    Qn = t.shape[0]
    val = np.empty(Qn)
    dval = np.zeros(Qn)
    use_a = X.sd <= k * Y.sd
    FXt, GYt = X.cdf(t), Y.cdf(t)
    ia, ib = np.nonzero(use_a)[0], np.nonzero(~use_a)[0]
    tp = -t * k / (1.0 + k)  # dt/de
    if ia.size:
        ta, ka = t[ia], k[ia]
        x, w = X.nodes(ta, np.full_like(ta, c))
        arg = (c - x) / ka[:, None]
        val[ia] = FXt[ia] * GYt[ia] + np.sum(w * _masked(Y.cdf, arg, w), axis=1)
        if want_pdf:
            dval[ia] = FXt[ia] * Y.pdf(ta) * tp[ia] - np.sum(w * _finite(_masked(Y.pdf, arg, w)) * arg, axis=1)
    if ib.size:
        tb, kb = t[ib], k[ib]
        y, w = Y.nodes(np.zeros_like(tb), tb)
        arg = c - kb[:, None] * y
        val[ib] = np.sum(w * _masked(X.cdf, arg, w), axis=1)
        if want_pdf:
            dval[ib] = Y.pdf(tb) * FXt[ib] * tp[ib] - kb * np.sum(w * y * _finite(_masked(X.pdf, arg, w)), axis=1)
    return val, dval, FXt, GYt


def _masked(fn, arg, w):
    """``fn(arg)`` where the quadrature weight matters, 0 elsewhere (skips empty/clipped panels).

    Nodes with weight below 1e-16 are dropped: with at most a few hundred nodes the
    neglected mass is below 1e-13 in probability.
    """
    out = np.zeros_like(arg)
    m = w > 1e-16
    out[m] = fn(arg[m])
    return out


def _finite(p):
    # an integrable endpoint singularity of a Beta density sits on a node only through rounding
    return np.where(np.isfinite(p), p, 0.0)


def lower_mass(X: BetaDist, Y: BetaDist, e, delta: float, want_pdf: bool = False):
    """P(Y < L_e(X)) for an array of e >= 0, and (optionally) its derivative in e."""
    e = np.asarray(e, dtype=float)
    c = 1.0 - delta
    k = np.exp(np.minimum(e, 709.0))
    t = c * special.expit(-e)
    q1, d1, FXt, FYt = _q_term(X, Y, t, c, k, want_pdf)
    q2, d2, _, _ = _q_term(Y, X, t, c, k, want_pdf)
    val = q1 + q2 - FXt * FYt
    if not want_pdf:
        return val, None
    tp = -t * k / (1.0 + k)
    dprod = (X.pdf(t) * FYt + FXt * Y.pdf(t)) * tp
    return val, d1 + d2 - dprod


def region_sf(A: BetaDist, B: BetaDist, Ar: BetaDist, Br: BetaDist, e, delta: float, want_pdf: bool = False):
    """1 - F(e) = P(eps > e) and the density dF/de, for FPR ~ A, FNR ~ B (Ar, Br: 1-A, 1-B)."""
    lo, dlo = lower_mass(A, B, e, delta, want_pdf)
    up, dup = lower_mass(Br, Ar, e, delta, want_pdf)
    sf = np.clip(lo + up, 0.0, 1.0)
    if not want_pdf:
        return sf, None
    return sf, np.maximum(-(dlo + dup), 0.0)
