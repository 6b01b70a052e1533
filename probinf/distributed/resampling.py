r"""Exact global resampling of a particle system sharded over devices.

``N`` particles live on ``D`` shards of ``n = N / D``.  Systematic and stratified
resampling compare the points ``k + u`` (``k = 0..N-1``) with the global running sums
:math:`C_i = N \sum_{j \le i} w_j`; the count of points below :math:`C_i` is
:math:`I_i + [F_i > u]` (systematic) or :math:`I_i + [u_{I_i} < F_i]` (stratified),
with :math:`C_i = I_i + F_i` split into an exact integer part and a fraction, as in
:mod:`probinf.kernels.resampling`.  On shards this becomes (all inside one
``shard_map``, only the collectives named):

1. ``pmax`` of the local maximum log-weight, then ``e = exp(lw - max)`` and one ``psum``
   of the local float sums to scale the weights to about ``N``;
2. ``all_gather`` of the ``D`` local totals in split (integer, fraction) form; every
   shard adds them in the same fixed order, so all agree on the exact total, which
   renormalizes the weights so the offspring counts sum to ``N`` (float32 exactness
   holds globally: integers add exactly, the ``D`` fractions cost ``D`` roundings);
3. local split prefix sums (:func:`probinf.kernels.resampling.compensated_cumsum`) plus
   the exclusive prefix of the gathered shard totals, carried in split form: the
   global :math:`(I_i, F_i)` on every shard, without a global scan;
4. local offspring counts with one replicated ``u`` (systematic), or ``u_k`` drawn as
   ``uniform(fold_in(key, k))`` for the global stratum ``k`` (stratified: any shard
   draws any stratum's uniform without communication, independently of ``D``);
5. the exchange: the children of shard ``d`` fill the contiguous global slots
   ``[K_{start,d}, K_{end,d})``; the part of that range owned by shard ``e`` is sent
   with one ``all_to_all`` (dense fallback: a buffer of ``D x n`` per device, because
   XLA:CPU has no ``ragged_all_to_all``; on GPU the same pieces are exactly the
   ``send_sizes`` of a ragged exchange).

Law and draws: steps 1-5 give the same law as single-device systematic / stratified
resampling (:func:`probinf.resample`), checked by exact enumeration over ``u``.  With
the same key, systematic draws equal the single-device ones except where ``u`` lies
within the prefix-sum rounding (~1e-3 absolute) of some fraction :math:`F_i`;
stratified draws use another (``D``-independent) stream of uniforms.

No particle array is ever gathered onto one device: only ``D``-vectors of scalars
are all-gathered.

Calling convention: the ``local_*`` functions run inside ``shard_map`` over the
particle axis and return per-shard pieces; :func:`sharded_resample` and
:func:`sharded_resample_particles` are the validating public wrappers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, PartitionSpec
from jax.typing import ArrayLike

from probinf.distributed.mesh import check_mesh, shard_map, shard_particles
from probinf.exceptions import DegenerateWeightsError
from probinf.kernels.resampling import compensated_cumsum, compensated_sum, int_dtype
from probinf.weights import check_log_weights

__all__ = [
    "SHARDED_RESAMPLING_METHODS",
    "local_cumcounts",
    "local_exchange",
    "local_resample",
    "sharded_resample",
    "sharded_resample_particles",
]

SHARDED_RESAMPLING_METHODS = ("systematic", "stratified")

#: ``PartitionSpec`` typed as a callable (its constructor is unannotated in jax).
P: Callable[..., PartitionSpec] = PartitionSpec


def _exclusive_split(tw: jax.Array, tf: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Exclusive prefix of split totals ``tw + tf`` (length D, fixed order), normalized to frac in [0, 1)."""
    ow = jnp.cumsum(tw) - tw
    of = jnp.cumsum(tf) - tf
    c = jnp.floor(of)
    return ow + c.astype(ow.dtype), of - c


def local_scaled_weights(lw: jax.Array, num_total: int, axis: str) -> tuple[jax.Array, jax.Array]:
    """Per-shard weights scaled so that the *global* split total is ``num_total`` (steps 1-2)."""
    gmax = lax.pmax(jnp.max(lw), axis)  # type: ignore[no-untyped-call]  # unannotated in jax
    e = jnp.exp(lw - gmax)
    v = e * (num_total / lax.psum(jnp.sum(e), axis))  # type: ignore[no-untyped-call]  # unannotated in jax
    tw, tf = compensated_sum(v)
    aw, af = lax.all_gather(tw, axis), lax.all_gather(tf, axis)
    excess = (jnp.sum(aw) - num_total).astype(v.dtype) + jnp.sum(af)
    return v / (1.0 + excess / num_total), e > 0


def _shard_offsets(whole_last: jax.Array, frac_last: jax.Array, axis: str) -> tuple[jax.Array, jax.Array]:
    """Global split offset of this shard's prefix sums: the exclusive prefix of the shard totals."""
    ow, of = _exclusive_split(lax.all_gather(whole_last, axis), lax.all_gather(frac_last, axis))
    d = lax.axis_index(axis)
    return ow[d], of[d]


def local_cumcounts(key: jax.Array | None, lw: jax.Array, num_total: int, axis: str, method: str = "systematic",
                    u: ArrayLike | None = None) -> jax.Array:
    """Global cumulative offspring counts of this shard's particles (steps 1-4).

    ``cum[i]`` is the number of global output slots filled by particles up to and
    including local particle ``i``; it is an exact integer in ``[0, num_total]``.
    ``u`` (systematic only) overrides the uniform drawn from ``key``.
    """
    n = lw.shape[0]
    v, positive = local_scaled_weights(lw, num_total, axis)
    whole, frac = compensated_cumsum(v, total_bound=num_total + 1)
    ow, of = _shard_offsets(whole[-1], frac[-1], axis)
    f = frac + of
    c = jnp.floor(f)
    whole, frac = whole + ow + c.astype(whole.dtype), f - c
    if method == "systematic":
        if u is None:
            if key is None:
                raise ValueError("local_cumcounts needs a key unless u is given")
            u = jax.random.uniform(key, (), dtype=frac.dtype)  # the same key on every shard: one u
        cum = whole + (frac > u).astype(whole.dtype)
    elif method == "stratified":
        if key is None:
            raise ValueError("stratified local_cumcounts needs a key")
        skey = key
        w = jnp.clip(whole, 0, num_total - 1)
        u_at = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(skey, k), (), frac.dtype))(w)
        cum = whole + ((whole < num_total) & (u_at < frac)).astype(whole.dtype)
    else:  # pragma: no cover - validated by the wrappers
        raise ValueError(f"method must be one of {SHARDED_RESAMPLING_METHODS}, got {method!r}")
    cum = jnp.minimum(cum, num_total)
    # Rounding spill-over: slots past the last positive-weight particle go to it (as on one device).
    gidx = lax.axis_index(axis) * n + jnp.arange(n)
    last_valid = lax.pmax(jnp.max(jnp.where(positive, gidx, -1)), axis)  # type: ignore[no-untyped-call]  # unannotated in jax
    return jnp.where(gidx >= last_valid, num_total, cum).astype(int_dtype())


def local_exchange(cum: jax.Array, particles: Any, axis: str, num_shards: int) -> tuple[Any, jax.Array]:
    """Move the children to the shards that own their output slots (step 5).

    Returns ``(new_particles, ancestors)`` for this shard's ``n`` output slots;
    ``ancestors`` are global int32 indices.
    """
    n = cum.shape[0]
    d = lax.axis_index(axis)
    start = lax.all_gather(cum[-1], axis)
    start = jnp.concatenate([jnp.zeros((1,), start.dtype), start[:-1]])[d]  # K_{start,d}
    slots = jnp.arange(num_shards * n, dtype=cum.dtype).reshape(num_shards, n)  # global slot k = e*n + j
    local = jnp.minimum(jnp.searchsorted(cum, slots, side="right"), n - 1)  # first i with cum_i > k
    mine = (slots >= start) & (slots < cum[-1])
    anc = jnp.where(mine, d * n + local, -1).astype(jnp.int32)
    send = jax.tree_util.tree_map(lambda x: jnp.take(x, local, axis=0), particles)
    recv_anc = lax.all_to_all(anc, axis, 0, 0)  # type: ignore[no-untyped-call]  # recv[s] = what source shard s sent here
    recv = jax.tree_util.tree_map(lambda x: lax.all_to_all(x, axis, 0, 0), send)  # type: ignore[no-untyped-call]  # unannotated in jax
    src = jnp.argmax(recv_anc >= 0, axis=0)  # exactly one source owns each slot
    cols = jnp.arange(n)
    new = jax.tree_util.tree_map(lambda x: x[src, cols], recv)
    return new, recv_anc[src, cols]


def local_resample(key: jax.Array, lw: jax.Array, particles: Any, axis: str, num_shards: int,
                   method: str = "systematic") -> tuple[Any, jax.Array]:
    """Steps 1-5 on one shard: ``(resampled particles, global ancestors)``."""
    cum = local_cumcounts(key, lw, lw.shape[0] * num_shards, axis, method)
    return local_exchange(cum, particles, axis, num_shards)


def _check(key: ArrayLike | int, log_weights: ArrayLike, mesh: Mesh,
           method: str) -> tuple[ArrayLike, jax.Array, Mesh, str, int]:
    if method not in SHARDED_RESAMPLING_METHODS:
        raise ValueError(
            f"method={method!r} has no sharded form; use one of {SHARDED_RESAMPLING_METHODS} with a mesh "
            "(multinomial and residual need a global search: resample on one device instead)"
        )
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    check_log_weights(log_weights)
    lw = jnp.asarray(log_weights)
    if lw.ndim != 1:
        raise ValueError(f"log_weights must be 1-D (N,), got shape {lw.shape}")
    mesh, axis, d = check_mesh(mesh, lw.shape[0])
    if not bool(jnp.any(jnp.isfinite(lw))):
        raise DegenerateWeightsError("every log-weight is -inf: no particle can be resampled")
    return key, lw, mesh, axis, d


@partial(jax.jit, static_argnames=("mesh", "method", "num_shards", "axis"))
def _resample_jit(key: ArrayLike, lw: jax.Array, particles: Any, mesh: Mesh, method: str, num_shards: int,
                  axis: str) -> tuple[Any, jax.Array]:
    f = shard_map(
        lambda k, w, x: local_resample(k, w, x, axis, num_shards, method),
        mesh, in_specs=(P(), P(axis), P(axis)), out_specs=(P(axis), P(axis)),
    )
    out: tuple[Any, jax.Array] = f(key, lw, particles)
    return out


def sharded_resample_particles(key: ArrayLike | int, particles: Any, log_weights: ArrayLike, mesh: Mesh,
                               method: str = "systematic") -> tuple[Any, jax.Array]:
    r"""Resample a sharded particle system exactly; particles stay sharded.

    Parameters
    ----------
    key : PRNG key or int
    particles : pytree of arrays with leading axis N
        Sharded (or placed here) with :func:`probinf.distributed.shard_particles`.
    log_weights : (N,) array
        Unnormalized log-weights (``-inf`` allowed).
    mesh : jax.sharding.Mesh
        One-axis mesh (:func:`probinf.distributed.particle_mesh`); ``N`` a multiple of its size.
    method : {"systematic", "stratified"}

    Returns
    -------
    (particles, ancestors)
        The resampled pytree and the (N,) int32 global ancestor indices, both sharded.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probinf.distributed import particle_mesh
    >>> x, anc = sharded_resample_particles(0, jnp.arange(4.0), jnp.log(jnp.array([0., 0., 1., 1.])),
    ...                                     particle_mesh())
    >>> sorted(anc.tolist())
    [2, 2, 3, 3]
    """
    key, lw, mesh, axis, d = _check(key, log_weights, mesh, method)
    for leaf in jax.tree_util.tree_leaves(particles):
        if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != lw.shape[0]:
            raise ValueError(f"every particle leaf needs leading axis N={lw.shape[0]}, got shape {jnp.shape(leaf)}")
    particles = shard_particles(particles, mesh)
    lw = shard_particles(lw, mesh)
    out: tuple[Any, jax.Array] = _resample_jit(key, lw, particles, mesh, method, d, axis)
    return out


def sharded_resample(key: ArrayLike | int, log_weights: ArrayLike, mesh: Mesh, method: str = "systematic") -> jax.Array:
    """Global ancestor indices (N,) of sharded exact resampling (same law as :func:`probinf.resample`)."""
    key, lw, mesh, axis, d = _check(key, log_weights, mesh, method)
    idx = jnp.arange(lw.shape[0], dtype=jnp.int32)
    return sharded_resample_particles(key, idx, lw, mesh, method)[1]


@partial(jax.jit, static_argnames=("mesh",))
def systematic_from_uniform(log_weights: jax.Array, u: ArrayLike, mesh: Mesh) -> jax.Array:
    """Sharded systematic ancestors driven by an explicit ``u`` in [0, 1) (the exact-enumeration harness)."""
    _, axis, d = check_mesh(mesh, log_weights.shape[0])

    def body(lw: jax.Array, uu: jax.Array) -> jax.Array:
        cum = local_cumcounts(None, lw, lw.shape[0] * d, axis, "systematic", u=uu)
        return local_exchange(cum, jnp.arange(lw.shape[0]), axis, d)[1]

    anc: jax.Array = shard_map(body, mesh, in_specs=(P(axis), P()), out_specs=P(axis))(log_weights, u)
    return anc
