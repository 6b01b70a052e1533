r"""PMMH and particle-Gibbs chains sharded over devices.

Chains are independent, so the chain axis is simply sharded: the starting points
(``initial_theta`` of shape ``(C, d)``, and for particle Gibbs the starting
trajectories) are placed with ``NamedSharding(mesh, P(axis))`` and the usual
vectorized sampler (:func:`probinf.pmmh`, :func:`probinf.particle_gibbs`, whose
chains are a ``vmap``) is compiled for those inputs: XLA's partitioner runs
``C / D`` chains per device, every chain's particle filter stays on its device, and
the only cross-device traffic is the pooled covariance of PMMH's adaptive warm-up
(an all-reduce of ``d x d`` numbers per iteration; none with ``adapt=False`` or for
particle Gibbs).  The key is split into chain keys *globally*, so the draws are
the ones a single device gives with the same key (same law, same draws up to the
order of floating-point reductions in the adaptation), whatever ``D`` is.

Results come back as NumPy arrays, as from the single-device samplers (one
device-to-host copy at the end of the run, not during it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.typing import ArrayLike

from probinf.distributed.mesh import check_mesh, shard_particles
from probinf.pmcmc import PGResult, PMMHResult, particle_gibbs, pmmh
from probinf.ssm import StateSpaceModel

__all__ = ["sharded_pmmh", "sharded_particle_gibbs", "shard_chain_inputs"]


def _num_chains(num_chains: int | None, d_count: int) -> int:
    c = d_count if num_chains is None else num_chains
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise ValueError(f"num_chains must be a positive int, got {num_chains!r}")
    if c % d_count:
        raise ValueError(f"num_chains={c} is not a multiple of the mesh's {d_count} devices; use a multiple of "
                         f"{d_count} (e.g. {(c // d_count + 1) * d_count})")
    return c


def shard_chain_inputs(initial_theta: ArrayLike, num_chains: int, mesh: Mesh) -> jax.Array:
    """``initial_theta`` ((d,) or (C, d)) broadcast to ``(C, d)`` and sharded over the chain axis."""
    th = jnp.asarray(initial_theta)
    if not jnp.issubdtype(th.dtype, jnp.floating):
        th = th.astype(jnp.result_type(float))
    if th.ndim == 1:
        th = jnp.broadcast_to(th, (num_chains, th.shape[0]))
    if th.ndim != 2 or th.shape[0] != num_chains:
        raise ValueError(f"initial_theta must have shape (d,) or (num_chains, d) = ({num_chains}, d), got {th.shape}")
    out: jax.Array = shard_particles(th, mesh)
    return out


def sharded_pmmh(key: ArrayLike | int, model: StateSpaceModel, observations: Any,
                 log_prior: Callable[[jax.Array], jax.Array], initial_theta: ArrayLike, num_samples: int, mesh: Mesh, *,
                 num_chains: int | None = None, **kwargs: Any) -> PMMHResult:
    """:func:`probinf.pmmh` with its ``num_chains`` chains sharded over ``mesh``.

    ``num_chains`` defaults to the mesh size and must be a multiple of it; the other
    keyword arguments are :func:`probinf.pmmh`'s.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probinf import LinearGaussian
    >>> from probinf.distributed import particle_mesh
    >>> lg = LinearGaussian.ar1()
    >>> _, y = lg.simulate(jax.random.PRNGKey(0), 10)
    >>> from probinf import StateSpaceModel
    >>> from jax.scipy.stats import norm
    >>> ar = StateSpaceModel(lambda k, n, th: jax.random.normal(k, (n,)),
    ...                      lambda k, x, t, th: th[0] * x + jax.random.normal(k, x.shape),
    ...                      lambda y, x, t, th: norm.logpdf(y, x, 0.5))
    >>> lp = lambda th: jnp.where(jnp.abs(th[0]) < 1, 0.0, -jnp.inf)
    >>> r = sharded_pmmh(0, ar, y, lp, jnp.array([0.5]), 5, particle_mesh(), num_particles=16)
    >>> r.samples.shape[1:]
    (5, 1)
    """
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    _, _, d_count = check_mesh(mesh)
    c = _num_chains(num_chains, d_count)
    theta0 = shard_chain_inputs(initial_theta, c, mesh)
    return pmmh(key, model, observations, log_prior, theta0, num_samples, num_chains=c, **kwargs)


def sharded_particle_gibbs(key: ArrayLike | int, model: StateSpaceModel, observations: Any, num_samples: int,
                           mesh: Mesh, *, initial_trajectory: Any, initial_theta: ArrayLike | None = None,
                           num_chains: int | None = None, **kwargs: Any) -> PGResult:
    """:func:`probinf.particle_gibbs` with its chains sharded over ``mesh``.

    ``initial_trajectory`` is required here (a pytree of ``(T, ...)`` or ``(C, T, ...)``
    arrays; e.g. a filter's trajectory), because the default start traces one particle
    filter per chain in a Python loop, which does not scale to thousands of chains.
    ``num_chains`` defaults to the mesh size and must be a multiple of it.
    """
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    _, _, d_count = check_mesh(mesh)
    c = _num_chains(num_chains, d_count)
    traj = jax.tree_util.tree_map(jnp.asarray, initial_trajectory)
    lead = jax.tree_util.tree_leaves(traj)[0]
    if lead.ndim == 0 or lead.shape[0] != c:
        traj = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (c,) + a.shape), traj)
    traj = shard_particles(traj, mesh)
    if initial_theta is not None:
        initial_theta = shard_chain_inputs(initial_theta, c, mesh)
    return particle_gibbs(key, model, observations, num_samples, initial_theta=initial_theta, num_chains=c,
                          initial_trajectory=traj, **kwargs)
