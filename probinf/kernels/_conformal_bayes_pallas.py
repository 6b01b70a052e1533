r"""The Pallas (GPU) path of :func:`probinf.kernels.conformal_bayes_scores`: two fused kernels, streamed over draws.

Same maths as the module :mod:`probinf.kernels.conformal_bayes` (which dispatches here with ``backend="pallas"``);
every log-sum-exp over draws is exact (max-subtracted, streamed over T in blocks).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from probinf.kernels._device import next_pow2 as _next_pow2

__all__ = ["pallas_scores"]


def _online_lse_step(m: jax.Array, s: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Fold the block ``x`` (reduced over axis 0) into a running (max, rescaled exp-sum)."""
    new_m = jnp.maximum(m, jnp.max(x, axis=0))
    safe = jnp.where(jnp.isfinite(new_m), new_m, 0.0)
    # exp(m - safe) rescales the old sum; m = -inf means nothing was summed yet (s = 0).
    s = s * jnp.exp(jnp.where(jnp.isfinite(m), m - safe, -jnp.inf)) + jnp.sum(jnp.exp(x - safe), axis=0)
    return new_m, s


def _finish_lse(m: jax.Array, s: jax.Array) -> jax.Array:
    # m + log s with s >= 1 when m is finite; all -inf gives -inf (s = 0).
    return jnp.where(jnp.isfinite(m), m + jnp.log(s), m)


@partial(jax.jit, static_argnames=("return_train", "interpret", "block_t", "block_g", "block_n"))
def pallas_scores(lt: jax.Array, lg: jax.Array, lw0: jax.Array, *, return_train: bool, interpret: bool,
                  block_t: int = 8, block_g: int = 32,
                  block_n: int = 32) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None]:
    """Two Pallas kernels; every log-sum-exp over draws is exact (max-subtracted, streamed over T).

    Kernel 1, grid over G-blocks: streams T in ``block_t`` slices and keeps running (max, sum)
    for :math:`\\ell_t + \\log f(y_g)`, its double and :math:`\\ell_t + 2 \\log f(y_g)`; it
    writes ``lse_lw``, ``log_score_test`` and ``ess`` per column.
    Kernel 2, grid over (G-block, n-block): streams T the same way for the (block_g, block_n)
    train log-scores and writes them (when requested) and, per (grid value, n-block), the
    count of train scores ``<=`` the test score.  Outside the kernels (plain jnp): padding,
    summing the per-block counts and the p-value ``(1 + count) / (n + 1)``.
    """
    from jax.experimental import pallas as pl

    T, n = lt.shape
    G = lg.shape[1]
    dtype = lt.dtype
    bt = min(block_t, _next_pow2(T))
    bg = min(block_g, _next_pow2(G))
    bn = min(block_n, _next_pow2(max(n, 1)))
    n_tb = -(-T // bt)
    Tp, Gp = n_tb * bt, -(-G // bg) * bg
    Np = -(-n // bn) * bn
    # Padded draws have log-weight -inf (no mass); padded grid columns (log-weight 0, finite)
    # and padded train points (masked out of the counts) are sliced away.
    lw = lw0[:, None] + lg
    lw_p = jnp.pad(lw, ((0, Tp - T), (0, 0)), constant_values=-jnp.inf)
    lw_p = jnp.pad(lw_p, ((0, 0), (0, Gp - G)))
    lg_p = jnp.pad(lg, ((0, Tp - T), (0, 0)), constant_values=-jnp.inf)
    lg_p = jnp.pad(lg_p, ((0, 0), (0, Gp - G)))

    def grid_kernel(lw_ref: Any, lg_ref: Any, lse_ref: Any, test_ref: Any, ess_ref: Any) -> None:
        def body(k: int, carry: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
            m1, s1, m2, s2, m3, s3 = carry
            a = lw_ref[pl.ds(k * bt, bt), :]
            b = lg_ref[pl.ds(k * bt, bt), :]
            m1, s1 = _online_lse_step(m1, s1, a)
            m2, s2 = _online_lse_step(m2, s2, 2.0 * a)
            m3, s3 = _online_lse_step(m3, s3, a + b)
            return m1, s1, m2, s2, m3, s3

        ninf = jnp.full((bg,), -jnp.inf, dtype)
        zero = jnp.zeros((bg,), dtype)
        m1, s1, m2, s2, m3, s3 = lax.fori_loop(0, n_tb, body, (ninf, zero, ninf, zero, ninf, zero))
        lse = _finish_lse(m1, s1)
        lse_ref[...] = lse
        test_ref[...] = _finish_lse(m3, s3) - lse
        ess_ref[...] = jnp.exp(2.0 * lse - _finish_lse(m2, s2))

    col = pl.BlockSpec((bg,), lambda j: (j,))
    lse_lw, log_test, ess = pl.pallas_call(
        grid_kernel,
        out_shape=[jax.ShapeDtypeStruct((Gp,), dtype)] * 3,  # type: ignore[no-untyped-call]  # unannotated in jax
        grid=(Gp // bg,),
        in_specs=[pl.BlockSpec((Tp, bg), lambda j: (0, j))] * 2,
        out_specs=[col, col, col],
        interpret=interpret,
    )(lw_p, lg_p)

    if n == 0:
        counts = jnp.zeros((G,), jnp.int32)
        log_train = jnp.zeros((G, 0), dtype) if return_train else None
    else:
        lt_p = jnp.pad(lt, ((0, Tp - T), (0, Np - n)), constant_values=-jnp.inf)

        def train_kernel(lw_ref: Any, lt_ref: Any, lse_ref: Any, test_ref: Any, *out_refs: Any) -> None:
            def body(k: int, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
                m, s = carry
                a = lw_ref[pl.ds(k * bt, bt), :]
                b = lt_ref[pl.ds(k * bt, bt), :]
                return _online_lse_step(m, s, a[:, :, None] + b[:, None, :])  # (bt, bg, bn) -> (bg, bn)

            m0 = jnp.full((bg, bn), -jnp.inf, dtype)
            m, s = lax.fori_loop(0, n_tb, body, (m0, jnp.zeros((bg, bn), dtype)))
            scores = _finish_lse(m, s) - lse_ref[...][:, None]
            cols = pl.program_id(1) * bn + jnp.arange(bn)
            below = (scores <= test_ref[...][:, None]) & (cols[None, :] < n)
            out_refs[0][...] = jnp.sum(below.astype(jnp.int32), axis=1)[:, None]
            if return_train:
                out_refs[1][...] = scores

        out_shape = [jax.ShapeDtypeStruct((Gp, Np // bn), jnp.int32)]  # type: ignore[no-untyped-call]  # as above
        out_specs = [pl.BlockSpec((bg, 1), lambda i, j: (i, j))]
        if return_train:
            out_shape.append(jax.ShapeDtypeStruct((Gp, Np), dtype))  # type: ignore[no-untyped-call]  # as above
            out_specs.append(pl.BlockSpec((bg, bn), lambda i, j: (i, j)))
        outs = pl.pallas_call(
            train_kernel,
            out_shape=out_shape,
            grid=(Gp // bg, Np // bn),
            in_specs=[
                pl.BlockSpec((Tp, bg), lambda i, j: (0, i)),
                pl.BlockSpec((Tp, bn), lambda i, j: (0, j)),
                pl.BlockSpec((bg,), lambda i, j: (i,)),
                pl.BlockSpec((bg,), lambda i, j: (i,)),
            ],
            out_specs=out_specs,
            interpret=interpret,
        )(lw_p, lt_p, lse_lw, log_test)
        counts = jnp.sum(outs[0], axis=1)[:G]
        log_train = outs[1][:G, :n] if return_train else None
    pvalues = (1.0 + counts.astype(dtype)) / (n + 1.0)
    return pvalues, log_test[:G], ess[:G], log_train
