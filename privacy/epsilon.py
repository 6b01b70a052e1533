r"""Bayesian posterior of a differential-privacy epsilon from membership-inference counts.

Reproduces and speeds up Zanella-Beguelin et al., "Bayesian Estimation of Differential
Privacy", ICML 2023 (PMLR 202:40624-40636, arXiv:2206.05199).

Model.  With counts of a membership game (:class:`privacy.AttackCounts`), the false-positive
rate :math:`\alpha` and the false-negative rate :math:`\beta` have independent Beta priors
(Jeffreys :math:`\mathrm{Beta}(1/2, 1/2)` by default), so

.. math::

    \alpha \mid \text{data} \sim \mathrm{Beta}(FP + a_\alpha, TN + b_\alpha),\qquad
    \beta \mid \text{data} \sim \mathrm{Beta}(FN + a_\beta, TP + b_\beta).

The target is the push-forward :math:`\varepsilon(\alpha, \beta)` of
:func:`privacy.counts.empirical_epsilon`; its CDF :math:`F(e)` is the posterior mass of the
privacy region :math:`R(e, \delta)`.  We compute it by *deterministic one-dimensional
quadrature over Beta CDFs* (``scipy.special.betainc``; see :mod:`privacy._region`), accurate
to about 1e-9 in probability and vectorised over queries; quantiles by a safeguarded Newton
iteration on :math:`\operatorname{logit} F` using the exact density.

The ``"dirichlet"`` model puts a Dirichlet prior on the four cell probabilities (so the
numbers of member and non-member trials P and N are random too).  By the neutrality
(aggregation) property of the Dirichlet, FPR and FNR are then *exactly* independent Betas
with the cells' concentrations, :math:`\alpha \sim \mathrm{Beta}(FP + c_{FP}, TN + c_{TN})`,
:math:`\beta \sim \mathrm{Beta}(FN + c_{FN}, TP + c_{TP})`, so the same quadrature applies.

Calling convention: ``post = epsilon_posterior(counts, delta)``; then ``post.cdf(e)``,
``post.pdf(e)``, ``post.quantile(q)``, ``post.interval(confidence_level)``,
``post.lower_bound(confidence_level)``,
``post.mean()``, ``post.sample(key, n)``.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special

from privacy._region import BetaDist, region_sf
from privacy.counts import AttackCounts, _check_delta, empirical_epsilon
from privacy.exceptions import PrivacyDeprecationWarning, PrivacyParameterError
from privacy.priors import resolve_prior
from probinf.deprecation import renamed_argument

__all__ = ["EpsilonPosterior", "epsilon_posterior", "check_level", "renamed_level", "MAX_EPSILON"]

#: Largest finite epsilon the quantile search considers (exp(709) is the float64 limit);
#: a quantile beyond it is reported as ``inf``.
MAX_EPSILON = 700.0

def check_level(level, name: str = "confidence_level") -> float:
    """Validate a credibility or confidence level in the open interval (0, 1) and return it as float."""
    if isinstance(level, bool) or not isinstance(level, (numbers.Real, np.floating, np.integer)):
        raise PrivacyParameterError(f"{name} must be a number in (0, 1), got {level!r}")
    lv = float(level)
    if not (0.0 < lv < 1.0):
        raise PrivacyParameterError(f"{name} must lie in the open interval (0, 1), got {level!r} (e.g. 0.95)")
    return lv


def renamed_level(level, confidence_level, default: float = 0.95):
    """``confidence_level``, or the deprecated ``level`` it replaced (which warns; both given is a TypeError)."""
    return renamed_argument(level, confidence_level, old="level", new="confidence_level", default=default,
                            category=PrivacyDeprecationWarning, stacklevel=4)


@dataclass(frozen=True)
class _Params:
    a_fpr: float
    b_fpr: float
    a_fnr: float
    b_fnr: float


class EpsilonPosterior:
    r"""Posterior distribution of epsilon for one attack's counts and one delta.

    Build it with :func:`epsilon_posterior`.  All methods are vectorised over their first
    argument (NumPy arrays in, arrays out; scalars in, floats out).

    Attributes
    ----------
    counts : AttackCounts
    delta : float
    model : str
        ``"independent"`` or ``"dirichlet"``.
    prior : dict
        Prior pseudo-counts per cell (keys tp, fn, tn, fp).
    fpr_posterior, fnr_posterior : tuple of float
        Beta parameters ``(a, b)`` of the posteriors of the FPR and FNR.

    Notes
    -----
    The distribution of epsilon may have an atom at 0 (mass ``cdf(0)``: the posterior mass of
    the region where no test beats (0, delta)-DP); :meth:`pdf` is the density of the continuous
    part on :math:`(0, \infty)`.  Credible intervals are Bayesian statements about the attack's
    *empirical* epsilon: they carry no frequentist coverage guarantee and bound only what the
    chosen attack can detect.
    """

    def __init__(self, counts: AttackCounts, delta: float, prior: dict, model: str, n_per_panel: int = 4):
        self.counts, self.delta, self.prior, self.model = counts, delta, prior, model
        p = _Params(counts.fp + prior["fp"], counts.tn + prior["tn"], counts.fn + prior["fn"], counts.tp + prior["tp"])
        self._p = p
        self.fpr_posterior = (p.a_fpr, p.b_fpr)
        self.fnr_posterior = (p.a_fnr, p.b_fnr)
        self._A = BetaDist(p.a_fpr, p.b_fpr, n_per_panel)
        self._B = BetaDist(p.a_fnr, p.b_fnr, n_per_panel)
        self._Ar, self._Br = self._A.reflected(), self._B.reflected()
        self._cdf0 = None
        self._mean: float | None = None

    def __repr__(self) -> str:
        c = self.counts
        return (f"EpsilonPosterior(tp={c.tp}, fn={c.fn}, tn={c.tn}, fp={c.fp}, delta={self.delta:g}, "
                f"model={self.model!r}, fpr~Beta{tuple(round(v, 3) for v in self.fpr_posterior)}, "
                f"fnr~Beta{tuple(round(v, 3) for v in self.fnr_posterior)})")

    # ------------------------------------------------------------------ CDF / density
    def _eval(self, e: np.ndarray, want_pdf: bool):
        return region_sf(self._A, self._B, self._Ar, self._Br, e, self.delta, want_pdf)

    @staticmethod
    def _as_eps(e):
        arr = np.asarray(e, dtype=float)
        if np.any(np.isnan(arr)):
            raise ValueError("epsilon values must not be NaN")
        return arr

    def sf(self, e):
        """Posterior survival function ``P(eps > e | data)``, computed directly (accurate in the tail)."""
        arr = self._as_eps(e)
        flat = arr.ravel()
        out = np.where(flat < 0, 1.0, 0.0)
        ok = (flat >= 0) & np.isfinite(flat)
        if ok.any():
            out[ok] = self._eval(np.minimum(flat[ok], MAX_EPSILON + 50.0), False)[0]
        out = out.reshape(arr.shape)
        return float(out) if out.ndim == 0 else out

    def cdf(self, e):
        r"""Posterior CDF ``F(e) = P(eps <= e | data)``: the posterior mass of the region :math:`R(e, \delta)`.

        Parameters
        ----------
        e : float or array-like
            Epsilon values; negative values give 0 and ``inf`` gives 1.
        """
        s = self.sf(e)
        return 1.0 - s

    def pdf(self, e):
        """Posterior density of epsilon on ``(0, inf)`` (the continuous part; see Notes of the class)."""
        arr = self._as_eps(e)
        flat = arr.ravel()
        out = np.zeros(flat.shape)
        ok = (flat > 0) & np.isfinite(flat)
        if ok.any():
            out[ok] = self._eval(flat[ok], True)[1]
        out = out.reshape(arr.shape)
        return float(out) if out.ndim == 0 else out

    # ------------------------------------------------------------------ quantiles
    def _guess(self, q: np.ndarray) -> np.ndarray:
        # epsilon at the (1-q) marginal quantile corner: a cheap starting point, not a bound
        r = 1.0 - q
        a = special.betaincinv(self._p.a_fpr, self._p.b_fpr, r)
        b = special.betaincinv(self._p.a_fnr, self._p.b_fnr, r)
        g = empirical_epsilon(np.clip(a, 0, 1), np.clip(b, 0, 1), self.delta)
        return np.clip(np.nan_to_num(np.asarray(g, dtype=float), posinf=MAX_EPSILON), 0.0, MAX_EPSILON)

    def quantile(self, q, *, xtol: float = 1e-9, maxiter: int = 100):
        """Posterior quantile ``inf{e: F(e) >= q}`` (0 when the atom at 0 already holds ``q``).

        Parameters
        ----------
        q : float or array-like in (0, 1)
        xtol : float
            Relative tolerance on epsilon of the Newton/bisection iteration.

        Returns
        -------
        float or ndarray
            ``inf`` where the quantile exceeds :data:`MAX_EPSILON` (a rate posterior piled up at 0).
        """
        if q is None or isinstance(q, (str, bytes, bool, np.bool_)):
            raise PrivacyParameterError(f"quantile levels must be numbers in (0, 1), got {q!r}")
        try:
            qa = np.asarray(q, dtype=float)
        except (TypeError, ValueError):
            raise PrivacyParameterError(f"quantile levels must be numbers in (0, 1), got {q!r}") from None
        if qa.size == 0 or np.any(~((qa > 0) & (qa < 1))):
            raise PrivacyParameterError(f"quantile levels must lie in the open interval (0, 1), got {q!r}")
        flat = qa.ravel()
        out = np.zeros(flat.shape)
        F0 = self.cdf(0.0)
        active = flat > F0
        if np.any(active):
            qs = flat[active]
            sq = 1.0 - qs
            lo = np.zeros_like(qs)
            hi = np.full_like(qs, MAX_EPSILON)
            sf_hi = self._sf_bound(MAX_EPSILON)
            if np.any(sf_hi > sq):  # the cheap bound is inconclusive: evaluate exactly
                sf_hi = self.sf(MAX_EPSILON)
            res = np.full_like(qs, np.inf)
            reach = sf_hi <= sq  # otherwise the quantile is beyond MAX_EPSILON
            x = self._guess(qs)
            done = ~reach
            target = special.logit(qs)
            for _ in range(maxiter):
                idx = np.nonzero(~done)[0]
                if idx.size == 0:
                    break
                sf, dens = self._eval(x[idx], True)
                F = 1.0 - sf
                below = sf > sq[idx]
                lo[idx] = np.where(below, x[idx], lo[idx])
                hi[idx] = np.where(below, hi[idx], x[idx])
                # Newton on logit F (near-linear in the tails), safeguarded by the bracket
                with np.errstate(divide="ignore", invalid="ignore"):
                    lf = np.log(np.maximum(F, 1e-300)) - np.log(np.maximum(sf, 1e-300))
                    slope = dens / np.maximum(F * sf, 1e-300)
                    step = (lf - target[idx]) / slope
                xn = x[idx] - step
                # converged: a Newton step below xtol, a collapsed bracket, or F within 1e-11 of q
                # (1e-11 is far below the quadrature error, so the remaining step is applied unchecked)
                # (a small step alone is not enough: far in a tail the logit slope is clamped)
                err = np.abs(sf - sq[idx])
                conv = (((np.abs(step) <= xtol * (1.0 + x[idx])) & (err <= 1e-7))
                        | (hi[idx] - lo[idx] <= xtol * (1.0 + lo[idx])) | (err <= 1e-11))
                bad = ~conv & (~np.isfinite(xn) | (xn <= lo[idx]) | (xn >= hi[idx]))
                # bisection in log(1 + e): copes with the wide initial bracket [0, MAX_EPSILON]
                xb = np.expm1(0.5 * (np.log1p(lo[idx]) + np.log1p(hi[idx])))
                x[idx] = np.where(bad, xb, np.where(np.isfinite(xn), xn, x[idx]))
                done[idx] = conv
            res[reach] = x[reach]
            out[active] = res
        shaped = out.reshape(qa.shape)
        return float(shaped) if shaped.ndim == 0 else shaped

    def _sf_bound(self, e: float) -> float:
        # P(eps > e) <= F_a(t) + F_b(t) + F_{1-a}(t) + F_{1-b}(t): the region's complement lies
        # within distance t = c / (1 + e^e) of the square's edges (see privacy._region)
        t = (1.0 - self.delta) * special.expit(-e)
        return float(sum(d.cdf(t) for d in (self._A, self._B, self._Ar, self._Br)))

    def interval(self, confidence_level: float = 0.95, *, level=None):
        """Equal-tailed credible interval ``(F^{-1}((1-c)/2), F^{-1}((1+c)/2))`` at ``c = confidence_level``.

        ``level`` is the former name of ``confidence_level`` (deprecated; it warns).
        """
        lv = check_level(renamed_level(level, confidence_level))
        lo, hi = self.quantile(np.array([(1 - lv) / 2, (1 + lv) / 2]))
        return float(lo), float(hi)

    def lower_bound(self, confidence_level: float = 0.95, *, level=None) -> float:
        """One-sided lower credible bound: ``P(eps >= bound | data) = c``, i.e. ``F^{-1}(1 - c)``.

        ``c = confidence_level``; ``level`` is its former name (deprecated; it warns).
        """
        return float(self.quantile(1.0 - check_level(renamed_level(level, confidence_level))))

    def upper_bound(self, confidence_level: float = 0.95, *, level=None) -> float:
        """One-sided upper credible bound ``F^{-1}(confidence_level)`` (``level``: former name, deprecated)."""
        return float(self.quantile(check_level(renamed_level(level, confidence_level))))

    def mean(self) -> float:
        r"""Posterior mean :math:`\int_0^\infty (1 - F(e))\,de` by Gauss-Legendre quadrature on quantile panels."""
        if self._mean is None:
            levels = np.array([0.5, 0.9, 0.99, 0.999, 1 - 1e-5, 1 - 1e-7, 1 - 1e-9, 1 - 1e-11])
            qs = np.concatenate([[0.0], self.quantile(levels)])
            if not np.all(np.isfinite(qs)):
                self._mean = float("inf")
                return self._mean
            xi, w = special.roots_legendre(16)
            mid, half = 0.5 * (qs[1:] + qs[:-1]), 0.5 * (qs[1:] - qs[:-1])
            nodes = (mid[:, None] + half[:, None] * xi).ravel()
            wts = (half[:, None] * w).ravel()
            self._mean = float(np.sum(wts * self.sf(nodes)))
        return self._mean

    def sample(self, key, n: int) -> np.ndarray:
        """``n`` independent posterior draws of epsilon (``inf`` where a drawn rate underflows to 0).

        Parameters
        ----------
        key : jax PRNG key or int seed
            Same key, same draws (a ``numpy.random.Generator`` still works for one release and warns).
        n : int
        """
        if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        rng = _rng_from_key(key)
        if self.model == "dirichlet":
            cells = rng.dirichlet([self._p.b_fnr, self._p.a_fnr, self._p.b_fpr, self._p.a_fpr], size=int(n))
            tp, fn, tn, fp = cells.T
            alpha, beta = fp / (fp + tn), fn / (fn + tp)
        else:
            alpha = rng.beta(self._p.a_fpr, self._p.b_fpr, size=int(n))
            beta = rng.beta(self._p.a_fnr, self._p.b_fnr, size=int(n))
        return np.asarray(empirical_epsilon(alpha, beta, self.delta), dtype=float).reshape(int(n))

    def summary(self, confidence_level: float = 0.95, *, level=None) -> dict:
        """Posterior summary: mean, median, equal-tailed interval, one-sided lower bound, atom at 0.

        The interval and the bound are at ``confidence_level`` (``level``: its former name, deprecated).
        """
        lv = check_level(renamed_level(level, confidence_level))
        lo, hi = self.interval(lv)
        return {
            "tp": self.counts.tp, "fn": self.counts.fn, "tn": self.counts.tn, "fp": self.counts.fp,
            "delta": self.delta, "confidence_level": lv, "model": self.model,
            "mean": self.mean(), "median": float(self.quantile(0.5)),
            "interval_lower": lo, "interval_upper": hi,
            "lower_bound": self.lower_bound(lv), "mass_at_zero": float(self.cdf(0.0)),
            "empirical_epsilon": self.counts.empirical_epsilon(self.delta),
        }

    def plot(self, ax=None, confidence_level: float = 0.95, *, level=None, **kwargs):
        """Plot the posterior density with the equal-tailed interval at ``confidence_level`` shaded; returns the axes.

        ``level`` is the former name of ``confidence_level`` (deprecated; it warns).
        """
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        lo, hi = self.interval(renamed_level(level, confidence_level))
        top = self.quantile(0.9995)
        grid = np.linspace(max(0.0, self.quantile(0.0005) * 0.9), top if np.isfinite(top) else 20.0, 400)
        dens = self.pdf(grid)
        line, = ax.plot(grid, dens, **kwargs)
        m = (grid >= lo) & (grid <= hi)
        ax.fill_between(grid[m], dens[m], alpha=0.25, color=line.get_color())
        ax.set_xlabel(r"$\varepsilon$")
        ax.set_ylabel("posterior density")
        return ax


def _rng_from_key(key) -> np.random.Generator:
    if isinstance(key, np.random.Generator):
        warnings.warn("EpsilonPosterior.sample(key=...) takes a JAX PRNG key or an int seed (docs/conventions.md); "
                      "a numpy Generator is deprecated and will be refused in the next release: pass an int seed "
                      "(sample(7, n) draws what sample(np.random.default_rng(7), n) drew)", PrivacyDeprecationWarning,
                      stacklevel=3)
        return key
    if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, bool):
        return np.random.default_rng(int(key))
    try:
        import jax

        data = np.asarray(jax.random.key_data(key)) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) \
            else np.asarray(key)
    except Exception:  # noqa: BLE001 - anything that is not a key is reported below
        raise TypeError(
            f"key must be a JAX PRNG key, an int seed or a numpy Generator, got {type(key).__name__}") from None
    return np.random.default_rng(data.astype(np.uint64).ravel().tolist())


def epsilon_posterior(counts: AttackCounts, delta: float, *, prior="jeffreys", model: str = "independent",
                      n_per_panel: int = 4) -> EpsilonPosterior:
    r"""Posterior of epsilon from membership-inference counts (Zanella-Beguelin et al. 2023).

    Parameters
    ----------
    counts : AttackCounts
        Outcome counts of the membership game (both classes non-empty).
    delta : float
        The DP delta in [0, 1).
    prior : str, pair or dict, default "jeffreys"
        ``"jeffreys"`` (Beta(1/2, 1/2) on each rate, or Dirichlet(1/2, 1/2, 1/2, 1/2)),
        ``"uniform"``, a pair ``(a, b)`` of Beta parameters for both rates, or
        ``{"fpr": (a, b), "fnr": (a, b)}``; for ``model="dirichlet"`` a positive
        concentration or ``{"tp": .., "fn": .., "tn": .., "fp": ..}``.
    model : {"independent", "dirichlet"}
        Fixed numbers of member/non-member trials with independent rate priors, or a Dirichlet
        on the four cells (random P and N).
    n_per_panel : int
        Gauss-Legendre nodes per quantile panel (28 panels).  The default 4 is accurate to
        about 1e-7 in probability against adaptive ``scipy.integrate.quad`` references
        (tests/privacy/test_epsilon.py); 8 gives about 1e-9.

    Returns
    -------
    EpsilonPosterior

    Examples
    --------
    >>> from privacy import AttackCounts, epsilon_posterior
    >>> post = epsilon_posterior(AttackCounts(tp=1000, fn=0, tn=1000, fp=0), delta=1e-5)
    >>> round(post.lower_bound(0.95), 2)
    7.21
    >>> lo, hi = epsilon_posterior(AttackCounts(tp=900, fn=100, tn=950, fp=50), 1e-5).interval(0.95)
    >>> round(lo, 2), round(hi, 2)
    (2.63, 3.17)
    """
    if not isinstance(counts, AttackCounts):
        raise TypeError(f"counts must be a privacy.AttackCounts, got {type(counts).__name__}; "
                        "build one with AttackCounts(tp=.., fn=.., tn=.., fp=..)")
    d = _check_delta(delta)
    if model not in ("independent", "dirichlet"):
        raise PrivacyParameterError(f"model must be 'independent' or 'dirichlet', got {model!r}")
    if isinstance(n_per_panel, bool) or not isinstance(n_per_panel, (numbers.Integral, np.integer)) or n_per_panel < 2:
        raise ValueError(f"n_per_panel must be an integer >= 2, got {n_per_panel!r}")
    return EpsilonPosterior(counts, d, resolve_prior(prior, model), model, int(n_per_panel))
