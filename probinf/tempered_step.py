r"""One step of tempered SMC: reweight -> resample -> move (standard or waste-free).

The state types (:class:`TemperedParticles`, :class:`TemperedState`, :class:`TemperedInfo`),
:func:`init` and :func:`step` of :mod:`probinf.tempered`, which loops them (adaptive or fixed
schedule) in :func:`~probinf.tempered.build_sampler`.  :func:`step` composes the
:mod:`probinf.population` blocks: :func:`~probinf.reweight` by the incremental weight
:math:`L(x)^{\lambda_t - \lambda_{t-1}}` (evidence bookkeeping happens there and only there),
:func:`~probinf.maybe_resample` (or waste-free resampling of ``M = N / P`` particles, Dau & Chopin
2022, doi:10.1111/rssb.12475), and :func:`~probinf.move` by ``num_mcmc_steps`` transitions of an
:class:`~probinf.mcmc.SMCKernel` calibrated (``kernel.tune``) on the weighted population.

Calling convention: pure ``(key, state, ...) -> (state, info)`` on flat particles ``(N, d)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from probinf.mcmc import MCMCInfo, MCMCState, SMCKernel, init_state
from probinf.population import Population, init_population, maybe_resample, move, reweight, take_particles
from probinf.resampling import RESAMPLING_METHODS
from probinf.tempering import _tempered_increment, tempered_logdensity

__all__ = ["TemperedParticles", "TemperedState", "TemperedInfo", "init", "step"]

#: ``x (d,) -> scalar`` log density on the flat particle vector.
LogDensity = Callable[[jax.Array], jax.Array]


class TemperedParticles(NamedTuple):
    """Per-particle cache (leading axis N): ``position`` (N, d), ``log_prior`` (N,), ``log_likelihood`` (N,)."""

    position: jax.Array
    log_prior: jax.Array
    log_likelihood: jax.Array


class TemperedState(NamedTuple):
    """``population`` (particles are :class:`TemperedParticles`), current ``exponent``, kernel ``params``, last
    ``acceptance_rate``."""

    population: Population
    exponent: jax.Array
    params: Any
    acceptance_rate: jax.Array


class TemperedInfo(NamedTuple):
    """Diagnostics of one step."""

    ess: jax.Array  # ESS after reweighting (before resampling)
    log_evidence_increment: jax.Array
    acceptance_rate: jax.Array  # mean over particles and MCMC steps
    resampled: jax.Array
    ancestors: jax.Array
    valid: jax.Array  # weights usable after reweighting
    mcmc_info: MCMCInfo  # per-particle kernel infos, stacked (N, num_mcmc_steps, ...)


def init(positions: jax.Array, log_prior: LogDensity, log_likelihood: LogDensity, kernel: SMCKernel) -> TemperedState:
    """Initial state from prior draws ``positions`` (N, d): uniform weights, exponent 0, log Z = 0."""
    lp = jax.vmap(log_prior)(positions)
    ll = jax.vmap(log_likelihood)(positions)
    pop = init_population(TemperedParticles(positions, lp, ll))
    params = kernel.init_params(positions.shape[1], positions.dtype)
    acc0 = jnp.asarray(getattr(kernel, "target_accept", 0.5), positions.dtype)
    return TemperedState(pop, jnp.zeros((), positions.dtype), params, acc0)


def _mcmc_chain(key: jax.Array, particle: TemperedParticles, log_prior: LogDensity, log_likelihood: LogDensity,
                kernel: SMCKernel, params: Any, exponent: jax.Array, num_steps: int,
                keep_all: bool) -> tuple[TemperedParticles, MCMCInfo]:
    """Run ``num_steps`` transitions from one particle; return last (or all P = num_steps + 1) states."""
    target = tempered_logdensity(log_prior, log_likelihood, exponent)
    if kernel.needs_grad:
        state = init_state(particle.position, target, needs_grad=True, has_aux=True)
    else:  # cached densities: no re-evaluation when the exponent changes
        lp0 = particle.log_prior + _tempered_increment(particle.log_likelihood, exponent)
        state = MCMCState(particle.position, lp0, None, (particle.log_prior, particle.log_likelihood))

    def one(s: MCMCState, k: jax.Array) -> tuple[MCMCState, tuple[TemperedParticles | None, MCMCInfo]]:
        s, info = kernel.step(k, s, target, params, has_aux=True)
        # only waste-free keeps the trajectory; otherwise do not materialize (steps, N, d) arrays
        return s, ((TemperedParticles(s.position, *s.aux) if keep_all else None), info)

    last, (traj, infos) = jax.lax.scan(one, state, jax.random.split(key, num_steps))
    if keep_all:
        first = jax.tree_util.tree_map(lambda x: x[None], particle)
        traj = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), first, traj)
        return traj, infos
    return TemperedParticles(last.position, *last.aux), infos


def step(key: jax.Array, state: TemperedState, next_exponent: jax.Array, *, log_prior: LogDensity,
         log_likelihood: LogDensity, kernel: SMCKernel, num_mcmc_steps: int = 10, resampling: str = "systematic",
         resample_threshold: float = 1.0, waste_free: bool = False,
         tune_on: str = "previous") -> tuple[TemperedState, TemperedInfo]:
    """One reweight -> resample -> move step to ``next_exponent``.  Returns ``(TemperedState, TemperedInfo)``."""
    k_res, k_move = jax.random.split(key)
    pop = state.population
    n = pop.num_particles
    delta = next_exponent - state.exponent
    old_lz = pop.log_evidence
    pop, rw_info = reweight(pop, _tempered_increment(pop.particles.log_likelihood, delta))
    valid = rw_info.valid
    ess = rw_info.ess
    if tune_on == "previous":  # calibrate on the population before this step's reweighting
        params = kernel.tune(state.params, state.population.particles.position, state.population.log_weights,
                             state.acceptance_rate)
    else:
        params = kernel.tune(state.params, pop.particles.position, pop.log_weights, state.acceptance_rate)

    if waste_free:
        p = num_mcmc_steps + 1
        m = n // p
        anc = RESAMPLING_METHODS[resampling](k_res, pop.log_weights, m)
        starts = take_particles(pop.particles, anc)
        chain = partial(_mcmc_chain, log_prior=log_prior, log_likelihood=log_likelihood, kernel=kernel,
                        params=params, exponent=next_exponent, num_steps=num_mcmc_steps, keep_all=True)
        traj, minfo = jax.vmap(chain)(jax.random.split(k_move, m), starts)
        particles = jax.tree_util.tree_map(lambda x: x.reshape((n,) + x.shape[2:]), traj)
        uniform = jnp.full((n,), -jnp.log(n), pop.log_weights.dtype)
        pop = Population(particles, uniform, pop.log_evidence)
        resampled = jnp.array(True)
        ancestors = anc
    else:
        pop, rinfo = maybe_resample(k_res, pop, resample_threshold, resampling)
        chain = partial(_mcmc_chain, log_prior=log_prior, log_likelihood=log_likelihood, kernel=kernel,
                        params=params, exponent=next_exponent, num_steps=num_mcmc_steps, keep_all=False)
        pop, minfo = move(k_move, pop, chain)
        resampled, ancestors = rinfo.resampled, rinfo.ancestors
    acc = jnp.mean(minfo.acceptance_rate)
    new = TemperedState(pop, jnp.asarray(next_exponent, state.exponent.dtype), params, acc)
    return new, TemperedInfo(ess, pop.log_evidence - old_lz, acc, resampled, ancestors, valid, minfo)
