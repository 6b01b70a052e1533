r"""``PrivateKaplanMeier``: a lifelines-like Kaplan-Meier fitter with a differentially private release.

Over 400 lines on purpose: one estimator class, of which about 120 lines are its numpydoc docstring (the
mechanisms, the guarantee, the low-event regime); its plots and report are already in
:mod:`privacy.survival.report`, its mechanisms and intervals in their own modules.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from privacy._numbers import real_number
from probinf.randomness import check_random_state

from ..exceptions import LowEventError, LowEventWarning, NoPrivacyGuaranteeWarning
from .data import cell_counts, check_entry, expand_weights, make_grid, validate_survival_data
from .intervals import LOW_EVENT_RATIO, bootstrap_curves, median_from_curve, percentile_band, phantom_death_ratio
from .mechanisms import (
    ADJACENCIES,
    CONVENTIONS,
    _tree_pinv,
    cell_sensitivity,
    product_limit,
    release_histogram,
    release_tree,
    tree_levels,
    tree_sensitivity,
)
from .paper import PAPER_WARNING, km_event_times, release_paper
from .report import KaplanMeierReportMixin

__all__ = ["PrivateKaplanMeier", "MECHANISMS"]

MECHANISMS = ("histogram", "tree", "paper")


class PrivateKaplanMeier(KaplanMeierReportMixin, BaseEstimator):
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
    label : str
        Column name of the curve (overridden by ``fit(..., label=...)``, as in lifelines).
    on_low_events : {"warn", "raise", "ignore"}
        What to do when the release has too few deaths for its noise (see *Low-event regime*).

    Low-event regime
    ----------------
    Clipping negative noisy death counts at 0 creates "phantom" deaths, half a noise scale per bin
    without deaths, which bias the curve down; with few events the bootstrap band then misses the
    truth (on lifelines' lung data with 21 deaths at epsilon = 1 the 95% band covered S(1050) in no
    release).  :func:`~privacy.survival.intervals.phantom_death_ratio` compares the expected phantom
    deaths with the noisy deaths up to each grid time, from the release alone.  Where it exceeds
    ``LOW_EVENT_RATIO = 0.25`` the curve and band are not trusted: a
    :class:`~privacy.exceptions.LowEventWarning` (or, with ``on_low_events="raise"``, the same
    text as a :class:`~privacy.exceptions.LowEventError`) names the first such time,
    ``reliable_until_`` is the last grid time before it, and a median at or after it (including no
    median at all, e.g. when every record is censored) is reported as NaN instead of a number.
    Threshold from simulation (lung, grids of 35 and 105 bins, 0 to 165 deaths, epsilon 0.3 and 1,
    60 releases each, 2026-12-04): mean pointwise coverage of the 95% band 0.94 over the grid times
    with ratio at most 0.25 (a few tail times down to 0.68), 0.95 on average at 0.25 to 0.6 but with
    times at 0, 0.77 at 0.6 to 1 and 0.16 above 1.  The diagnosis is conservative: it can flag the tail
    of a release whose band still covers (e.g. epsilon = 0.1 with 200 records).  Tested at several event
    counts in
    ``tests/privacy/test_km_low_events.py``.

    Attributes
    ----------
    survival_function_ : DataFrame, shape (K+1, 1)
        :math:`\hat S` at time 0 and on the grid (index ``timeline``).
    confidence_interval_ : DataFrame, shape (K+1, 2)
        Pointwise interval covering both sampling and privacy noise (percentile bootstrap).
    cumulative_density_ : DataFrame, shape (K+1, 1)
        :math:`1 - \hat S`.
    median_survival_time_ : float
        First grid time with :math:`\hat S \le 0.5` (``inf`` if none); NaN in the low-event regime
        when the median is not before ``reliable_until_`` (see *Low-event regime*).
    low_event_ratio_ : Series, shape (K,)
        Phantom-to-noisy deaths ratio per grid time (histogram and tree).
    reliable_until_ : float
        Last grid time before the first with ``low_event_ratio_ > 0.25`` (``inf`` if none; 0 if the first).
    label_ : str
        The curve's label (``fit``'s ``label`` or the constructor's).
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
                 label="DP_KM_estimate", on_low_events="warn"):
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
        self.on_low_events = on_low_events

    # ------------------------------------------------------------------ validation
    def _validate_params(self):
        eps = real_number(self.epsilon, "epsilon")
        if np.isnan(eps) or eps <= 0:
            raise ValueError(f"epsilon must be > 0 (np.inf disables the noise), got {self.epsilon!r}")
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"mechanism must be one of {MECHANISMS}, got {self.mechanism!r}")
        if self.adjacency not in ADJACENCIES:
            raise ValueError(f"adjacency must be one of {ADJACENCIES}, got {self.adjacency!r}")
        if not (0 < real_number(self.alpha, "alpha") < 1):
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if isinstance(self.n_bootstrap, bool) or not isinstance(self.n_bootstrap, (int, np.integer)):
            raise TypeError(f"n_bootstrap must be an integer, got {self.n_bootstrap!r}")
        if self.n_bootstrap < 1:
            raise ValueError(f"n_bootstrap must be >= 1, got {self.n_bootstrap!r}")
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {self.convention!r}")
        if self.beyond not in ("censor", "error"):
            raise ValueError(f"beyond must be 'censor' or 'error', got {self.beyond!r}")
        if self.on_low_events not in ("warn", "raise", "ignore"):
            raise ValueError(f"on_low_events must be 'warn', 'raise' or 'ignore', got {self.on_low_events!r}")
        return eps

    # ------------------------------------------------------------------ fitting
    def fit(self, durations, event_observed=None, timeline=None, entry=None, label=None, alpha=None, ci_labels=None,
            weights=None):
        """Release the curve for ``durations`` (shape (n,)) and ``event_observed`` (0/1, default all 1).

        The signature is lifelines' ``KaplanMeierFitter.fit``.

        Parameters
        ----------
        durations, event_observed : array, shape (n,)
        timeline : None
            Refused: the release grid must be public and fixed before seeing the data, so it is the
            constructor's ``grid``; evaluate the curve elsewhere with :meth:`predict`.
        entry : None or array of zeros
            Left truncation is refused (see *Raises*).
        label : str, optional
            Name of the curve (columns, legend); default the constructor's ``label``.
        alpha : float, optional
            Overrides the constructor's ``alpha`` for this fit.
        ci_labels : pair of str, optional
            Column names of ``confidence_interval_``.
        weights : array of non-negative integers, shape (n,), optional
            Frequency weights: row i stands for ``weights[i]`` identical individuals (expanded before
            counting; the privacy unit stays one individual).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            ``entry`` with a positive value: under left truncation a record is at risk only from its
            entry time, so it must be counted in an entry cell and an exit cell; one individual then
            changes two cells, which doubles the L1 sensitivity (and the noise) of the release, and
            that mechanism is not implemented. Non-integer ``weights``: a case weight w lets one
            individual move the counts by w, so the sensitivity (and the noise) would scale with the
            largest weight; only integer frequency weights keep one individual = one unit.
        """
        if timeline is not None:
            raise ValueError("timeline is not supported: the release grid must be public and fixed before the "
                             "data are seen; pass it as PrivateKaplanMeier(..., grid=...) and use predict(times) "
                             "to evaluate the curve at other times")
        if label is not None and not isinstance(label, str):
            raise TypeError(f"label must be a string, got {type(label).__name__}")
        if ci_labels is not None and (isinstance(ci_labels, str) or len(ci_labels) != 2):
            raise ValueError(f"ci_labels must be a pair of column names, got {ci_labels!r}")
        eps = self._validate_params()
        if alpha is not None and not (isinstance(alpha, (int, float)) and 0 < float(alpha) < 1):
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        self.label_ = self.label if label is None else label
        self.alpha_ = float(self.alpha if alpha is None else alpha)
        self._ci_labels = None if ci_labels is None else [str(c) for c in ci_labels]
        t, e = validate_survival_data(durations, event_observed)
        check_entry(entry, t.size)
        t, e = expand_weights(weights, t, e)
        rng = check_random_state(self.random_state)
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
        lo, hi = percentile_band(s_star, self.alpha_)
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
        self._check_low_events(grid, noisy, eps, cells.size)
        return self

    def _death_noise_scale(self, eps, n_cells):
        """Laplace-equivalent scale b of the noise on one released death cell (sd / sqrt(2))."""
        if np.isinf(eps):
            return 0.0
        if self.mechanism == "histogram":
            return cell_sensitivity(self.adjacency) / eps
        node_scale = tree_sensitivity(n_cells, self.adjacency) / eps
        leaf_sd = np.sqrt(2.0) * node_scale * np.sqrt(np.sum(_tree_pinv(n_cells) ** 2, axis=1))
        return float(np.mean(leaf_sd[1:-1:2]) / np.sqrt(2.0))

    def _check_low_events(self, grid, noisy, eps, n_cells):
        ratio = phantom_death_ratio(noisy, self._death_noise_scale(eps, n_cells))
        self.low_event_ratio_ = pd.Series(ratio, index=pd.Index(grid, name="timeline"), name="phantom_death_ratio")
        bad = np.flatnonzero(~(ratio <= LOW_EVENT_RATIO))
        if bad.size == 0:
            self.reliable_until_ = float("inf")
            return
        first = float(grid[bad[0]])
        self.reliable_until_ = float(grid[bad[0] - 1]) if bad[0] > 0 else 0.0
        median = self.median_survival_time_
        median_note = ""
        if not median < first:
            self.median_survival_time_ = float("nan")
            self.median_confidence_interval_.iloc[:, :] = np.nan
            median_note = " median_survival_time_ is NaN: the median is not identified before that time."
        noisy_deaths = float(np.sum(noisy[1:-1:2]))
        msg = (f"low-event regime: from t = {first:g} on, the deaths created by clipping the privacy noise could "
               f"be more than {LOW_EVENT_RATIO:.0%} of the released deaths (ratio {ratio[bad[0]]:.3g}; about "
               f"{max(noisy_deaths, 0):.0f} noisy deaths in all at epsilon = {eps:g}), so the curve is biased down "
               f"and the {1 - self.alpha_:.0%} band under-covers there (reliable_until_ = {self.reliable_until_:g})."
               f"{median_note} Use a coarser public grid, a larger epsilon, or more data.")
        if self.on_low_events == "raise":
            raise LowEventError(msg)
        if self.on_low_events == "warn":
            warnings.warn(msg, LowEventWarning, stacklevel=3)

    def _fit_paper(self, t, e, eps, rng):
        u, curve, scale = release_paper(t, e, eps, rng)
        _, s_exact, n, d = km_event_times(t, e)
        # normal interval: Greenwood (exact data: the mechanism is not private anyway) + noise variance
        with np.errstate(divide="ignore", invalid="ignore"):
            gw = np.cumsum(np.where(n > d, d / (n * (n - d)), 0.0))
        var = s_exact**2 * gw + 2.0 * scale**2
        z = _normal_quantile(1 - self.alpha_ / 2)
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
        self.low_event_ratio_ = None
        self.reliable_until_ = float("inf")
        return self

    def _set_curves(self, times, surv, lo, hi):
        idx = pd.Index(np.concatenate([[0.0], times]), name="timeline")
        lab = self.label_
        self.survival_function_ = pd.DataFrame({lab: np.concatenate([[1.0], surv])}, index=idx)
        level = f"{1 - self.alpha_:.2f}".rstrip("0").rstrip(".")
        names = self._ci_labels or [f"{lab}_lower_{level}", f"{lab}_upper_{level}"]
        self.confidence_interval_ = pd.DataFrame(
            {names[0]: np.concatenate([[1.0], lo]), names[1]: np.concatenate([[1.0], hi])}, index=idx)
        self.cumulative_density_ = pd.DataFrame({lab: 1.0 - self.survival_function_[lab]}, index=idx)
        self.median_survival_time_ = median_from_curve(times, surv)
        self.median_confidence_interval_ = pd.DataFrame(
            {names[0]: [median_from_curve(times, lo)], names[1]: [median_from_curve(times, hi)]},
            index=pd.Index([0.5], name="percentile"),
        )

    # ------------------------------------------------------------------ use
    def _check_fitted(self):
        if not hasattr(self, "survival_function_"):
            raise NotFittedError("this PrivateKaplanMeier is not fitted yet; call fit(durations, event_observed) first")

    def predict(self, times):
        """Step-function value of the released curve at ``times`` (float for a scalar, Series otherwise).

        Times after the last grid point get the last released value (as lifelines does).
        """
        self._check_fitted()
        if times is None or isinstance(times, (str, bytes)):
            raise TypeError(f"times must be a number or an array of times, got {type(times).__name__}")
        arr = np.asarray(times, dtype=float)
        if np.any(~np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError("times must be finite and non-negative")
        idx = self.survival_function_.index.to_numpy()
        vals = self.survival_function_.iloc[:, 0].to_numpy()
        out = vals[np.searchsorted(idx, arr, side="right") - 1]
        if arr.ndim == 0:
            return float(out)
        return pd.Series(out, index=arr, name=self.label_)

    def survival_function_at_times(self, times):
        """The released curve at ``times`` as a Series (lifelines' name for :meth:`predict` on arrays)."""
        out = self.predict(np.atleast_1d(np.asarray(times, dtype=float)))
        return out

    def percentile(self, p):
        """First grid time at which the released curve is at or below ``p`` (``inf`` if never), like lifelines."""
        self._check_fitted()
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)) \
                or not (0 <= float(p) <= 1):
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        s = self.survival_function_.iloc[:, 0].to_numpy()
        hit = np.nonzero(s <= float(p))[0]
        return float(self.survival_function_.index[hit[0]]) if hit.size else float("inf")

def _normal_quantile(q):
    from scipy.stats import norm

    return float(norm.ppf(q))

