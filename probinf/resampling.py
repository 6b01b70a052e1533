r"""Resampling schemes returning ancestor indices, exact in float32 for N up to 1e8.

``resample(key, log_weights, num_samples=None, method="systematic")`` draws
``num_samples`` ancestor indices ``A_k`` with ``E[#{k : A_k = i}] = M w_i``
(``M = num_samples``) for the unbiased schemes ``multinomial``, ``stratified``,
``systematic`` and ``residual`` (Douc, Cappe & Moulines 2005).

Numerics: weights stay in log space until one ``exp(lw - max)``; the running sums
of ``M w_i`` are kept split into an exact integer part and a fractional part
(:func:`probinf.kernels.resampling.compensated_cumsum`, a blocked two-level scan that
is also fast on CPU), and the total is renormalized once so that the offspring counts
sum to ``M`` even when the float sum of the weights is off by many ulps.  This removes the float32 bias that Murray,
Lee & Jacob (2016, doi:10.1080/10618600.2015.1062015) measured beyond ~1e5 particles.

Calling convention: pure, jit/vmap-able functions ``(key, log_weights) ->
int32 indices``.  The public :func:`resample` validates concrete inputs and
raises; :func:`resample_with_flag` is the traceable variant returning
``(indices, valid)`` for algorithms that carry the flag out of ``jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from probinf._checks import as_key, check_positive_int, int_dtype
from probinf.exceptions import DegenerateWeightsError
from probinf.kernels.resampling import (
    ancestors_from_cumcounts,
    compensated_cumsum,
    compensated_sum,
    exact_int_cumsum,
    search_sorted_split,
)
from probinf.weights import _as_real_array, check_log_weights, weights_valid

if TYPE_CHECKING:
    from jax.sharding import Mesh

__all__ = [
    "resample",
    "resample_with_flag",
    "Resampler",
    "RESAMPLING_METHODS",
    "RESAMPLING_FROM_UNIFORMS",
    "scaled_weights",
]


class Resampler(Protocol):
    """``(key, log_weights, num_samples) -> ancestor indices`` (shape ``(num_samples,)``)."""

    def __call__(self, key: ArrayLike, log_weights: ArrayLike, num_samples: int) -> jax.Array: ...


def scaled_weights(log_weights: ArrayLike, num_samples: int) -> tuple[jax.Array, jax.Array]:
    """Weights scaled to sum to ``num_samples``, renormalized with an exact total.

    Returns ``(v, last_valid)`` where ``last_valid`` is the index of the last
    particle with positive weight (the clip target for rounding spill-over).
    """
    lw = jnp.asarray(log_weights)
    n = lw.shape[0]
    e = jnp.exp(lw - jnp.max(lw))  # max entry -> 1; -inf -> exactly 0
    # A float32 sum is off by ~1e-6 relative, i.e. whole offspring at N = 1e7:
    # scale with it once, then renormalize with the split (integer + fraction)
    # total, which is exact to ~1e-4 absolute, so the counts sum to M.
    v = e * (num_samples / jnp.sum(e))
    tw, tf = compensated_sum(v)
    excess = (tw - num_samples).astype(v.dtype) + tf
    v = v / (1.0 + excess / num_samples)
    idx = jnp.arange(n)
    last_valid = jnp.max(jnp.where(e > 0, idx, 0)).astype(jnp.int32)
    return v, last_valid


def _ancestors_from_cumcounts(cumcounts: ArrayLike, num_samples: int, last_valid: ArrayLike) -> jax.Array:
    """Slot k gets the first particle whose cumulative count exceeds k (exact integers, no contended scatter)."""
    return ancestors_from_cumcounts(cumcounts, num_samples, last_valid)


def _systematic_u(log_weights: ArrayLike, num_samples: int, u: ArrayLike) -> jax.Array:
    """Systematic resampling with the single uniform ``u`` in [0, 1) given."""
    v, last_valid = scaled_weights(log_weights, num_samples)
    whole, frac = compensated_cumsum(v, total_bound=num_samples + 1)
    # #{k >= 0 : u + k < C_i} = I_i + [F_i > u]: exact integer cumulative counts.
    cum = whole + (frac > u).astype(whole.dtype)
    return _ancestors_from_cumcounts(jnp.minimum(cum, num_samples), num_samples, last_valid)


def _systematic(key: ArrayLike, log_weights: ArrayLike, num_samples: int) -> jax.Array:
    u = jax.random.uniform(key, (), dtype=jnp.result_type(log_weights, jnp.float32))
    return _systematic_u(log_weights, num_samples, u)


def _search(v: jax.Array, last_valid: jax.Array, target_whole: jax.Array, target_frac: jax.Array) -> jax.Array:
    whole, frac = compensated_cumsum(v, total_bound=target_whole.shape[0] + 1)
    return search_sorted_split(whole, frac, target_whole, target_frac, last_valid=last_valid)


def _stratified_u(log_weights: ArrayLike, num_samples: int, u: ArrayLike) -> jax.Array:
    """Stratified resampling with the uniforms ``u`` (shape (M,), in [0, 1)) given."""
    v, last_valid = scaled_weights(log_weights, num_samples)
    whole, frac = compensated_cumsum(v, total_bound=num_samples + 1)
    # Targets k + u_k are sorted, and k + u_k < I_i + F_i  <=>  k < I_i or
    # (k == I_i and u_k < F_i): #{k : k + u_k < C_i} = I_i + [u_{I_i} < F_i],
    # exact integers, no binary search.
    w = jnp.minimum(whole, num_samples)
    u_at = jnp.take(u, jnp.minimum(w, num_samples - 1))
    cum = w + ((w < num_samples) & (u_at < frac)).astype(w.dtype)
    return _ancestors_from_cumcounts(cum, num_samples, last_valid)


def _stratified(key: ArrayLike, log_weights: ArrayLike, num_samples: int) -> jax.Array:
    u = jax.random.uniform(key, (num_samples,), dtype=jnp.result_type(log_weights, jnp.float32))
    return _stratified_u(log_weights, num_samples, u)


def _split_targets(u: jax.Array, scale: ArrayLike) -> tuple[jax.Array, jax.Array]:
    t = u * scale
    tw = jnp.floor(t)
    return tw.astype(int_dtype()), t - tw


def _multinomial_targets(log_weights: ArrayLike, num_samples: int, tw: jax.Array, tf: jax.Array) -> jax.Array:
    v, last_valid = scaled_weights(log_weights, num_samples)
    return _search(v, last_valid, tw, tf)


def _multinomial_u(log_weights: ArrayLike, num_samples: int, u: jax.Array) -> jax.Array:
    """Multinomial resampling with targets ``u * M`` (``u`` of shape (M,) in [0, 1)) given."""
    tw, tf = _split_targets(u, num_samples)
    return _multinomial_targets(log_weights, num_samples, tw, tf)


def _uniform_targets(key: ArrayLike, num_samples: int, upper: ArrayLike,
                     dtype: DTypeLike) -> tuple[jax.Array, jax.Array]:
    """``num_samples`` i.i.d. uniform points on ``[0, upper)`` as exact ``(integer, fraction)`` pairs."""
    k1, k2 = jax.random.split(key)
    # float32 uniforms alone have only 2**24 levels and could not reach every
    # particle when upper > 1.6e7: draw the integer part exactly.
    tw = jax.random.randint(k1, (num_samples,), 0, upper, dtype=int_dtype())
    tf = jax.random.uniform(k2, (num_samples,), dtype=dtype)
    return tw, tf


def _multinomial(key: ArrayLike, log_weights: ArrayLike, num_samples: int) -> jax.Array:
    dtype = jnp.result_type(log_weights, jnp.float32)
    tw, tf = _uniform_targets(key, num_samples, num_samples, dtype)
    return _multinomial_targets(log_weights, num_samples, tw, tf)


def _residual_targets(log_weights: ArrayLike, num_samples: int,
                      targets: Callable[[jax.Array, DTypeLike], tuple[jax.Array, jax.Array]]) -> jax.Array:
    v, last_valid = scaled_weights(log_weights, num_samples)
    floors = jnp.floor(v)
    resid = v - floors  # exact in floating point
    det = exact_int_cumsum(floors.astype(int_dtype()), total_bound=num_samples)
    n_det = det[-1]
    det_anc = _ancestors_from_cumcounts(jnp.minimum(det, num_samples), num_samples, last_valid)
    # Multinomial draws for the remaining M - sum(floor(M w)) slots, from the residuals.
    n_res = jnp.maximum(num_samples - n_det, 1)
    tw, tf = targets(n_res, v.dtype)
    rwhole, rfrac = compensated_cumsum(resid, total_bound=v.shape[0])
    res_last = jnp.max(jnp.where(resid > 0, jnp.arange(v.shape[0]), 0)).astype(jnp.int32)
    res_anc = search_sorted_split(rwhole, rfrac, tw, tf, last_valid=res_last)
    slot = jnp.arange(num_samples)
    shifted = jnp.take(res_anc, jnp.clip(slot - n_det, 0, num_samples - 1))
    return jnp.where(slot < n_det, det_anc, shifted).astype(jnp.int32)


def _residual_u(log_weights: ArrayLike, num_samples: int, u: jax.Array) -> jax.Array:
    """Residual resampling; residual slot ``k`` uses the target ``u_k * (M - sum floor(M w))``."""
    return _residual_targets(log_weights, num_samples, lambda n_res, dt: _split_targets(u.astype(dt), n_res.astype(dt)))


def _residual(key: ArrayLike, log_weights: ArrayLike, num_samples: int) -> jax.Array:
    return _residual_targets(log_weights, num_samples, lambda n_res, dt: _uniform_targets(key, num_samples, n_res, dt))


#: The same schemes driven by explicit uniforms instead of a key:
#: ``f(log_weights, num_samples, u) -> ancestors`` with ``u`` a scalar for
#: systematic and an ``(M,)`` vector otherwise.  Used by the exact-enumeration
#: harness (:mod:`probinf.validate.enumeration`), which partitions the uniforms.
RESAMPLING_FROM_UNIFORMS: dict[str, Callable[[ArrayLike, int, jax.Array], jax.Array]] = {
    "multinomial": _multinomial_u,
    "stratified": _stratified_u,
    "systematic": _systematic_u,
    "residual": _residual_u,
}


RESAMPLING_METHODS: dict[str, Resampler] = {
    "multinomial": _multinomial,
    "stratified": _stratified,
    "systematic": _systematic,
    "residual": _residual,
}


def _check_method(method: str) -> Resampler:
    if method not in RESAMPLING_METHODS:
        raise ValueError(
            f"method must be one of {sorted(RESAMPLING_METHODS)}, got {method!r}"
        )
    return RESAMPLING_METHODS[method]


def _check_num_samples(num_samples: int | None, n: int) -> int:
    return n if num_samples is None else check_positive_int(num_samples, "num_samples")


@partial(jax.jit, static_argnames=("num_samples", "method"))
def _resample_with_flag(key: ArrayLike, log_weights: ArrayLike, num_samples: int,
                        method: str = "systematic") -> tuple[jax.Array, jax.Array]:
    fn = RESAMPLING_METHODS[method]
    return fn(key, log_weights, num_samples), weights_valid(log_weights)


def resample_with_flag(key: ArrayLike | int, log_weights: ArrayLike, num_samples: int,
                       method: str = "systematic") -> tuple[jax.Array, jax.Array]:
    """Traceable resampling: ``(ancestors, valid)``; ``valid`` is False for NaN/+inf/all -inf.

    ``key`` is a JAX key or an int seed; ``num_samples`` and ``method`` are static.
    """
    _check_method(method)
    lw = _as_real_array(log_weights, "log_weights")  # type/dtype/rank are known before tracing; values are the flag
    if lw.ndim != 1 or lw.shape[0] < 1:
        raise ValueError(f"log_weights must be 1-D with at least one particle, got shape {lw.shape}; "
                         "pass an array of shape (N,)")
    out: tuple[jax.Array, jax.Array] = _resample_with_flag(
        as_key(key), lw, check_positive_int(num_samples, "num_samples"), method)
    return out


def resample(key: ArrayLike | int, log_weights: ArrayLike, num_samples: int | None = None, method: str = "systematic",
             *, mesh: Mesh | None = None) -> jax.Array:
    r"""Draw ancestor indices from normalized or unnormalized log-weights.

    Parameters
    ----------
    key : jax.random.key or int
        Explicit PRNG key (an int seed is turned into ``jax.random.key(seed)``); same key, same indices.
    log_weights : array of shape (N,)
        Unnormalized log-weights (``-inf`` allowed: such particles are never drawn).
    num_samples : int, optional
        Number ``M`` of indices to draw (default ``N``).
    method : {"systematic", "stratified", "multinomial", "residual"}
        Resampling scheme.  All are unbiased: ``E[count_i] = M w_i``.  Systematic
        counts lie in ``{floor(M w_i), ceil(M w_i)}``.
    mesh : jax.sharding.Mesh, optional
        Resample weights sharded over the mesh's devices, exactly (systematic or
        stratified, ``M = N``); see :func:`probinf.distributed.sharded_resample`.

    Returns
    -------
    ancestors : int32 array of shape (M,)

    Raises
    ------
    InvalidWeightsError
        NaN or +inf log-weights, or a non 1-D input.
    DegenerateWeightsError
        Every log-weight is ``-inf``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> idx = resample(jax.random.PRNGKey(0), jnp.log(jnp.array([0.0, 0.5, 0.5])))
    >>> bool((idx > 0).all()), idx.shape
    (True, (3,))
    """
    if mesh is not None:
        from probinf.distributed.resampling import sharded_resample

        if num_samples is not None and num_samples != jnp.shape(log_weights)[0]:
            raise ValueError(f"with mesh=, num_samples must be N={jnp.shape(log_weights)[0]}, got {num_samples}")
        return sharded_resample(key, log_weights, mesh, method)
    fn = _check_method(method)
    key = as_key(key)
    traced = isinstance(log_weights, jax.core.Tracer) or isinstance(key, jax.core.Tracer)
    if not isinstance(log_weights, jax.core.Tracer):
        check_log_weights(log_weights)
    lw = jnp.asarray(log_weights)
    if lw.ndim != 1:
        raise ValueError(f"log_weights must be 1-D (N,), got shape {lw.shape}; vmap for batches")
    m = _check_num_samples(num_samples, lw.shape[0])
    if traced:
        return fn(key, lw, m)
    idx: jax.Array
    idx, valid = _resample_with_flag(key, lw, m, method)
    if not bool(valid):  # defensive: check_log_weights already caught it
        raise DegenerateWeightsError("log_weights are not usable for resampling")
    return idx
