r"""Fixed-seed statistical checks with tolerances from the estimator's standard error.

- :func:`check_evidence_unbiased`: :math:`\hat Z` (not :math:`\log \hat Z`, which
  is biased low by Jensen) is unbiased for :math:`Z`.  From ``R`` independent
  runs, the ratios :math:`r_j = \hat Z_j / Z` have mean 1; the z-score
  :math:`(\bar r - 1) / (s_r / \sqrt R)` is compared with ``z_crit``.
- :func:`check_filtering_means`: particle filtering means against exact ones
  (Kalman), one z-test per time step, Bonferroni-corrected over the steps.
- :func:`pf_replicates`: ``R`` independent runs of a particle filter in one
  jit+vmap call (for the two checks above).

Each check returns a :class:`StatCheck` (statistic, standard error, z, bound,
``passed``); nothing raises, so a test can also assert that a deliberately
broken estimator is *rejected*.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from probinf.filtering import ParticleFilterResult, particle_filter_core
from probinf.ssm import Proposal, StateSpaceModel

__all__ = ["StatCheck", "check_evidence_unbiased", "check_filtering_means", "pf_replicates"]


class StatCheck(NamedTuple):
    """Outcome of a statistical check: ``estimate`` vs ``reference`` with ``standard_error``;
    ``z`` (worst case over components) against the bound ``z_crit``; ``passed``."""

    name: str
    estimate: NDArray[np.float64]
    reference: NDArray[np.float64]
    standard_error: NDArray[np.float64]
    z: float
    z_crit: float
    passed: bool


def check_evidence_unbiased(log_evidence_estimates: ArrayLike, exact_log_evidence: float, *,
                            alpha: float = 1e-4) -> StatCheck:
    r"""Test :math:`E[\hat Z / Z] = 1` from independent log-evidence estimates.

    Parameters
    ----------
    log_evidence_estimates : (R,) array of :math:`\log \hat Z_j`.
    exact_log_evidence : float, :math:`\log Z` (e.g. from :func:`probinf.kalman_filter`).
    alpha : float
        Two-sided level; ``z_crit = Phi^{-1}(1 - alpha / 2)``.  The normal
        approximation needs a finite variance of :math:`\hat Z / Z`; keep ``N``
        large enough that the relative variance is O(1) (it grows like
        :math:`e^{c T / N}`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> log_z_hat = np.log(rng.gamma(50.0, 1 / 50.0, size=500))   # E = 1, log E = 0
    >>> check_evidence_unbiased(log_z_hat, 0.0).passed
    True
    """
    lz = np.asarray(log_evidence_estimates, np.float64)
    r = np.exp(lz - float(exact_log_evidence))
    mean = r.mean()
    se = r.std(ddof=1) / np.sqrt(r.size)
    z = (mean - 1.0) / se if se > 0 else (0.0 if mean == 1.0 else np.inf)
    z_crit = float(stats.norm.ppf(1 - alpha / 2))
    return StatCheck("evidence ratio Z_hat / Z", np.array(mean), np.array(1.0), np.array(se),
                     float(z), z_crit, bool(abs(z) < z_crit))


def check_filtering_means(replicate_means: ArrayLike, exact_means: ArrayLike, *, alpha: float = 1e-3) -> StatCheck:
    r"""Test that the average of ``R`` runs' filtering means matches the exact means.

    Parameters
    ----------
    replicate_means : (R, T, ...) array from independent runs.
    exact_means : (T, ...) array (e.g. ``kalman_filter(...).filtered_means``).
    alpha : float
        Family-wise level; each of the ``K`` components is tested at
        ``alpha / K`` (Bonferroni).  The standard error is the spread over runs
        divided by :math:`\sqrt R`; the O(1/N) bias of self-normalized
        estimates must be below it (use N >= a few hundred).
    """
    m = np.asarray(replicate_means, np.float64)
    ref = np.asarray(exact_means, np.float64).reshape(m.shape[1:])
    r = m.shape[0]
    est = m.mean(0)
    se = m.std(0, ddof=1) / np.sqrt(r)
    z = np.abs(est - ref) / np.maximum(se, 1e-300)
    k = z.size
    z_crit = float(stats.norm.ppf(1 - alpha / (2 * k)))
    return StatCheck("filtering means", est, ref, se, float(z.max()), z_crit, bool(z.max() < z_crit))


@partial(jax.jit, static_argnames=("model", "num_particles", "num_replicates", "resampling",
                                   "ess_threshold", "proposal"))
def _replicates(key: jax.Array, model: StateSpaceModel, observations: Any, num_particles: int, num_replicates: int,
                theta: jax.Array | None, resampling: str, ess_threshold: float,
                proposal: Proposal | None) -> tuple[jax.Array, Any, jax.Array]:
    keys = jax.random.split(key, num_replicates)

    def run(k: jax.Array) -> ParticleFilterResult:
        return particle_filter_core(k, model, observations, num_particles, theta, resampling=resampling,
                                    ess_threshold=ess_threshold, proposal=proposal)

    res = jax.vmap(run)(keys)
    return res.log_evidence, res.filtering_means, res.valid


def pf_replicates(key: jax.Array, model: StateSpaceModel, observations: Any, num_particles: int, num_replicates: int,
                  *, theta: jax.Array | None = None, resampling: str = "systematic", ess_threshold: float = 0.5,
                  proposal: Proposal | None = None) -> tuple[NDArray[np.float64], Any, NDArray[np.bool_]]:
    """``num_replicates`` independent particle-filter runs: ``(log_evidence (R,), filtering_means (R, T, ...),
    valid (R,))``."""
    lz, means, valid = _replicates(key, model, observations, int(num_particles), int(num_replicates), theta,
                                   resampling, float(ess_threshold), proposal)
    return np.asarray(lz), jax.tree_util.tree_map(np.asarray, means), np.asarray(valid)
