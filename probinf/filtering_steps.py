"""The particle filter's step blocks: resampling on a carried ESS, batched per-step randomness, weight summaries.

Split from :mod:`probinf.filtering` so that module stays one concept.  ``reweight_with_summaries``
runs the reweighting and the weight summaries as one CPU kernel where it is built
(:mod:`probinf.kernels.reweight_cpu`; :func:`probinf.reweight` is its reference).  ``ancestors``
routes systematic resampling through the CPU kernel
(:func:`probinf.kernels.resampling_cpu.systematic_ancestors`) with the pure-JAX
:func:`probinf.resampling._systematic_u` as reference and fallback; both draw from the
same uniform ``u``, so the law is the same (and the ancestors too, except at ties within
the pure-JAX path's ~1e-4 prefix error).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from probinf.kernels.resampling_cpu import systematic_ancestors
from probinf.kernels.reweight_cpu import reweight_summaries
from probinf.population import Population, ReweightInfo, reweight, take_particles
from probinf.resampling import RESAMPLING_METHODS, _systematic_u

__all__ = ["ancestors", "maybe_resample_carried", "reweight_with_summaries", "step_randomness", "weight_summaries"]


def weight_summaries(particles: Any, log_weights: jax.Array) -> tuple[Any, jax.Array]:
    """Weighted means and ESS ``(sum w)^2 / sum w^2`` from one ``exp`` of normalized ``log_weights``."""
    w = jnp.exp(log_weights)
    means = jax.tree_util.tree_map(lambda x: jnp.tensordot(w, x, axes=(0, 0)), particles)
    return means, _ess_of(w)


def _ess_of(w: jax.Array) -> jax.Array:
    return jnp.square(jnp.sum(w)) / jnp.sum(jnp.square(w))


def reweight_with_summaries(pop: Population, log_increment: jax.Array) -> tuple[Population, ReweightInfo, Any,
                                                                                 jax.Array]:
    """:func:`probinf.reweight`, then the weighted means of the particles and the ESS: ``(pop, info, means, ess)``.

    On a CPU with float32 weights the reweighting and the summaries are one kernel
    (:mod:`probinf.kernels.reweight_cpu`, the same definition to float32 rounding); the
    pure-JAX path composes :func:`probinf.reweight` and :func:`weight_summaries`.
    """
    def reference() -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
        new, info = reweight(pop, log_increment)
        w = jnp.exp(new.log_weights)
        return new.log_weights, w, info.log_evidence_increment, _ess_of(w), info.valid

    lw, w, lse, ess, valid = reweight_summaries(pop.log_weights, log_increment, reference)
    means = jax.tree_util.tree_map(lambda x: jnp.tensordot(w, x, axes=(0, 0)), pop.particles)
    return Population(pop.particles, lw, pop.log_evidence + lse), ReweightInfo(lse, ess, valid), means, ess


def step_randomness(keys: jax.Array, method: str, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """Per-step ``(resampling input, move key)`` for all steps at once (one batched threefry, not one per step).

    The values are those a per-step ``split`` would give; for systematic resampling the
    resampling input is already its uniform ``u`` (drawn as :func:`probinf.resample` draws it).
    """
    pairs = jax.vmap(jax.random.split)(keys)
    k_res, k_move = pairs[:, 0], pairs[:, 1]
    if method == "systematic":
        return jax.vmap(lambda k: jax.random.uniform(k, (), dtype=dtype))(k_res), k_move
    return k_res, k_move


def ancestors(key_or_u: jax.Array, log_weights: jax.Array, n: int, method: str) -> jax.Array:
    """Ancestors by ``method``; systematic (given its ``u``) runs the CPU kernel where it is built (same law)."""
    if method != "systematic":
        return RESAMPLING_METHODS[method](key_or_u, log_weights, n)
    u = key_or_u
    return systematic_ancestors(jnp.exp(log_weights), u, n, lambda: _systematic_u(log_weights, n, u))


def maybe_resample_carried(key_or_u: jax.Array, pop: Population, ess: jax.Array, threshold: float,
                    method: str) -> tuple[Population, jax.Array, jax.Array]:
    """Resample when ``ess < threshold * N`` (``ess`` carried from the last reweighting): ``(pop, anc, resampled)``."""
    n = pop.log_weights.shape[0]
    do = jnp.array(True) if threshold >= 1.0 else ess < threshold * n

    def yes(p: Population) -> tuple[Population, jax.Array]:
        anc = ancestors(key_or_u, p.log_weights, n, method)
        uniform = jnp.full_like(p.log_weights, -jnp.log(n))
        return Population(take_particles(p.particles, anc), uniform, p.log_evidence), anc

    def no(p: Population) -> tuple[Population, jax.Array]:
        return p, jnp.arange(n, dtype=jnp.int32)

    new, anc = jax.lax.cond(do, yes, no, pop)
    return new, anc, do
