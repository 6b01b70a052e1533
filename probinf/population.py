r"""A weighted particle population and the blocks algorithms are composed from.

``Population(particles, log_weights, log_evidence)`` holds a pytree of particles
with leading axis N, *normalized* log-weights and the running log-evidence
estimate :math:`\log \hat Z`.  Keeping the weights normalized makes the evidence
bookkeeping local and correct whether or not a step resampled:

- :func:`reweight` multiplies by incremental weights ``G_i`` and adds
  :math:`\log \sum_i W_i G_i` to the log-evidence (then renormalizes); its
  :class:`ReweightInfo` carries that increment, the ESS and a validity flag;
- :func:`resample_population` replaces the population by equally weighted
  offspring and leaves the evidence unchanged (resampling is unbiased);
- :func:`maybe_resample` resamples only when ``ESS < threshold * N``;
- :func:`move` applies a Markov kernel ``kernel(key, x) -> (x', info)`` to every
  particle (vmapped), leaving weights and evidence unchanged.

With ESS-triggered resampling the estimate :math:`\hat Z = \prod_t \sum_i W_{t-1}^i G_t^i`
stays unbiased because ``W`` carries the un-resampled weights forward.

All blocks are pure ``(key, state, ...) -> (state, info)`` functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from jax.typing import ArrayLike

from probinf._checks import as_key, check_fraction
from probinf.resampling import RESAMPLING_METHODS, _check_method
from probinf.weights import _as_real_array, check_log_weights, weights_valid
from probinf.weights import ess as _ess

__all__ = [
    "Population",
    "ResampleInfo",
    "ReweightInfo",
    "init_population",
    "reweight",
    "resample_population",
    "maybe_resample",
    "move",
    "take_particles",
]


class Population(NamedTuple):
    """Weighted particles: ``particles`` (pytree, leading axis N), normalized ``log_weights`` (N,),
    ``log_evidence`` ()."""

    particles: Any
    log_weights: jax.Array
    log_evidence: jax.Array

    @property
    def num_particles(self) -> int:
        return self.log_weights.shape[0]

    @property
    def ess(self) -> jax.Array:
        return _ess(self.log_weights)


class ResampleInfo(NamedTuple):
    ancestors: jax.Array  # (N,) int32; identity when no resampling happened
    resampled: jax.Array  # () bool
    ess: jax.Array  # () ESS before the decision
    valid: jax.Array  # () bool: weights were usable


class ReweightInfo(NamedTuple):
    log_evidence_increment: jax.Array  # () log sum_i W_i G_i
    ess: jax.Array  # () ESS after reweighting
    valid: jax.Array  # () bool: finite increment, no NaN / +inf incremental weight


def init_population(particles: Any, log_weights: ArrayLike | None = None) -> Population:
    """Population from particles (uniform weights unless ``log_weights`` given); log-evidence 0 or ``log mean w``."""
    leaves = jax.tree_util.tree_leaves(particles)
    if not leaves or any(jnp.ndim(x) == 0 for x in leaves):
        raise ValueError(f"particles must be a pytree of arrays with a leading particle axis N, got {particles!r:.80}")
    n = jnp.shape(leaves[0])[0]
    if n < 1 or any(jnp.shape(x)[0] != n for x in leaves):
        raise ValueError(f"every leaf of particles needs the same leading axis N >= 1, got shapes "
                         f"{[jnp.shape(x) for x in leaves]}")
    if log_weights is None:
        dtype = jnp.result_type(float)
        lw = jnp.full((n,), -jnp.log(n), dtype=dtype)
        return Population(particles, lw, jnp.zeros((), dtype))
    check_log_weights(log_weights)
    lw = jnp.asarray(log_weights)
    if lw.shape != (n,):
        raise ValueError(f"log_weights must have shape (N,) = ({n},) like the particles, got {lw.shape}")
    lz = logsumexp(lw) - jnp.log(n)
    return Population(particles, lw - logsumexp(lw), lz)


def _check_population(population: Any, name: str = "population") -> Population:
    """Static checks (before tracing): a :class:`Population` whose log-weights have shape (N,)."""
    if not isinstance(population, Population):
        raise TypeError(f"{name} must be a probinf.Population, got {type(population).__name__}; "
                        "build one with probinf.init_population(particles)")
    if jnp.ndim(population.log_weights) != 1:
        raise ValueError(f"{name}.log_weights must have shape (N,), got {jnp.shape(population.log_weights)}; "
                         "vmap over a batch of populations")
    return population


def take_particles(particles: Any, indices: ArrayLike) -> Any:
    """Gather a pytree of particles along its leading axis.

    ``indices`` must be integers (``TypeError`` otherwise).  Concrete indices outside
    ``[-N, N)`` raise ``ValueError``; under ``jit`` they cannot be checked and give
    JAX's fill value (NaN for float leaves), as :func:`jax.numpy.take` documents.
    """
    idx = _as_real_array(indices, "indices")
    if not jnp.issubdtype(idx.dtype, jnp.integer):
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}; pass ancestor indices such as "
                        "probinf.resample(key, log_weights)")
    leaves = jax.tree_util.tree_leaves(particles)
    if not leaves or any(jnp.ndim(x) == 0 for x in leaves):
        raise ValueError(f"particles must be a pytree of arrays with a leading particle axis N, got {particles!r:.80}")
    n = jnp.shape(leaves[0])[0]
    if not isinstance(idx, jax.core.Tracer) and idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
        raise ValueError(f"indices must lie in [-N, N) = [{-n}, {n}), got values in [{int(idx.min())}, "
                         f"{int(idx.max())}]")
    return jax.tree_util.tree_map(lambda x: jnp.take(x, idx, axis=0), particles)


def reweight(population: Population, log_increment: ArrayLike) -> tuple[Population, ReweightInfo]:
    r"""Multiply by incremental weights ``exp(log_increment)``; evidence gains :math:`\log\sum_i W_i G_i`.

    Returns ``(Population, ReweightInfo)``.  ``info.valid`` is False when the
    increment is not finite (every particle got zero weight) or some incremental
    log-weight is NaN or ``+inf``; the new weights are then unusable and the
    caller raises (outside ``jit``) or carries the flag.  ``log_increment`` must have
    shape ``()`` or ``(N,)`` and a real dtype (checked statically, also under ``jit``).
    """
    _check_population(population)
    log_increment = _as_real_array(log_increment, "log_increment")
    n = population.num_particles
    if log_increment.shape not in ((), (n,)):
        raise ValueError(f"log_increment must have shape (N,) = ({n},) like the particles (or be a scalar), got "
                         f"{log_increment.shape}")
    lw = population.log_weights + log_increment
    lse = logsumexp(lw)
    # A NaN makes the logsumexp NaN and a +inf makes it +inf, so its finiteness alone
    # covers all three failures (no separate passes over lw; tested against them).
    valid = jnp.isfinite(lse)
    new = Population(population.particles, lw - lse, population.log_evidence + lse)
    return new, ReweightInfo(lse, new.ess, valid)


def resample_population(key: ArrayLike | int, population: Population,
                        method: str = "systematic") -> tuple[Population, ResampleInfo]:
    """Resample to equal weights (evidence unchanged).  Returns ``(Population, ResampleInfo)``.

    ``key`` is a JAX key or an int seed; ``method`` one of :data:`probinf.RESAMPLING_METHODS`.
    """
    key = as_key(key)
    _check_method(method)
    _check_population(population)
    n = population.num_particles
    anc = RESAMPLING_METHODS[method](key, population.log_weights, n)
    uniform = jnp.full_like(population.log_weights, -jnp.log(n))
    info = ResampleInfo(anc, jnp.array(True), population.ess, weights_valid(population.log_weights))
    return Population(take_particles(population.particles, anc), uniform, population.log_evidence), info


def maybe_resample(key: ArrayLike | int, population: Population, threshold: float = 0.5,
                   method: str = "systematic") -> tuple[Population, ResampleInfo]:
    """Resample only when ``ESS < threshold * N`` (``threshold=1`` always, ``0`` never), via ``lax.cond``.

    ``threshold`` (a Python float in [0, 1]) and ``method`` are static; ``key`` may be an int seed.
    """
    key = as_key(key)
    _check_method(method)
    threshold = check_fraction(threshold, "threshold")
    _check_population(population)
    n = population.num_particles
    ess = population.ess
    do = ess < threshold * n
    if threshold >= 1.0:
        do = jnp.array(True)
    identity = jnp.arange(n, dtype=jnp.int32)

    def yes(pop: Population) -> tuple[Population, jax.Array]:
        anc = RESAMPLING_METHODS[method](key, pop.log_weights, n)
        uniform = jnp.full_like(pop.log_weights, -jnp.log(n))
        return Population(take_particles(pop.particles, anc), uniform, pop.log_evidence), anc

    def no(pop: Population) -> tuple[Population, jax.Array]:
        return pop, identity

    new, anc = jax.lax.cond(do, yes, no, population)
    return new, ResampleInfo(anc, do, ess, weights_valid(population.log_weights))


def move(key: ArrayLike, population: Population,
         kernel: Callable[[jax.Array, Any], tuple[Any, Any]]) -> tuple[Population, Any]:
    """Apply ``kernel(key, particle) -> (particle, info)`` to every particle (vmapped).

    ``key`` is a JAX key or an int seed.  A ``kernel`` that is not callable, or that
    does not return a ``(particle, info)`` pair, raises ``TypeError``.
    """
    key = as_key(key)
    _check_population(population)
    if not callable(kernel):
        raise TypeError(f"kernel must be a callable kernel(key, particle) -> (particle, info), got "
                        f"{type(kernel).__name__}")
    keys = jax.random.split(key, population.num_particles)
    out = jax.vmap(kernel)(keys, population.particles)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"kernel must return a pair (particle, info), got {type(out).__name__}"
                        f"{' of length ' + str(len(out)) if isinstance(out, tuple) else ''}; return (x_new, None) "
                        "when there is no info")
    particles, info = out
    return population._replace(particles=particles), info
