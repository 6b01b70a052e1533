r"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

For :math:`s = 1..S`: draw :math:`\theta_s \sim p(\theta)`, data
:math:`y_s \sim p(y \mid \theta_s)`, and :math:`L` posterior draws
:math:`\theta_s^{(1..L)}` from the sampler under test given :math:`y_s`.  If the
sampler is exact, the rank :math:`r_s = \#\{l : \theta^{(l)}_s < \theta_s\}` of
each scalar component is uniform on :math:`\{0, \dots, L\}` (ties broken at
random).  :func:`sbc` bins the ranks and applies a chi-square uniformity test to
each component, with a Bonferroni correction over components.

Posterior draws should be (nearly) independent; thin correlated MCMC output to
about its effective sample size first, or the test rejects correct samplers
(Talts et al., Sec. 5).

Reference: Talts et al. (2018), Validating Bayesian inference algorithms with
simulation-based calibration, arXiv:1804.06788.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from probinf.progress import progress

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["SBCResult", "sbc", "sbc_ranks", "rank_uniformity_test"]

#: a pytree of arrays (parameters, data, draws): jax has no static type for it
PyTree = Any
#: ``key -> theta``
PriorSampler = Callable[[jax.Array], PyTree]
#: ``(key, theta) -> data``
Simulator = Callable[[jax.Array, PyTree], PyTree]
#: ``(key, data) -> draws`` with leading axis L
PosteriorSampler = Callable[[jax.Array, PyTree], PyTree]


@dataclass
class SBCResult:
    """Ranks ``(S, d)`` in ``{0..L}``, per-component chi-square p-values, the Bonferroni p-value and the decision."""

    ranks: NDArray[np.int_]
    num_draws: int
    num_bins: int
    pvalues: NDArray[np.float64]
    pvalue: float
    alpha: float

    @property
    def rejected(self) -> bool:
        """True when uniformity is rejected at level ``alpha`` (Bonferroni over components)."""
        return bool(self.pvalue < self.alpha)

    def plot(self, ax: Axes | None = None, component: int = 0) -> Axes:
        """Rank histogram of one component with the 99% band of a uniform histogram (Talts et al. Fig. 1)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        s = self.ranks.shape[0]
        counts = np.bincount(_bin(self.ranks[:, component], self.num_draws, self.num_bins), minlength=self.num_bins)
        lo, hi = stats.binom.ppf([0.005, 0.995], s, 1.0 / self.num_bins)
        ax.bar(np.arange(self.num_bins), counts, width=1.0, color="C0", alpha=0.7)
        ax.axhspan(lo, hi, color="grey", alpha=0.3, label="99% band under uniformity")
        ax.set_xlabel("rank bin")
        ax.set_ylabel("count")
        ax.set_title(f"SBC ranks, component {component} (p = {self.pvalues[component]:.3g})")
        ax.legend()
        return ax


def _bin(ranks: NDArray[Any], num_draws: int, num_bins: int) -> NDArray[np.int_]:
    # ranks take L + 1 values; map them to num_bins equal groups
    binned: NDArray[np.int_] = np.minimum((ranks * num_bins) // (num_draws + 1), num_bins - 1).astype(int)
    return binned


def rank_uniformity_test(ranks: ArrayLike, num_draws: int, num_bins: int | None = None
                         ) -> tuple[NDArray[np.float64], int]:
    """Chi-square p-values (one per column of ``ranks``) for uniformity on ``{0..num_draws}``.

    ``num_bins`` must divide ``num_draws + 1`` (so each bin has equal probability);
    by default the largest divisor giving at least 5 expected counts per bin, at most 20.
    """
    ranks = np.asarray(ranks)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    s = ranks.shape[0]
    if num_bins is None:
        cands = [b for b in range(2, 21) if (num_draws + 1) % b == 0 and s / b >= 5]
        num_bins = max(cands) if cands else 2
    if (num_draws + 1) % num_bins:
        raise ValueError(f"num_bins={num_bins} must divide num_draws + 1 = {num_draws + 1} for equal-probability bins")
    pv: list[float] = []
    for j in range(ranks.shape[1]):
        counts = np.bincount(_bin(ranks[:, j], num_draws, num_bins), minlength=num_bins)
        pv.append(stats.chisquare(counts).pvalue)
    return np.asarray(pv), num_bins


def sbc_ranks(key: jax.Array, prior_sampler: PriorSampler, simulator: Simulator, posterior_sampler: PosteriorSampler,
              *, num_simulations: int, vectorize: bool = True,
              chunk_size: int | None = None) -> tuple[NDArray[np.int_], int]:
    """Rank statistics ``(S, d)`` and ``L``; see :func:`sbc` for the arguments."""
    def one(k: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        k1, k2, k3, k4 = jax.random.split(k, 4)
        theta = prior_sampler(k1)
        data = simulator(k2, theta)
        draws = posterior_sampler(k3, data)
        t, _ = ravel_pytree(theta)
        d = jax.vmap(lambda x: ravel_pytree(x)[0])(draws)
        return t, d, jax.random.uniform(k4, d.shape)

    keys = jax.random.split(key, num_simulations)
    if vectorize:
        f = jax.jit(jax.vmap(one))
        chunk = chunk_size or num_simulations
        outs = [f(keys[i:i + chunk]) for i in progress(range(0, num_simulations, chunk), desc="SBC")]
        theta, draws, u = (np.concatenate([np.asarray(o[j]) for o in outs]) for j in range(3))
    else:
        res = [one(k) for k in progress(keys, desc="SBC", total=num_simulations)]
        theta, draws, u = (np.stack([np.asarray(r[j]) for r in res]) for j in range(3))
    if draws.ndim != 3:
        raise ValueError(f"posterior_sampler must return draws with a leading axis L; got shape {draws.shape[1:]}")
    less = (draws < theta[:, None, :]).sum(axis=1)
    # random tie-breaking: theta is placed uniformly among the draws equal to it
    ties = (draws == theta[:, None, :]).sum(axis=1)
    tie_rank = np.floor(u[:, 0, :] * (ties + 1)).astype(int)
    return less + tie_rank, draws.shape[1]


def sbc(key: jax.Array, prior_sampler: PriorSampler, simulator: Simulator, posterior_sampler: PosteriorSampler, *,
        num_simulations: int = 200, num_bins: int | None = None, alpha: float = 0.01,
        vectorize: bool = True, chunk_size: int | None = None) -> SBCResult:
    r"""Simulation-based calibration of a posterior sampler.

    Parameters
    ----------
    key : PRNG key
    prior_sampler : callable ``key -> theta``
        One prior draw (a pytree of floats).
    simulator : callable ``(key, theta) -> data``
    posterior_sampler : callable ``(key, data) -> draws``
        ``L`` (nearly independent) posterior draws, leaves with leading axis ``L``.
    num_simulations : int
        S.
    num_bins : int, optional
        Histogram bins (must divide L + 1).
    alpha : float
        Level of the Bonferroni-corrected test.
    vectorize : bool
        ``jit(vmap(...))`` over simulations (all three callables must be
        traceable); else a Python loop (any sampler, e.g. :func:`probinf.smc`).

    Returns
    -------
    SBCResult
        With ``.rejected`` and ``.plot()``.

    Example
    -------
    >>> import jax, jax.numpy as jnp
    >>> prior = lambda k: jax.random.normal(k)
    >>> sim = lambda k, t: t + jax.random.normal(k, (4,))
    >>> post = lambda k, y: jnp.sum(y) / 5 + jax.random.normal(k, (19,)) / jnp.sqrt(5.0)  # exact
    >>> res = sbc(jax.random.key(0), prior, sim, post, num_simulations=200)
    >>> res.rejected
    False
    """
    ranks, num_draws = sbc_ranks(key, prior_sampler, simulator, posterior_sampler, num_simulations=num_simulations,
                                 vectorize=vectorize, chunk_size=chunk_size)
    pv, nb = rank_uniformity_test(ranks, num_draws, num_bins)
    p = float(min(1.0, pv.min() * len(pv)))
    return SBCResult(ranks=ranks, num_draws=num_draws, num_bins=nb, pvalues=pv, pvalue=p, alpha=alpha)
