r"""Particle MCMC: particle marginal Metropolis-Hastings (particle Gibbs is re-exported).

- :func:`pmmh` (Andrieu, Doucet & Holenstein 2010, doi:10.1111/j.1467-9868.2009.00736.x):
  random-walk MH on :math:`\theta` where the intractable likelihood is replaced by
  the particle filter's unbiased estimate :math:`\hat p_\theta(y)`; the chain
  targets the exact posterior :math:`p(\theta \mid y)` for any number of
  particles.  Optional adaptive random walk (Haario, Saksman & Tamminen 2001):
  during warm-up the proposal covariance is :math:`(2.38^2/d)\,\hat\Sigma`, pooled
  over chains; it is frozen afterwards so the kept draws come from a fixed,
  valid kernel.  All chains advance together (``vmap``) inside one ``lax.scan``.
- particle Gibbs and conditional SMC live in :mod:`probinf.gibbs`
  (re-exported here).

Parameters ``theta`` are flat 1-D arrays ``(d,)``; ``log_prior(theta)`` returns
``-inf`` outside the support (such proposals are rejected without trusting the
filter).  Results convert with ``.to_arviz()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike
from numpy.typing import NDArray

from probinf._checks import as_key, check_nonnegative_int, check_positive_int
from probinf._pmcmc_common import _check_step_size, _names, _theta_init
from probinf.exceptions import ProbinfWarning
from probinf.filtering import ParticleFilterResult, check_filter_args, particle_filter_core
from probinf.ssm import Proposal, StateSpaceModel, as_observations, check_model, probe_model

if TYPE_CHECKING:
    from arviz import InferenceData

__all__ = ["PMMHResult", "PGResult", "pmmh", "particle_gibbs", "csmc_kernel", "complete_data_log_density"]

#: ``theta (d,) -> scalar`` log prior density.
LogPrior = Callable[[jax.Array], jax.Array]


class PMMHResult(NamedTuple):
    """PMMH output.  ``samples`` (C, S, d); ``log_likelihood`` (C, S): the filter's
    estimate carried by the chain; ``log_prior`` (C, S); ``accepted`` (C, S);
    ``proposal_cov`` (d, d) used after warm-up; ``param_names``."""

    samples: NDArray[Any]
    log_likelihood: NDArray[Any]
    log_prior: NDArray[Any]
    accepted: NDArray[np.bool_]
    proposal_cov: NDArray[Any]
    param_names: tuple[str, ...]

    @property
    def acceptance_rate(self) -> NDArray[np.floating[Any]]:
        """Per-chain acceptance rate, (C,)."""
        rate: NDArray[np.floating[Any]] = self.accepted.mean(axis=1)
        return rate

    def get_samples(self, group_by_chain: bool = False) -> dict[str, NDArray[Any]]:
        """Parameter draws by name, as NumPyro's ``MCMC.get_samples``: ``(C*S,)`` each, or ``(C, S)``."""
        out = {n: np.asarray(self.samples[..., i]) for i, n in enumerate(self.param_names)}
        return out if group_by_chain else {n: v.reshape(-1) for n, v in out.items()}

    def print_summary(self, prob: float = 0.9) -> None:
        """NumPyro's summary table (mean, sd, credible interval, n_eff, r_hat) of the parameters."""
        from probinf.results import print_samples_summary

        c, s = self.accepted.shape
        rate = ", ".join(f"{r:.2f}" for r in np.atleast_1d(self.acceptance_rate))
        print_samples_summary(self.get_samples(group_by_chain=True), prob=prob,
                              header=f"PMMH: {c} chain(s) x {s} draws; acceptance rate {rate}")

    def to_arviz(self) -> InferenceData:
        """ArviZ InferenceData: posterior (one variable per parameter), sample_stats with
        ``accepted``, ``acceptance_rate``, ``log_likelihood_estimate`` / ``log_evidence`` (the
        particle filter's log-evidence at the current theta) and ``lp``."""
        import arviz as az

        post = {n: self.samples[..., i] for i, n in enumerate(self.param_names)}
        stats = {
            "accepted": self.accepted,
            "acceptance_rate": np.broadcast_to(self.acceptance_rate[:, None], self.accepted.shape),
            "log_likelihood_estimate": self.log_likelihood,
            "log_evidence": self.log_likelihood,  # the particle filter's log Z_hat(theta)
            "lp": self.log_prior + self.log_likelihood,
        }
        idata: InferenceData = az.from_dict(posterior=post, sample_stats=stats)
        return idata


def _initial_chol(step_size: ArrayLike, d: int, dtype: DTypeLike) -> jax.Array:
    s = jnp.broadcast_to(jnp.asarray(step_size, dtype), (d,))
    return jnp.diag(s)


@partial(jax.jit, static_argnames=("model", "log_prior", "num_particles", "num_iters", "num_warmup", "adapt",
                                   "resampling", "ess_threshold", "proposal"))
def _pmmh_run(key: jax.Array, model: StateSpaceModel, observations: Any, log_prior: LogPrior, theta0: jax.Array,
              chol0: jax.Array, num_particles: int, num_iters: int, num_warmup: int, adapt: bool, resampling: str,
              ess_threshold: float, proposal: Proposal | None) -> tuple[jax.Array, ...]:
    c, d = theta0.shape

    def pf(k: jax.Array, th: jax.Array) -> ParticleFilterResult:
        return particle_filter_core(k, model, observations, num_particles, th, resampling=resampling,
                                    ess_threshold=ess_threshold, proposal=proposal)

    def loglik(keys: jax.Array, th: jax.Array) -> jax.Array:
        res = jax.vmap(pf)(keys, th)
        ok = res.valid & jnp.isfinite(res.log_evidence)
        return jnp.where(ok, res.log_evidence, -jnp.inf)

    k0, kscan = jax.random.split(key)
    lp0 = jax.vmap(log_prior)(theta0)
    ll0 = loglik(jax.random.split(k0, c), theta0)
    dtype = theta0.dtype
    scale = 2.38**2 / d

    def step(carry: tuple[jax.Array, ...], inp: tuple[jax.Array, jax.Array]
             ) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]:
        theta, lp, ll, chol, mean, m2, count = carry
        i, k = inp
        kp, kf, ku = jax.random.split(k, 3)
        prop = theta + jax.random.normal(kp, theta.shape, dtype) @ chol.T
        lp_new = jax.vmap(log_prior)(prop)
        ll_new = loglik(jax.random.split(kf, c), prop)
        ll_new = jnp.where(jnp.isfinite(lp_new), ll_new, -jnp.inf)
        log_alpha = lp_new + ll_new - lp - ll
        log_alpha = jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)
        acc = jnp.log(jax.random.uniform(ku, (c,), dtype)) < log_alpha
        theta = jnp.where(acc[:, None], prop, theta)
        lp = jnp.where(acc, lp_new, lp)
        ll = jnp.where(acc, ll_new, ll)
        if adapt:
            # Welford update of the pooled mean / covariance during warm-up only.
            in_warmup = i < num_warmup
            new_count = count + c
            delta = theta - mean
            new_mean = mean + delta.sum(0) / new_count
            new_m2 = m2 + delta.T @ (theta - new_mean)
            cov = new_m2 / jnp.maximum(new_count - 1, 1) + 1e-8 * jnp.eye(d, dtype=dtype)
            new_chol = jnp.linalg.cholesky(scale * cov)
            use = in_warmup & (new_count > 10 * d) & jnp.all(jnp.isfinite(new_chol))
            chol = jnp.where(use, new_chol, chol)
            mean = jnp.where(in_warmup, new_mean, mean)
            m2 = jnp.where(in_warmup, new_m2, m2)
            count = jnp.where(in_warmup, new_count, count)
        return (theta, lp, ll, chol, mean, m2, count), (theta, lp, ll, acc)

    init: tuple[jax.Array, ...] = (theta0, lp0, ll0, chol0, jnp.zeros((d,), dtype), jnp.zeros((d, d), dtype),
                                   jnp.zeros((), dtype))
    keys = jax.random.split(kscan, num_iters)
    (_, _, _, chol, _, _, _), (th, lp, ll, acc) = jax.lax.scan(step, init, (jnp.arange(num_iters), keys))
    return th, lp, ll, acc, chol, lp0, ll0


def pmmh(key: ArrayLike, model: StateSpaceModel, observations: Any, log_prior: LogPrior, initial_theta: ArrayLike,
         num_samples: int, *, num_particles: int = 100, num_chains: int = 4, num_warmup: int | None = None,
         step_size: ArrayLike = 0.1, adapt: bool = True, resampling: str = "systematic", ess_threshold: float = 0.5,
         proposal: Proposal | str | None = None, param_names: Iterable[str] | None = None) -> PMMHResult:
    r"""Particle marginal Metropolis-Hastings for a parameterized state-space model.

    Parameters
    ----------
    key : PRNG key
    model : StateSpaceModel
        Its functions take ``theta`` (a (d,) array) as their last argument.
    observations : array or pytree with leading axis T
    log_prior : callable
        ``theta (d,) -> scalar`` log prior density (``-inf`` outside the support).
    initial_theta : (d,) or (num_chains, d) array
        Starting points (inside the support).
    num_samples : int
        Draws kept per chain, after ``num_warmup`` iterations (default ``num_samples``).
    num_particles : int
        Particles of the likelihood filter.  The chain is exact for any N; its
        mixing degrades when Var(log Z_hat) exceeds ~1-2 (Doucet et al. 2015).
    num_chains : int
        Chains run together (vectorized).
    step_size : float or (d,) array
        Initial random-walk scale (diagonal).
    adapt : bool
        Adaptive random walk during warm-up (frozen after).
    resampling, ess_threshold, proposal
        Passed to the particle filter.
    param_names : sequence of str, optional
        Names for ``to_arviz``.

    Returns
    -------
    PMMHResult

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jax.scipy.stats import norm
    >>> from probinf import StateSpaceModel
    >>> m = StateSpaceModel(
    ...     initial_sampler=lambda k, n, th: jax.random.normal(k, (n,)),
    ...     transition_sampler=lambda k, x, t, th: th[0] * x + jax.random.normal(k, x.shape),
    ...     observation_log_density=lambda y, x, t, th: norm.logpdf(y, x, 0.5))
    >>> y = jnp.zeros(10)
    >>> lp = lambda th: jnp.where(jnp.abs(th[0]) < 1, 0.0, -jnp.inf)
    >>> r = pmmh(jax.random.PRNGKey(0), m, y, lp, jnp.array([0.5]), 20, num_particles=32, num_chains=2)
    >>> r.samples.shape
    (2, 20, 1)
    """
    key = as_key(key)
    check_model(model)
    observations = as_observations(observations)
    proposal, n, _, thr = check_filter_args(model, observations, num_particles, resampling, ess_threshold, proposal)
    if not callable(log_prior):
        raise TypeError(f"log_prior must be a callable theta -> log density, got {type(log_prior).__name__}")
    num_samples = check_positive_int(num_samples, "num_samples")
    num_chains = check_positive_int(num_chains, "num_chains")
    num_warmup = num_samples if num_warmup is None else check_nonnegative_int(num_warmup, "num_warmup")
    if n == 1:
        warnings.warn("pmmh with num_particles=1: the likelihood estimate has huge variance and the chain will "
                      "barely move; use enough particles for Var(log Z_hat) ~ 1", ProbinfWarning, stacklevel=2)
    theta0 = _theta_init(initial_theta, num_chains)
    _check_step_size(step_size, theta0.shape[1])
    probe_model(model, jax.tree_util.tree_map(jnp.asarray, observations), theta0[0], check_indices=True)
    d = theta0.shape[1]
    names = _names(param_names, d)
    lp0 = np.asarray(jax.vmap(log_prior)(theta0))
    if not np.all(np.isfinite(lp0)):
        raise ValueError("log_prior is not finite at initial_theta for chains "
                         f"{np.flatnonzero(~np.isfinite(lp0)).tolist()}")
    chol0 = _initial_chol(step_size, d, theta0.dtype)
    observations = jax.tree_util.tree_map(jnp.asarray, observations)
    th, lp, ll, acc, chol, _, ll0 = _pmmh_run(key, model, observations, log_prior, theta0, chol0, n,
                                               num_warmup + num_samples, num_warmup, bool(adapt), resampling, thr,
                                               proposal)
    if not np.all(np.isfinite(np.asarray(ll0))):
        raise ValueError("the particle filter's log-likelihood is not finite at initial_theta "
                         f"(chains {np.flatnonzero(~np.isfinite(np.asarray(ll0))).tolist()}); "
                         "start inside the support or use more particles")
    sl = slice(num_warmup, None)

    def sw(a: jax.Array) -> NDArray[Any]:
        return np.swapaxes(np.asarray(a)[sl], 0, 1)

    return PMMHResult(sw(th), sw(ll), sw(lp), sw(acc), np.asarray(chol @ chol.T), names)


# Particle Gibbs lives in its own module; re-exported so that ``probinf.pmcmc`` keeps its names.
from probinf.gibbs import PGResult, complete_data_log_density, csmc_kernel, particle_gibbs  # noqa: E402
