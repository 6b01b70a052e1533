r"""``PrivateKaplanMeier``: a lifelines-like Kaplan-Meier fitter with a differentially private release."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..exceptions import NoPrivacyGuaranteeWarning
from .data import cell_counts, make_grid, validate_survival_data
from .intervals import bootstrap_curves, median_from_curve, percentile_band
from .mechanisms import (
    ADJACENCIES,
    CONVENTIONS,
    cell_sensitivity,
    product_limit,
    release_histogram,
    release_tree,
    tree_levels,
    tree_sensitivity,
)
from .paper import PAPER_WARNING, km_event_times, release_paper

__all__ = ["PrivateKaplanMeier", "MECHANISMS"]

MECHANISMS = ("histogram", "tree", "paper")


class PrivateKaplanMeier(BaseEstimator):
    r"""Kaplan-Meier survival curve released under :math:`\varepsilon`-differential privacy.

    The records are counted into disjoint cells on a **public** time grid (deaths and
    censorings per bin, plus those still at risk at the last grid point), the cells are
    released with Laplace noise, and everything else (at-risk counts, product-limit curve,
    event table, intervals, median, plot) is post-processing of that release.

    .. math::

        \hat S(t_b) = \prod_{j \le b} \Big(1 - \frac{\hat d_j}{\hat n_j}\Big),
        \quad \hat d_j = \max(\tilde d_j, 0), \quad \hat n_j = \max(\tilde n_j, \hat d_j),

    with :math:`\tilde d_j` the noisy deaths in :math:`(t_{j-1}, t_j]` and :math:`\tilde n_j`
    the noisy number at risk (see :mod:`privacy.survival.mechanisms`).

    Parameters
    ----------
    epsilon : float
        Privacy budget :math:`\varepsilon > 0` for the whole curve (``np.inf``: no noise, the
        exact binned Kaplan-Meier, for validation only).
    grid : None, int or array of float, shape (K,)
        Public, strictly increasing time points :math:`t_1 < \dots < t_K`; or ``K`` equal bins
        over ``(0, horizon]``; None means 50 bins. The grid must not depend on the data: a grid
        built from the data (e.g. its event times, or the data maximum when ``horizon`` is
        missing) leaks it (a :class:`~privacy.exceptions.PrivacyWarning` is raised in the
        latter case). Ignored by ``mechanism="paper"`` (which releases at the event times).
    mechanism : {"histogram", "tree", "paper"}
        ``"histogram"`` (default): Laplace(:math:`\Delta/\varepsilon`) on every cell, pure
        :math:`\varepsilon`-DP. ``"tree"``: binary-tree aggregation of the cells, pure
        :math:`\varepsilon`-DP. ``"paper"``: Veeraragavan et al. (2024), reconstructed; **no DP
        guarantee** (a PrivacyWarning explains why).
    adjacency : {"add-remove", "replace-one"}
        Neighbouring datasets differ by adding/removing one record (:math:`\Delta = 1`) or by
        replacing one (:math:`\Delta = 2`; the size :math:`N` is then public and used).
    alpha : float
        Intervals are at level :math:`1 - \alpha`.
    n_bootstrap : int
        Replicates of the noise-and-sampling bootstrap behind ``confidence_interval_``.
    horizon : float, optional
        Public end of follow-up for an int/None ``grid``.
    beyond : {"censor", "error"}
        Records beyond the last grid point are administratively censored there (default) or
        rejected.
    convention : {"actuarial", "product-limit"}
        How censorings inside a bin enter its risk set: half of them (life-table rule, the
        least binning bias on a coarse grid) or none (exactly Kaplan-Meier when the grid holds
        the event times; use it for ``epsilon=np.inf`` validation).
    random_state : None, int or numpy.random.Generator
        Source of the privacy noise (use a fresh, secret seed for a real release).

    Attributes
    ----------
    survival_function_ : DataFrame, shape (K+1, 1)
        :math:`\hat S` at time 0 and on the grid (index ``timeline``).
    confidence_interval_ : DataFrame, shape (K+1, 2)
        Pointwise interval covering both sampling and privacy noise (percentile bootstrap).
    cumulative_density_ : DataFrame, shape (K+1, 1)
        :math:`1 - \hat S`.
    median_survival_time_ : float
        First grid time with :math:`\hat S \le 0.5` (``inf`` if none).
    median_confidence_interval_ : DataFrame, shape (1, 2)
        Median of the lower and upper bands (Brookmeyer-Crowley style inversion).
    event_table : DataFrame
        Noisy life table indexed by the bin end :math:`t_b`: ``at_risk`` entering the bin
        :math:`(t_{b-1}, t_b]`, ``observed`` deaths and ``censored`` censorings in it, ``removed``
        (their sum), ``entrance`` (the noisy total in the first row). Floats, clipped at 0; noisy
        columns need not add up exactly. For ``mechanism="paper"`` (which releases no counts)
        it has no columns: only the index of observed event times the mechanism leaks.
    noisy_cells_ : ndarray, shape (2K+1,)
        The raw release (``histogram``: noisy cells; ``tree``: least-squares cells).
    guarantee_ : dict
        What was released under which guarantee: mechanism, epsilon, delta (0: pure DP), adjacency,
        L1 sensitivity, Laplace scale, number of cells, budget split (all None for ``paper``).
    timeline_ : ndarray, shape (K,)
        The grid (or, for ``paper``, the observed event times).

    References
    ----------
    Gondara & Wang (2020), Differentially private survival function estimation, MLHC, PMLR 126.
    Veeraragavan, Karimireddy & Nygard (2024), arXiv:2412.05164.

    Examples
    --------
    >>> import numpy as np
    >>> from privacy import PrivateKaplanMeier
    >>> t = np.array([5., 8., 12., 20., 25., 30.]); e = np.array([1, 0, 1, 1, 0, 1])
    >>> km = PrivateKaplanMeier(np.inf, grid=[5., 12., 20., 30.], convention="product-limit").fit(t, e)
    >>> km.survival_function_["DP_KM_estimate"].round(3).tolist()  # exact KM: grid = event times, no noise
    [1.0, 0.833, 0.625, 0.417, 0.0]
    """

    def __init__(self, epsilon, *, grid=None, mechanism="histogram", adjacency="add-remove", alpha=0.05,
                 n_bootstrap=1000, horizon=None, beyond="censor", convention="actuarial", random_state=None,
                 label="DP_KM_estimate"):
        self.epsilon = epsilon
        self.grid = grid
        self.mechanism = mechanism
        self.adjacency = adjacency
        self.alpha = alpha
        self.n_bootstrap = n_bootstrap
        self.horizon = horizon
        self.beyond = beyond
        self.convention = convention
        self.random_state = random_state
        self.label = label

    # ------------------------------------------------------------------ validation
    def _validate_params(self):
        try:
            eps = float(self.epsilon)
        except (TypeError, ValueError):
            raise TypeError(f"epsilon must be a number, got {self.epsilon!r}") from None
        if np.isnan(eps) or eps <= 0:
            raise ValueError(f"epsilon must be > 0 (np.inf disables the noise), got {self.epsilon!r}")
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"mechanism must be one of {MECHANISMS}, got {self.mechanism!r}")
        if self.adjacency not in ADJACENCIES:
            raise ValueError(f"adjacency must be one of {ADJACENCIES}, got {self.adjacency!r}")
        if not (0 < float(self.alpha) < 1):
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if int(self.n_bootstrap) < 1:
            raise ValueError(f"n_bootstrap must be >= 1, got {self.n_bootstrap!r}")
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {self.convention!r}")
        if self.beyond not in ("censor", "error"):
            raise ValueError(f"beyond must be 'censor' or 'error', got {self.beyond!r}")
        return eps

    # ------------------------------------------------------------------ fitting
    def fit(self, durations, event_observed=None):
        """Release the curve for ``durations`` (shape (n,)) and ``event_observed`` (0/1, default all 1).

        Returns
        -------
        self
        """
        eps = self._validate_params()
        t, e = validate_survival_data(durations, event_observed)
        rng = np.random.default_rng(self.random_state)
        self.n_public_ = float(t.size) if self.adjacency == "replace-one" else None
        if self.mechanism == "paper":
            warnings.warn(PAPER_WARNING, NoPrivacyGuaranteeWarning, stacklevel=2)
            return self._fit_paper(t, e, eps, rng)
        grid = make_grid(self.grid, t, horizon=self.horizon)
        cells = cell_counts(t, e, grid, beyond=self.beyond)

        def release(c):
            if self.mechanism == "histogram":
                return release_histogram(c, eps, self.adjacency, rng)
            return release_tree(c, eps, self.adjacency, rng)[0]

        noisy = release(cells)
        if self.mechanism == "histogram":
            sens, split = cell_sensitivity(self.adjacency), "none: disjoint cells (parallel composition)"
        else:
            sens = tree_sensitivity(cells.size, self.adjacency)
            split = f"epsilon/{tree_levels(cells.size)} per tree level (sequential composition)"
        self.guarantee_ = {"mechanism": self.mechanism, "epsilon": eps, "delta": 0.0, "adjacency": self.adjacency,
                           "l1_sensitivity": sens, "laplace_scale": sens / eps, "n_cells": int(cells.size),
                           "budget_split": split}
        surv, at_risk, deaths = product_limit(noisy, n_public=self.n_public_, convention=self.convention)
        s_star = bootstrap_curves(noisy, release, rng, n_bootstrap=int(self.n_bootstrap), n_public=self.n_public_,
                                  convention=self.convention)
        lo, hi = percentile_band(s_star, float(self.alpha))
        self.noisy_cells_ = noisy
        self.timeline_ = grid
        self.bootstrap_curves_ = s_star
        k = grid.size
        suffix = np.cumsum(noisy[::-1])[::-1]
        censored = np.maximum(noisy[2 * np.arange(k)], 0.0)
        entering = np.maximum(suffix[2 * np.arange(k)], 0.0)
        self.event_table = pd.DataFrame(
            {
                "removed": deaths + censored,
                "observed": deaths,
                "censored": censored,
                "entrance": np.concatenate([[entering[0]], np.zeros(k - 1)]),
                "at_risk": entering,
            },
            index=pd.Index(grid, name="event_at"),
        )
        self._set_curves(grid, surv, lo, hi)
        return self

    def _fit_paper(self, t, e, eps, rng):
        u, curve, scale = release_paper(t, e, eps, rng)
        _, s_exact, n, d = km_event_times(t, e)
        # normal interval: Greenwood (exact data: the mechanism is not private anyway) + noise variance
        with np.errstate(divide="ignore", invalid="ignore"):
            gw = np.cumsum(np.where(n > d, d / (n * (n - d)), 0.0))
        var = s_exact**2 * gw + 2.0 * scale**2
        z = _normal_quantile(1 - float(self.alpha) / 2)
        lo = np.minimum.accumulate(np.clip(curve - z * np.sqrt(var), 0, 1))
        hi = np.minimum.accumulate(np.clip(curve + z * np.sqrt(var), 0, 1))
        self.guarantee_ = {"mechanism": "paper", "epsilon": None, "delta": None, "adjacency": None,
                           "l1_sensitivity": None, "laplace_scale": None, "n_cells": None,
                           "budget_split": f"none: epsilon={eps} at each of {u.size} event times (no DP guarantee)"}
        self.noisy_cells_ = None
        self.timeline_ = u
        self.bootstrap_curves_ = None
        # the mechanism releases no counts; only its (leaked) time index is shown
        self.event_table = pd.DataFrame(index=pd.Index(u, name="event_at"))
        self._set_curves(u, curve, lo, hi)
        return self

    def _set_curves(self, times, surv, lo, hi):
        idx = pd.Index(np.concatenate([[0.0], times]), name="timeline")
        self.survival_function_ = pd.DataFrame({self.label: np.concatenate([[1.0], surv])}, index=idx)
        level = f"{1 - float(self.alpha):.2f}".rstrip("0").rstrip(".")
        self.confidence_interval_ = pd.DataFrame(
            {f"{self.label}_lower_{level}": np.concatenate([[1.0], lo]),
             f"{self.label}_upper_{level}": np.concatenate([[1.0], hi])},
            index=idx,
        )
        self.cumulative_density_ = pd.DataFrame({self.label: 1.0 - self.survival_function_[self.label]}, index=idx)
        self.median_survival_time_ = median_from_curve(times, surv)
        self.median_confidence_interval_ = pd.DataFrame(
            {f"{self.label}_lower_{level}": [median_from_curve(times, lo)],
             f"{self.label}_upper_{level}": [median_from_curve(times, hi)]},
            index=pd.Index([0.5], name="percentile"),
        )

    # ------------------------------------------------------------------ use
    def _check_fitted(self):
        if not hasattr(self, "survival_function_"):
            raise RuntimeError("this PrivateKaplanMeier is not fitted yet; call fit(durations, event_observed) first")

    def predict(self, times):
        """Step-function value of the released curve at ``times`` (float for a scalar, Series otherwise).

        Times after the last grid point get the last released value (as lifelines does).
        """
        self._check_fitted()
        arr = np.asarray(times, dtype=float)
        if np.any(~np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError("times must be finite and non-negative")
        idx = self.survival_function_.index.to_numpy()
        vals = self.survival_function_.iloc[:, 0].to_numpy()
        out = vals[np.searchsorted(idx, arr, side="right") - 1]
        if arr.ndim == 0:
            return float(out)
        return pd.Series(out, index=arr, name=self.label)

    def survival_function_at_times(self, times):
        """The released curve at ``times`` as a Series (lifelines' name for :meth:`predict` on arrays)."""
        out = self.predict(np.atleast_1d(np.asarray(times, dtype=float)))
        return out

    def percentile(self, p):
        """First grid time at which the released curve is at or below ``p`` (``inf`` if never), like lifelines."""
        self._check_fitted()
        if not (0 <= float(p) <= 1):
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        s = self.survival_function_.iloc[:, 0].to_numpy()
        hit = np.nonzero(s <= float(p))[0]
        return float(self.survival_function_.index[hit[0]]) if hit.size else float("inf")

    def plot_survival_function(self, ax=None, ci_show=True, at_risk_counts=False, **kwargs):
        """Step plot of the released curve with its noise-aware band; returns the axes.

        ``at_risk_counts=True`` writes the noisy number at risk (rounded) under the x ticks
        (histogram and tree only: the paper's mechanism releases no counts).
        """
        import matplotlib.pyplot as plt

        self._check_fitted()
        if ax is None:
            ax = plt.gca()
        x = self.survival_function_.index.to_numpy()
        kwargs.setdefault("label", f"{self.label} ({self.mechanism}, eps={self.epsilon})")
        (line,) = ax.step(x, self.survival_function_.iloc[:, 0], where="post", **kwargs)
        if ci_show:
            ci = self.confidence_interval_
            ax.fill_between(x, ci.iloc[:, 0], ci.iloc[:, 1], step="post", alpha=0.25, color=line.get_color())
        ax.set_xlabel("time")
        ax.set_ylabel("survival probability")
        ax.set_ylim(-0.02, 1.02)
        if at_risk_counts:
            if self.mechanism == "paper":
                raise ValueError("at_risk_counts is not available for mechanism='paper' (it releases no counts)")
            self._add_at_risk(ax)
        return ax

    def _add_at_risk(self, ax):
        grid = self.timeline_
        at_risk = self.event_table["at_risk"].to_numpy()
        ticks = [x for x in ax.get_xticks() if 0 <= x <= grid[-1]]
        ax.set_xticks(ticks)
        for x in ticks:
            i = int(np.searchsorted(grid, x, side="left"))  # at risk entering the bin that contains x
            val = at_risk[min(i, grid.size - 1)] if x > 0 else at_risk[0]
            ax.annotate(f"{val:.0f}", xy=(x, 0), xycoords=("data", "axes fraction"), xytext=(0, -32),
                        textcoords="offset points", ha="center", va="top", fontsize=8)
        ax.annotate("at risk (noisy)", xy=(0, 0), xycoords="axes fraction", xytext=(-8, -32),
                    textcoords="offset points", ha="right", va="top", fontsize=8)


def _normal_quantile(q):
    from scipy.stats import norm

    return float(norm.ppf(q))
