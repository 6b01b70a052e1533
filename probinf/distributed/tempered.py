r"""Adaptive tempered SMC with the particles sharded over devices.

The sampler of :func:`probinf.tempered_smc` for a random-walk move, written inside
one ``shard_map`` so the ``N`` particles stay on their ``D`` devices: targets
:math:`\pi_\lambda(\theta) \propto p(\theta) L(\theta)^\lambda`, from
:math:`\lambda = 0` (prior draws) to 1.  Per step:

- the next exponent solves :math:`\mathrm{ESS}(W L^{\delta}) = \text{target} \cdot N`
  by bisection on :math:`\log\delta` (as :func:`probinf.tempered.solve_next_exponent`),
  where every ESS evaluation is a global log-sum-exp (``pmax`` + ``psum``), so all
  shards agree on the exponent;
- reweighting by :math:`L^{\delta}` is a global log-sum-exp, which also gives the
  evidence increment (:math:`\hat Z` unbiased);
- exact global systematic resampling (:mod:`probinf.distributed.resampling`);
- ``num_mcmc_steps`` random-walk Metropolis moves per particle, local, with the
  proposal covariance :math:`(2.38^2 / d)\,\hat\Sigma` from the *global* particle
  covariance (one ``psum`` of a ``d x d`` matrix).

Reference: Del Moral, Doucet & Jasra (2006), doi:10.1111/j.1467-9868.2006.00553.x;
Jasra, Stephens, Doucet & Tsagaris (2011), doi:10.1111/j.1467-9469.2010.00723.x.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, PartitionSpec
from jax.typing import ArrayLike

from probinf.distributed.mesh import check_mesh, shard_map, shard_particles
from probinf.distributed.resampling import local_resample
from probinf.exceptions import DegenerateWeightsError

if TYPE_CHECKING:
    from probinf.results import SMCResult

__all__ = ["ShardedTemperedResult", "sharded_tempered_smc", "tempered_smc_on_mesh"]

#: ``PartitionSpec`` typed as a callable (its constructor is unannotated in jax).
P: Callable[..., PartitionSpec] = PartitionSpec
#: ``theta (d,) -> scalar`` log-density.
LogDensity = Callable[[jax.Array], jax.Array]
#: (positions, log prior, log likelihood) of the particles
_Triple = tuple[jax.Array, jax.Array, jax.Array]


class ShardedTemperedResult(NamedTuple):
    """``positions`` (N, d) sharded, equally weighted at :math:`\\lambda = 1`; ``log_evidence`` ();
    ``num_steps`` (); per step (padded to ``max_steps``): ``exponents`` (padded with 1), ``acceptance``,
    ``ess`` after reweighting and ``log_evidence_increments``."""

    positions: jax.Array
    log_evidence: jax.Array
    num_steps: jax.Array
    exponents: jax.Array
    acceptance: jax.Array
    ess: jax.Array
    log_evidence_increments: jax.Array


def _glse(x: jax.Array, axis: str) -> jax.Array:
    m = lax.pmax(jnp.max(x), axis)  # type: ignore[no-untyped-call]  # unannotated in jax
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    return m + jnp.log(lax.psum(jnp.sum(jnp.exp(x - m)), axis))  # type: ignore[no-untyped-call]  # unannotated in jax


def _incr(ll: jax.Array, delta: ArrayLike) -> jax.Array:
    return jnp.where(delta == 0, 0.0, delta * ll)


def _next_exponent(lw: jax.Array, ll: jax.Array, lam: jax.Array, target: ArrayLike, axis: str,
                   num_iter: int = 60) -> jax.Array:
    dtype = lw.dtype
    log_target = jnp.log(target)

    def log_ess(delta: ArrayLike) -> jax.Array:
        x = lw + _incr(ll, delta)
        v = 2.0 * _glse(x, axis) - _glse(2.0 * x, axis)
        return jnp.where(jnp.isnan(v), -jnp.inf, v)

    remaining = 1.0 - lam
    eps = jnp.finfo(dtype).eps  # type: ignore[no-untyped-call]  # unannotated in jax
    d_min = jnp.minimum(jnp.maximum(8.0 * eps * lam, jnp.asarray(1e-30, dtype)), remaining)

    def body(_: int, b: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        lo, hi = b
        mid = 0.5 * (lo + hi)
        ok = log_ess(jnp.exp(mid)) >= log_target
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, _ = lax.fori_loop(0, num_iter, body, (jnp.log(d_min), jnp.log(remaining)))
    return jnp.where(log_ess(remaining) >= log_target, jnp.asarray(1.0, dtype), jnp.minimum(lam + jnp.exp(lo), 1.0))


def _run(key: jax.Array, pos: jax.Array, *, log_prior: LogDensity, log_likelihood: LogDensity, axis: str, d_count: int,
         target_ess: float, num_mcmc_steps: int, max_steps: int) -> tuple[jax.Array, ...]:
    n, dim = pos.shape
    big_n = n * d_count
    dtype = pos.dtype
    shard = lax.axis_index(axis)
    lp, ll = jax.vmap(log_prior)(pos), jax.vmap(log_likelihood)(pos)
    lw = jnp.full((n,), -jnp.log(jnp.asarray(big_n, dtype)), dtype)
    zero = jnp.zeros((), dtype)

    def move(k: jax.Array, pos: jax.Array, lp: jax.Array, ll: jax.Array, lam: jax.Array) -> tuple[jax.Array, ...]:
        mean = lax.psum(jnp.sum(pos, 0), axis) / big_n  # type: ignore[no-untyped-call]  # unannotated in jax
        c = pos - mean
        cov = lax.psum(c.T @ c, axis) / big_n + 1e-9 * jnp.eye(dim, dtype=dtype)  # type: ignore[no-untyped-call]  # unannotated in jax
        chol = jnp.linalg.cholesky((2.38**2 / dim) * cov)

        def mh(carry: _Triple, kk: jax.Array) -> tuple[_Triple, jax.Array]:
            pos, lp, ll = carry
            k1, k2 = jax.random.split(jax.random.fold_in(kk, shard))
            prop = pos + jax.random.normal(k1, pos.shape, dtype) @ chol.T
            lpp, llp = jax.vmap(log_prior)(prop), jax.vmap(log_likelihood)(prop)
            log_a = lpp + _incr(llp, lam) - lp - _incr(ll, lam)
            acc = jnp.log(jax.random.uniform(k2, (n,), dtype)) < jnp.where(jnp.isnan(log_a), -jnp.inf, log_a)
            def sel(a: jax.Array, b: jax.Array) -> jax.Array:
                return jnp.where(acc.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

            return (sel(prop, pos), sel(lpp, lp), sel(llp, ll)), lax.psum(jnp.sum(acc), axis) / big_n  # type: ignore[no-untyped-call]  # unannotated in jax

        (pos, lp, ll), accs = lax.scan(mh, (pos, lp, ll), jax.random.split(k, num_mcmc_steps))
        return pos, lp, ll, jnp.mean(accs)

    def body(c: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        key, pos, lp, ll, lw, lam, logz, i, bad, lams, accs, esss, incs = c
        key, k_res, k_move = jax.random.split(key, 3)
        new_lam = _next_exponent(lw, ll, lam, target_ess * big_n, axis)
        x = lw + _incr(ll, new_lam - lam)
        lse = _glse(x, axis)
        bad = bad | ~jnp.isfinite(lse)
        lw = x - jnp.where(jnp.isfinite(lse), lse, 0.0)
        ess = jnp.exp(-_glse(2.0 * lw, axis))
        (pos, lp, ll), _ = local_resample(k_res, lw, (pos, lp, ll), axis, d_count, "systematic")
        lw = jnp.full_like(lw, -jnp.log(jnp.asarray(big_n, dtype)))
        pos, lp, ll, acc = move(k_move, pos, lp, ll, new_lam)
        return (key, pos, lp, ll, lw, new_lam, logz + lse, i + 1, bad, lams.at[i].set(new_lam), accs.at[i].set(acc),
                esss.at[i].set(ess), incs.at[i].set(lse))

    def cond(c: tuple[jax.Array, ...]) -> jax.Array:
        return (c[5] < 1.0) & (c[7] < max_steps) & ~c[8]

    init = (key, pos, lp, ll, lw, zero, zero, jnp.int32(0), jnp.array(False),
            jnp.ones((max_steps,), dtype), jnp.zeros((max_steps,), dtype), jnp.zeros((max_steps,), dtype),
            jnp.zeros((max_steps,), dtype))
    out: tuple[jax.Array, ...] = lax.while_loop(cond, body, init)
    _, pos, _, _, _, lam, logz, i, bad, lams, accs, esss, incs = out
    return pos, logz, i, lams, accs, esss, incs, bad | (lam < 1.0)


@partial(jax.jit, static_argnames=("log_prior", "log_likelihood", "mesh", "target_ess", "num_mcmc_steps",
                                   "max_steps"))
def _tempered_sharded(key: jax.Array, pos: jax.Array, *, log_prior: LogDensity, log_likelihood: LogDensity, mesh: Mesh,
                      target_ess: float, num_mcmc_steps: int, max_steps: int) -> tuple[jax.Array, ...]:
    _, axis, d_count = check_mesh(mesh)
    body = partial(_run, log_prior=log_prior, log_likelihood=log_likelihood, axis=axis, d_count=d_count,
                   target_ess=target_ess, num_mcmc_steps=num_mcmc_steps, max_steps=max_steps)
    out_specs = (P(axis),) + (P(),) * 7
    out: tuple[jax.Array, ...] = shard_map(body, mesh, in_specs=(P(), P(axis)), out_specs=out_specs)(key, pos)
    return out


def sharded_tempered_smc(key: ArrayLike | int, log_prior: LogDensity, log_likelihood: LogDensity,
                         init_particles: ArrayLike, mesh: Mesh, *,
                         target_ess: float = 0.5, num_mcmc_steps: int = 10, max_steps: int = 200
                         ) -> ShardedTemperedResult:
    r"""Adaptive tempered SMC (random-walk moves) with the particles sharded over ``mesh``.

    Parameters
    ----------
    key : PRNG key or int
    log_prior, log_likelihood : callable
        ``theta (d,) -> scalar`` (``-inf`` allowed).
    init_particles : (N, d) array
        Prior draws; ``N`` a multiple of the mesh size.
    mesh : jax.sharding.Mesh
    target_ess : float in (0, 1)
        ESS fraction kept by each exponent increment.
    num_mcmc_steps, max_steps : int

    Returns
    -------
    ShardedTemperedResult

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jax.scipy.stats import norm
    >>> from probinf.distributed import particle_mesh
    >>> x0 = jax.random.normal(jax.random.PRNGKey(0), (256, 1))
    >>> r = sharded_tempered_smc(1, lambda t: norm.logpdf(t).sum(), lambda t: norm.logpdf(1.0, t, 0.5).sum(),
    ...                          x0, particle_mesh())
    >>> bool(abs(r.log_evidence - norm.logpdf(1.0, 0.0, jnp.sqrt(1.25))) < 0.3)
    True
    """
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    if not (callable(log_prior) and callable(log_likelihood)):
        raise TypeError("log_prior and log_likelihood must be callables theta (d,) -> scalar")
    pos = jnp.asarray(init_particles)
    if pos.ndim != 2 or not jnp.issubdtype(pos.dtype, jnp.floating):
        raise ValueError(f"init_particles must be a float array (N, d) of prior draws, got {pos.dtype}{pos.shape}")
    if not 0.0 < float(target_ess) < 1.0:
        raise ValueError(f"target_ess must be in (0, 1), got {target_ess}")
    for name, v in (("num_mcmc_steps", num_mcmc_steps), ("max_steps", max_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    mesh, _, _ = check_mesh(mesh, pos.shape[0])
    pos = shard_particles(pos, mesh)
    out = _tempered_sharded(key, pos, log_prior=log_prior, log_likelihood=log_likelihood, mesh=mesh,
                            target_ess=float(target_ess), num_mcmc_steps=num_mcmc_steps, max_steps=max_steps)
    pos, logz, steps, lams, accs, esss, incs, failed = out
    if bool(failed):
        raise DegenerateWeightsError(
            f"sharded tempered SMC did not reach exponent 1 within max_steps={max_steps} (or the weights became "
            "NaN / all zero); raise max_steps or target_ess, or check log_likelihood at the particles")
    return ShardedTemperedResult(pos, logz, steps, lams, accs, esss, incs)


def tempered_smc_on_mesh(key: jax.Array | int, log_prior: LogDensity, log_likelihood: LogDensity,
                         init_particles: ArrayLike | Callable[[jax.Array, int], ArrayLike], num_particles: int | None,
                         mesh: Mesh, *, kernel: Any = None, target_ess: float = 0.5, schedule: ArrayLike | None = None,
                         waste_free: bool = False, num_mcmc_steps: int = 10, max_steps: int = 500) -> SMCResult:
    """:func:`probinf.tempered_smc` with ``mesh=``: the sharded sampler, returned as an ``SMCResult``.

    Supports what the sharded sampler does: one key, ``(N, d)`` prior draws (or a sampler
    ``(key, N) -> (N, d)``), adaptive tempering, random-walk moves (``kernel=None``).
    """
    import numpy as np

    from probinf.results import SMCResult

    if kernel is not None or schedule is not None or waste_free:
        raise ValueError("with mesh=, tempered_smc supports adaptive tempering with its own random-walk moves "
                         "only: drop kernel=, schedule= and waste_free=, or run without a mesh")
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    if (typed and key.ndim != 0) or (not typed and key.shape != (2,)):
        raise ValueError("with mesh=, give one key (the chain axis is not vectorized over a mesh)")
    if callable(init_particles):
        if num_particles is None:
            raise ValueError("init_particles is a sampler: give num_particles")
        key, k0 = jax.random.split(key)
        init_particles = init_particles(k0, int(num_particles))
    r = sharded_tempered_smc(key, log_prior, log_likelihood, init_particles, mesh, target_ess=target_ess,
                             num_mcmc_steps=num_mcmc_steps, max_steps=max_steps)
    t = int(r.num_steps)
    n = r.positions.shape[0]
    lw = shard_particles(jnp.full((n,), -jnp.log(n), r.positions.dtype), mesh)
    return SMCResult(particles=r.positions, log_weights=lw, log_evidence=r.log_evidence,
                     exponents=np.concatenate([[0.0], np.asarray(r.exponents[:t])]),
                     acceptance_rates=np.asarray(r.acceptance[:t]), ess=np.asarray(r.ess[:t]),
                     log_evidence_increments=np.asarray(r.log_evidence_increments[:t]), num_steps=t,
                     extra={"mesh": mesh})
