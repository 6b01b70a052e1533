r"""Particle filters whose particles stay sharded over devices: global or island interaction.

``sharded_particle_filter`` runs the bootstrap (or guided) filter of
:func:`probinf.particle_filter` with the ``N`` particles split over the ``D`` devices
of a one-axis mesh, the whole ``lax.scan`` inside one ``shard_map``.  Per step,
propagation and the observation density are local; the collectives are:

- ``interaction="global"`` (the default): the *same algorithm* as one device.
  Reweighting is a global log-sum-exp (a ``pmax`` and a ``psum``), ESS a ``psum``,
  resampling the exact global scheme of :mod:`probinf.distributed.resampling`
  (an ``all_gather`` of ``D`` split totals and one particle exchange).  Same law as
  :func:`probinf.particle_filter` (propagation noise is drawn per shard, so draws
  differ); :math:`\hat Z` is unbiased.
- ``interaction="island"``: each shard is an island of ``n = N / D`` particles that
  resamples locally (local ESS rule, no communication), and the island masses
  :math:`\Lambda_d = \log \hat Z_d` are combined as
  :math:`\hat Z = \frac1D \sum_d \hat Z_d` (Vergé, Dubarry, Del Moral & Moulines
  2015, arXiv:1306.3911).  With ``exchange_every=k`` the islands are themselves
  resampled (systematic, by :math:`\Lambda`) every ``k`` steps and the islands'
  evidence mean is banked: the "double bootstrap" island particle model.

Bias/variance trade-off (documented, and checked against the Kalman evidence in
the tests): both modes give an *unbiased* :math:`\hat Z`, so :math:`\log\hat Z` is
biased low by about :math:`\operatorname{Var}(\log\hat Z)/2` in both.  The island
estimator is a mean of ``D`` independent estimators of ``n`` particles each: to first
order in :math:`T/n` its relative variance equals the global filter's
(:math:`\approx c T / N`), but each island's own variance grows like
:math:`e^{cT/n} - 1`, so once :math:`T \gtrsim n / c` the island estimate degenerates
(one island dominates) while the global filter's does not; island filtering means
are self-normalized over ``n`` particles, with bias :math:`O(1/n)` instead of
:math:`O(1/N)`.  Island exchange (``exchange_every``) keeps the islands comparable at
the price of one ``D``-island exchange.  In return islands need no collective at all
between exchanges (no per-step ``all_gather``/``all_to_all``), which matters over
slow links (hosts joined by Ethernet/InfiniBand).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import logsumexp
from jax.sharding import Mesh, PartitionSpec
from jax.typing import ArrayLike

from probinf.distributed.mesh import check_mesh, shard_map
from probinf.distributed.resampling import SHARDED_RESAMPLING_METHODS, local_resample
from probinf.exceptions import DegenerateWeightsError
from probinf.filtering import ParticleFilterResult, check_filter_args
from probinf.population import Population, maybe_resample
from probinf.resampling import RESAMPLING_METHODS
from probinf.ssm import Proposal, StateSpaceModel, TimeIndex, model_densities

__all__ = ["sharded_particle_filter", "INTERACTIONS"]

INTERACTIONS = ("global", "island")

#: ``PartitionSpec`` typed as a callable (its constructor is unannotated in jax).
P: Callable[..., PartitionSpec] = PartitionSpec


def _propagate(key: jax.Array, model: StateSpaceModel, proposal: Proposal | None, x_prev: Any, y: Any, t: TimeIndex,
               theta: Any) -> tuple[Any, jax.Array]:
    if proposal is None:
        x = model.transition_sampler(key, x_prev, t, theta)
        return x, model.observation_log_density(y, x, t, theta)
    transition_log_density, _ = model_densities(model, "a guided proposal")
    x = proposal.sampler(key, x_prev, y, t, theta)
    return x, (model.observation_log_density(y, x, t, theta) + transition_log_density(x, x_prev, t, theta)
               - proposal.log_density(x, x_prev, y, t, theta))


def _initial(key: jax.Array, model: StateSpaceModel, proposal: Proposal | None, n: int, y0: Any,
             theta: Any) -> tuple[Any, jax.Array]:
    if proposal is None:
        x0 = model.initial_sampler(key, n, theta)
        return x0, model.observation_log_density(y0, x0, 0, theta)
    _, initial_log_density = model_densities(model, "a guided proposal")
    x0 = proposal.initial_sampler(key, n, y0, theta)
    return x0, (model.observation_log_density(y0, x0, 0, theta) + initial_log_density(x0, theta)
                - proposal.initial_log_density(x0, y0, theta))


def _global_lse(lw: jax.Array, axis: str) -> jax.Array:
    m = lax.pmax(jnp.max(lw), axis)  # type: ignore[no-untyped-call]  # unannotated in jax
    m_safe = jnp.where(jnp.isfinite(m), m, 0.0)
    return m_safe + jnp.log(lax.psum(jnp.sum(jnp.exp(lw - m_safe)), axis))  # type: ignore[no-untyped-call]  # unannotated in jax


def _bad(lw: jax.Array, axis: str) -> jax.Array:
    n_bad: jax.Array = lax.psum(jnp.sum(jnp.isnan(lw) | (lw == jnp.inf)), axis)  # type: ignore[no-untyped-call]  # as above
    return n_bad > 0


def _wmean(x: Any, lw: jax.Array, axis: str) -> Any:
    w = jnp.exp(lw)
    return jax.tree_util.tree_map(lambda a: lax.psum(jnp.tensordot(w, a, axes=(0, 0)), axis), x)  # type: ignore[no-untyped-call]  # unannotated in jax


def _island_resample(key: jax.Array, x: Any, lw: jax.Array, lam: jax.Array, axis: str,
                     d_count: int) -> tuple[Any, jax.Array, jax.Array]:
    """Resample the islands by their masses (systematic over D): dense all_to_all of whole islands."""
    lams = lax.all_gather(lam, axis)
    src = RESAMPLING_METHODS["systematic"](key, lams, d_count)  # replicated: the same on every shard
    d = lax.axis_index(axis)
    wanted = src == d  # destinations that want this island

    def send(a: jax.Array) -> jax.Array:
        return jnp.where(wanted.reshape((-1,) + (1,) * a.ndim), a[None], jnp.zeros_like(a)[None])

    recv = jax.tree_util.tree_map(lambda a: lax.all_to_all(send(a), axis, 0, 0)[src[d]], (x, lw))  # type: ignore[no-untyped-call]  # unannotated in jax
    return recv[0], recv[1], logsumexp(lams) - jnp.log(d_count)


def _run(key: jax.Array, observations: Any, theta: Any, *, model: StateSpaceModel, proposal: Proposal | None, n: int,
         axis: str, d_count: int, resampling: str, thr: float, interaction: str,
         exchange_every: int | None) -> tuple[Any, ...]:
    t_len = jax.tree_util.tree_leaves(observations)[0].shape[0]

    def obs_at(t: ArrayLike) -> Any:
        return jax.tree_util.tree_map(lambda y: y[t], observations)

    d = lax.axis_index(axis)
    big_n = n * d_count
    k0, kscan = jax.random.split(key)
    x0, g0 = _initial(jax.random.fold_in(k0, d), model, proposal, n, obs_at(0), theta)
    dtype = jnp.result_type(g0.dtype, jnp.float32)
    g0 = g0.astype(dtype)
    island = interaction == "island"

    def weigh(lw: jax.Array, g: jax.Array, lam: jax.Array, banked: jax.Array) -> tuple[jax.Array, ...]:
        """Reweight; returns (lw, lam, banked, log Z so far, bad)."""
        lw = lw + g
        bad = _bad(lw, axis)
        if island:
            lse = logsumexp(lw)
            lam = lam + lse
            lw = lw - jnp.where(jnp.isfinite(lse), lse, 0.0)
            lams = lax.all_gather(lam, axis)
            logz = banked + logsumexp(lams) - jnp.log(d_count)
        else:
            lse = _global_lse(lw, axis)
            lw = lw - jnp.where(jnp.isfinite(lse), lse, 0.0)
            banked = banked + lse
            logz = banked
        return lw, lam, banked, logz, bad | ~jnp.isfinite(logz)

    def summary(x: Any, lw: jax.Array, lam: jax.Array) -> tuple[Any, jax.Array]:
        if island:
            lams = lax.all_gather(lam, axis)
            glw = lw + lam - logsumexp(lams)  # island mass times local weight, globally normalized
        else:
            glw = lw
        return _wmean(x, glw, axis), 1.0 / lax.psum(jnp.sum(jnp.exp(2.0 * glw)), axis)  # type: ignore[no-untyped-call]  # unannotated in jax

    zero = jnp.zeros((), dtype)
    # Globally uniform weights 1/N; an island's weights are normalized within the island (1/n).
    init_lw = -jnp.log(jnp.asarray(n if island else big_n, dtype))
    lw0, lam0, banked0, logz0, bad0 = weigh(jnp.full((n,), init_lw, dtype), g0, zero, zero)
    first_bad0 = jnp.where(bad0, jnp.int32(0), jnp.int32(t_len))

    def step(carry: tuple[Any, ...], inp: tuple[jax.Array, jax.Array]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        x, lw, lam, banked, logz_prev, first_bad = carry
        t, k = inp
        k_res, k_move, k_isl = jax.random.split(k, 3)
        if island:
            pop, rinfo = maybe_resample(jax.random.fold_in(k_res, d), Population(x, lw, zero), thr, resampling)
            x, lw, resampled = pop.particles, pop.log_weights, rinfo.resampled
        else:
            ess = 1.0 / lax.psum(jnp.sum(jnp.exp(2.0 * lw)), axis)  # type: ignore[no-untyped-call]  # unannotated in jax
            resampled = (ess < thr * big_n) | (thr >= 1.0)
            uniform = jnp.full_like(lw, -jnp.log(jnp.asarray(big_n, dtype)))
            x, lw = lax.cond(
                resampled,
                lambda a: (local_resample(k_res, a[1], a[0], axis, d_count, resampling)[0], uniform),
                lambda a: a, (x, lw))
        x, g = _propagate(jax.random.fold_in(k_move, d), model, proposal, x, obs_at(t), t, theta)
        lw, lam, banked, logz, bad = weigh(lw, g.astype(dtype), lam, banked)
        if island and exchange_every:
            def exchange(a: tuple[Any, jax.Array, jax.Array, jax.Array]) -> tuple[Any, jax.Array, jax.Array, jax.Array]:
                xx, ll, la, bk = a
                xx, ll, mean_z = _island_resample(k_isl, xx, ll, la, axis, d_count)
                return xx, ll, jnp.zeros_like(la), bk + mean_z
            x, lw, lam, banked = lax.cond(t % exchange_every == 0, exchange, lambda a: a, (x, lw, lam, banked))
        first_bad = jnp.where(bad & (first_bad >= t_len), t, first_bad)
        mean, ess_after = summary(x, lw, lam)
        out = dict(inc=logz - logz_prev, mean=mean, ess=ess_after, resampled=resampled)
        return (x, lw, lam, banked, logz, first_bad), out

    keys = jax.random.split(kscan, max(t_len - 1, 1))[: t_len - 1]
    ts = jnp.arange(1, t_len, dtype=jnp.int32)
    (x, lw, lam, _, logz, first_bad), outs = lax.scan(step, (x0, lw0, lam0, banked0, logz0, first_bad0), (ts, keys))
    mean0, ess0 = summary(x0, lw0, lam0)
    means = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), mean0, outs["mean"])
    if island:  # return globally normalized weights (island mass times local weight)
        lw = lw + lam - logsumexp(lax.all_gather(lam, axis))
    return (logz, jnp.concatenate([logz0[None], outs["inc"]]), means, jnp.concatenate([ess0[None], outs["ess"]]),
            jnp.concatenate([jnp.zeros((1,), bool), outs["resampled"]]), x, lw, first_bad)


@partial(jax.jit, static_argnames=("model", "proposal", "mesh", "n", "resampling", "thr", "interaction",
                                   "exchange_every"))
def _pf_sharded(key: jax.Array, observations: Any, theta: Any, *, model: StateSpaceModel, proposal: Proposal | None,
                mesh: Mesh, n: int, resampling: str, thr: float, interaction: str,
                exchange_every: int | None) -> tuple[Any, ...]:
    _, axis, d_count = check_mesh(mesh)
    body = partial(_run, model=model, proposal=proposal, n=n, axis=axis, d_count=d_count, resampling=resampling,
                   thr=thr, interaction=interaction, exchange_every=exchange_every)
    f = shard_map(body, mesh, in_specs=(P(), P(), P()),
                  out_specs=(P(), P(), P(), P(), P(), P(axis), P(axis), P()))
    out: tuple[Any, ...] = f(key, observations, theta)
    return out


def sharded_particle_filter(key: ArrayLike | int, model: StateSpaceModel, observations: Any, num_particles: int,
                            mesh: Mesh, *, theta: Any = None, resampling: str = "systematic",
                            ess_threshold: float = 0.5, proposal: Proposal | str | None = None,
                            interaction: str = "global", exchange_every: int | None = None
                            ) -> ParticleFilterResult:
    r"""Particle filter with the particles sharded over ``mesh`` (see the module docstring).

    Parameters
    ----------
    key, model, observations, theta, ess_threshold, proposal
        As in :func:`probinf.particle_filter`.
    num_particles : int
        Total ``N``, a multiple of the mesh size ``D``.
    mesh : jax.sharding.Mesh
        One-axis mesh, e.g. :func:`probinf.distributed.particle_mesh`.
    resampling : {"systematic", "stratified"}
        Exact global schemes (``interaction="global"``); islands accept every scheme.
    interaction : {"global", "island"}
    exchange_every : int, optional
        Islands only: resample the islands every ``k`` steps (``None``: independent islands).

    Returns
    -------
    ParticleFilterResult
        ``final.particles`` and ``final.log_weights`` (globally normalized) stay sharded;
        the per-step summaries are replicated.  No history (``ancestors`` etc. are None).

    Examples
    --------
    >>> import jax
    >>> from probinf.kalman import LinearGaussian
    >>> from probinf.distributed import particle_mesh
    >>> lg = LinearGaussian.ar1(rho=0.9, sigma_x=1.0, sigma_y=0.2)
    >>> _, y = lg.simulate(jax.random.PRNGKey(0), 50)
    >>> res = sharded_particle_filter(1, lg.to_ssm(), y, 1024, particle_mesh())
    >>> bool(abs(res.log_evidence - lg.kalman_filter(y).log_likelihood) < 2.0)
    True
    """
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    if interaction not in INTERACTIONS:
        raise ValueError(f"interaction must be one of {INTERACTIONS}, got {interaction!r}")
    if interaction == "global" and resampling not in SHARDED_RESAMPLING_METHODS:
        raise ValueError(f"resampling={resampling!r} has no exact sharded form; use one of "
                         f"{SHARDED_RESAMPLING_METHODS}, or interaction='island' (local resampling)")
    if exchange_every is not None:
        if interaction != "island":
            raise ValueError("exchange_every applies to interaction='island' only; drop it or set interaction")
        if isinstance(exchange_every, bool) or not isinstance(exchange_every, int) or exchange_every < 1:
            raise ValueError(f"exchange_every must be None or an int >= 1, got {exchange_every!r}")
    proposal, n_total, _, thr = check_filter_args(model, observations, num_particles, resampling, ess_threshold,
                                                  proposal)
    mesh, _, d_count = check_mesh(mesh, n_total)
    observations = jax.tree_util.tree_map(jnp.asarray, observations)
    out = _pf_sharded(key, observations, theta, model=model, proposal=proposal, mesh=mesh, n=n_total // d_count,
                      resampling=resampling, thr=thr, interaction=interaction, exchange_every=exchange_every)
    logz, incs, means, ess, resampled, x, lw, first_bad = out
    t_len = incs.shape[0]
    if int(first_bad) < t_len:
        raise DegenerateWeightsError(
            f"sharded particle filter degenerated at time step {int(first_bad)}: every particle got zero weight "
            "(or a log-density returned NaN / +inf). Check observation_log_density at that step, increase "
            "num_particles or use a guided proposal.")
    return ParticleFilterResult(
        log_evidence=logz, log_evidence_increments=incs, filtering_means=means, ess=ess, resampled=resampled,
        final=Population(x, lw, logz), ancestors=None, history=None, log_weights_history=None,
        valid=jnp.asarray(True), first_invalid_step=first_bad)
