r"""Per-particle Gaussian-mixture log-likelihood without the P x n x K tensor.

For P parameter sets (particles), n data points in D dimensions and K diagonal
Gaussian components,

.. math::

    \ell_p = \sum_{i=1}^n \log \sum_{k=1}^K \pi_{pk}\,
             \mathcal N(x_i \mid \mu_{pk}, \operatorname{diag}\sigma_{pk}^2),

with ``log_weights`` :math:`= \log\pi` (P, K), ``means`` :math:`= \mu` (P, K, D) and
``scales`` :math:`= \sigma` (P, K, D).  One-dimensional data may be passed as
``x`` of shape (n,) with ``means``/``scales`` of shape (P, K).

Backends (``backend=``):

- ``"reference"``: the obvious broadcast over (P, n, K, D) then ``logsumexp``; the
  oracle of the tests (memory O(P n K D)).
- ``"cpu"`` (default here): data processed in chunks inside ``lax.scan``; XLA fuses
  the squared distance, the max and the exp-sum over K, so memory is
  O(P * chunk * K) and independent of n.  Differentiable.
- ``"pallas"``: a Pallas kernel over a (particle-block, data-block) grid for GPUs,
  with a custom VJP whose backward pass is the ``"cpu"`` path.  On a machine
  without a GPU it runs only with ``interpret=True`` (used by the tests).

Conventions: ``log_weights`` need not be normalized (pass ``log_softmax`` output if
they should be); ``-inf`` weights switch a component off; empty data (n = 0) gives
0 (the log-likelihood of no data); K = 0 gives ``-inf`` (an empty log-sum-exp).
NaN in any input propagates to the affected particles (not raised, so that an SMC
sampler can reject those particles).  Float32 results match the float64 reference
to a relative 1e-5 of ``sum |terms|``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from probinf.kernels._backend_table import choose_backend
from probinf.kernels._device import jax_has_gpu as _has_gpu
from probinf.kernels._device import next_pow2 as _next_pow2
from probinf.kernels._device import require_pallas_device

__all__ = ["mixture_loglik", "MIXTURE_BACKENDS"]

MIXTURE_BACKENDS = ("auto", "reference", "cpu", "pallas")
_LOG_2PI = math.log(2.0 * math.pi)


def _standardize(x: ArrayLike, log_weights: ArrayLike, means: ArrayLike,
                 scales: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    x = jnp.asarray(x)
    log_weights = jnp.asarray(log_weights)
    means = jnp.asarray(means)
    scales = jnp.asarray(scales)
    if log_weights.ndim != 2:
        raise ValueError(f"log_weights must have shape (P, K), got {log_weights.shape}")
    P, K = log_weights.shape
    if x.ndim == 1:
        x = x[:, None]
        if means.shape == (P, K):
            means = means[..., None]
        if scales.shape == (P, K):
            scales = scales[..., None]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n,) or (n, D), got {x.shape}")
    D = x.shape[1]
    for name, arr in (("means", means), ("scales", scales)):
        if arr.shape != (P, K, D):
            raise ValueError(
                f"{name} must have shape (P, K, D) = {(P, K, D)} to match log_weights {log_weights.shape} "
                f"and x {x.shape}, got {arr.shape}"
            )
    dtype = jnp.result_type(x, log_weights, means, scales, jnp.float32)
    return x.astype(dtype), log_weights.astype(dtype), means.astype(dtype), scales.astype(dtype)


def _component_consts(log_weights: jax.Array, scales: jax.Array) -> jax.Array:
    # log pi_k - sum_d log sigma_kd - D/2 log(2 pi): everything that does not depend on x.
    D = scales.shape[-1]
    return log_weights - jnp.sum(jnp.log(scales), axis=-1) - 0.5 * D * _LOG_2PI


def _lse_last(a: jax.Array) -> jax.Array:
    m = jnp.max(a, axis=-1, keepdims=True)
    m = jnp.where(jnp.isfinite(m), m, 0.0)  # all -inf (or K = 0) -> -inf, not NaN
    return jnp.log(jnp.sum(jnp.exp(a - m), axis=-1)) + m[..., 0]


def _reference(x: jax.Array, log_weights: jax.Array, means: jax.Array, scales: jax.Array) -> jax.Array:
    c = _component_consts(log_weights, scales)  # (P, K)
    z = (x[None, :, None, :] - means[:, None, :, :]) / scales[:, None, :, :]  # (P, n, K, D)
    logits = c[:, None, :] - 0.5 * jnp.sum(z * z, axis=-1)
    return jnp.sum(_lse_last(logits), axis=1)


@partial(jax.jit, static_argnames=("chunk",))
def _cpu(x: jax.Array, log_weights: jax.Array, means: jax.Array, scales: jax.Array, chunk: int) -> jax.Array:
    n, D = x.shape
    c = _component_consts(log_weights, scales)
    prec = 1.0 / (scales * scales)
    nchunks = max(1, -(-n // chunk))
    pad = nchunks * chunk - n
    xp = jnp.pad(x, ((0, pad), (0, 0))).reshape(nchunks, chunk, D)
    mask = jnp.pad(jnp.ones((n,), x.dtype), (0, pad)).reshape(nchunks, chunk)

    def body(acc: jax.Array, inp: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        xc, mc = inp
        # (P, chunk, K, D) is never stored: XLA fuses the difference, the squared
        # sum over D, the max and the exp-sum over K into one loop per chunk.
        d = xc[None, :, None, :] - means[:, None, :, :]
        logits = c[:, None, :] - 0.5 * jnp.sum(d * d * prec[:, None, :, :], axis=-1)
        lse = _lse_last(logits)  # (P, chunk)
        return acc + jnp.sum(jnp.where(mc[None, :] > 0, lse, 0.0), axis=1), None

    acc0 = jnp.zeros((log_weights.shape[0],), x.dtype)
    out, _ = lax.scan(body, acc0, (xp, mask))
    return out


def _pallas_forward(x: jax.Array, log_weights: jax.Array, means: jax.Array, scales: jax.Array, *, block_p: int = 16,
                    block_n: int = 128, interpret: bool = False) -> jax.Array:
    from jax.experimental import pallas as pl

    n, D = x.shape
    P, K = log_weights.shape
    Kp, Dp = _next_pow2(K), _next_pow2(D)
    Pp = -(-P // block_p) * block_p
    n_blocks = max(1, -(-n // block_n))
    npad = n_blocks * block_n
    dtype = x.dtype
    c = _component_consts(log_weights, scales)
    prec = 1.0 / (scales * scales)
    # Padding: extra components get weight -inf, extra dimensions precision 0,
    # extra data rows mask 0, extra particles are sliced away.
    c = jnp.pad(c, ((0, Pp - P), (0, Kp - K)), constant_values=-jnp.inf)
    mu = jnp.pad(means, ((0, Pp - P), (0, Kp - K), (0, Dp - D)))
    prec = jnp.pad(prec, ((0, Pp - P), (0, Kp - K), (0, Dp - D)))
    xp = jnp.pad(x, ((0, npad - n), (0, Dp - D)))
    mask = jnp.pad(jnp.ones((n,), dtype), (0, npad - n))

    def kernel(c_ref: Any, mu_ref: Any, prec_ref: Any, x_ref: Any, mask_ref: Any, out_ref: Any) -> None:
        cc = c_ref[...]
        d = x_ref[...][None, :, None, :] - mu_ref[...][:, None, :, :]
        logits = cc[:, None, :] - 0.5 * jnp.sum(d * d * prec_ref[...][:, None, :, :], axis=-1)
        m = jnp.max(logits, axis=-1, keepdims=True)
        m = jnp.where(m > -jnp.inf, m, 0.0)
        lse = jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1)) + m[..., 0]
        # where, not a product: padded rows (mask 0) of a particle whose components are all off
        # have lse = -inf, and -inf * 0 would turn the particle's total into NaN
        out_ref[...] = jnp.sum(jnp.where(mask_ref[...][None, :] > 0, lse, 0.0), axis=1, keepdims=True)

    partial_sums = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((Pp, n_blocks), dtype),  # type: ignore[no-untyped-call]  # unannotated in jax
        grid=(Pp // block_p, n_blocks),
        in_specs=[
            pl.BlockSpec((block_p, Kp), lambda i, j: (i, 0)),
            pl.BlockSpec((block_p, Kp, Dp), lambda i, j: (i, 0, 0)),
            pl.BlockSpec((block_p, Kp, Dp), lambda i, j: (i, 0, 0)),
            pl.BlockSpec((block_n, Dp), lambda i, j: (j, 0)),
            pl.BlockSpec((block_n,), lambda i, j: (j,)),
        ],
        out_specs=pl.BlockSpec((block_p, 1), lambda i, j: (i, j)),
        interpret=interpret,
    )(c, mu, prec, xp, mask)
    return jnp.sum(partial_sums, axis=1)[:P]


#: (x, log_weights, means, scales), the residuals of the custom VJP
_Params = tuple[jax.Array, jax.Array, jax.Array, jax.Array]


def _make_pallas(interpret: bool, chunk: int) -> Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]:
    @jax.custom_vjp
    def f(x: jax.Array, lw: jax.Array, mu: jax.Array, sc: jax.Array) -> jax.Array:
        return _pallas_forward(x, lw, mu, sc, interpret=interpret)

    def fwd(x: jax.Array, lw: jax.Array, mu: jax.Array, sc: jax.Array) -> tuple[jax.Array, _Params]:
        return f(x, lw, mu, sc), (x, lw, mu, sc)

    def bwd(res: _Params, g: jax.Array) -> tuple[jax.Array, ...]:
        _, vjp = jax.vjp(lambda *a: _cpu(*a, chunk), *res)
        grads: tuple[jax.Array, ...] = vjp(g)
        return grads

    f.defvjp(fwd, bwd)
    return f


def mixture_loglik(x: ArrayLike, log_weights: ArrayLike, means: ArrayLike, scales: ArrayLike, *,
                   backend: str = "auto", chunk_size: int = 64, interpret: bool = False) -> jax.Array:
    r"""Total log-likelihood of ``x`` under each particle's diagonal Gaussian mixture.

    Parameters
    ----------
    x : array (n,) or (n, D)
        Data points.
    log_weights : array (P, K)
        Log mixture weights per particle (``-inf`` switches a component off).
    means, scales : arrays (P, K, D), or (P, K) when ``x`` is 1-D
        Component means and standard deviations (> 0).
    backend : {"auto", "reference", "cpu", "pallas"}
        ``"auto"`` picks the path measured fastest for the device and size
        (:mod:`probinf.kernels._backend_table`: ``"pallas"`` on a GPU from ~1e9
        point-component pairs, ``"cpu"``, XLA's chunked path, otherwise).
    chunk_size : int
        Data points per chunk on the ``"cpu"`` path (memory O(P * chunk_size * K)).
    interpret : bool
        Run the Pallas kernel in interpreter mode (CPU testing of the GPU path).

    Returns
    -------
    array (P,)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> ll = mixture_loglik(jnp.zeros(3), jnp.zeros((1, 1)), jnp.zeros((1, 1)), jnp.ones((1, 1)))
    >>> round(float(ll[0]), 4)  # 3 * log N(0 | 0, 1)
    -2.7568
    """
    if backend not in MIXTURE_BACKENDS:
        raise ValueError(f"backend must be one of {MIXTURE_BACKENDS}, got {backend!r}")
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    x, log_weights, means, scales = _standardize(x, log_weights, means, scales)
    P, K = log_weights.shape
    if P == 0:
        return jnp.zeros((0,), x.dtype)
    if K == 0:
        return jnp.full((P,), -jnp.inf if x.shape[0] > 0 else 0.0, x.dtype)
    if x.shape[0] == 0:
        return jnp.zeros((P,), x.dtype)
    if backend == "auto":
        backend = choose_backend("mixture", "gpu" if _has_gpu() else "cpu", P * x.shape[0] * K * x.shape[1])
    if backend == "reference":
        return _reference(x, log_weights, means, scales)
    if backend == "cpu":
        out: jax.Array = _cpu(x, log_weights, means, scales, int(min(chunk_size, x.shape[0])))
        return out
    require_pallas_device(interpret, _has_gpu())
    return _make_pallas(interpret, int(min(chunk_size, x.shape[0])))(x, log_weights, means, scales)
