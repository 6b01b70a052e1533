r"""Adaptive tempering: the incremental weight and the next-exponent solver of :mod:`probinf.tempered`.

Adaptive tempering picks :math:`\lambda_{t}` so that the ESS of the reweighted
population equals ``target_ess * N``; :func:`solve_next_exponent` bisects on
:math:`\log\delta` (tempering increments span many orders of magnitude) for the
root of :math:`\log \mathrm{ESS}(\delta) - \log(\text{target} \cdot N)` where the
incremental log-weight is :math:`+\delta\,\log L(x)`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

__all__ = ["solve_next_exponent", "tempered_logdensity"]

#: ``x -> (log p(x) + exponent * log L(x), (log p(x), log L(x)))``
TemperedLogDensity = Callable[[jax.Array], tuple[jax.Array, tuple[jax.Array, jax.Array]]]


def _tempered_increment(log_likelihood: jax.Array, delta: jax.Array | float) -> jax.Array:
    # delta * (-inf) must stay -inf and 0 * (-inf) must be 0 (not NaN).
    return jnp.where(delta > 0, delta * log_likelihood, 0.0)


def tempered_logdensity(log_prior: Callable[[jax.Array], jax.Array], log_likelihood: Callable[[jax.Array], jax.Array],
                        exponent: jax.Array | float) -> TemperedLogDensity:
    r"""``x -> (log p(x) + exponent * log L(x), (log p(x), log L(x)))``, the target of the moves."""

    def f(x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        lp = log_prior(x)
        ll = log_likelihood(x)
        return lp + _tempered_increment(ll, exponent), (lp, ll)

    return f


def solve_next_exponent(log_weights: jax.Array, log_likelihood: jax.Array, exponent: jax.Array | float,
                        target_ess: float, *, num_iter: int = 60) -> jax.Array:
    r"""Next exponent :math:`\lambda' \in (\lambda, 1]` with :math:`\mathrm{ESS} \ge` ``target_ess * N``.

    Solves :math:`\log\mathrm{ESS}(W \cdot L^{\delta}) = \log(\text{target}\cdot N)`
    by bisection on :math:`\log \delta` over
    :math:`[\log \delta_{\min}, \log(1-\lambda)]`; returns 1 when the whole
    remaining increment keeps the ESS above target, and :math:`\lambda + \delta_{\min}`
    (the smallest increment that moves :math:`\lambda` in floating point) when even
    that drops below it.  The bracket end with ESS >= target is returned.

    Parameters
    ----------
    log_weights : array (N,)
        Current normalized log-weights.
    log_likelihood : array (N,)
        :math:`\log L(x_i)` (``-inf`` allowed).
    exponent : float
        Current :math:`\lambda`.
    target_ess : float
        Fraction of N in (0, 1).
    """
    n = log_weights.shape[0]
    dtype = log_weights.dtype
    log_target = jnp.log(jnp.asarray(target_ess * n, dtype))

    def log_ess(delta: jax.Array) -> jax.Array:
        lw = log_weights + _tempered_increment(log_likelihood, delta)
        val = 2.0 * logsumexp(lw) - logsumexp(2.0 * lw)
        return jnp.where(jnp.isnan(val), -jnp.inf, val)

    remaining = jnp.asarray(1.0, dtype) - exponent
    eps = jnp.finfo(dtype).eps  # type: ignore[no-untyped-call]  # unannotated in jax
    # smallest increment that still moves lambda in floating point (relative to lambda, not to 1:
    # the first steps of a peaked likelihood need increments far below float32 eps)
    d_min = jnp.minimum(jnp.maximum(8.0 * eps * exponent, jnp.asarray(1e-30, dtype)), remaining)

    def body(_: int, bracket: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        lo, hi = bracket  # log-deltas: ESS(lo) >= target > ESS(hi)
        mid = 0.5 * (lo + hi)
        ok = log_ess(jnp.exp(mid)) >= log_target
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, _ = jax.lax.fori_loop(0, num_iter, body, (jnp.log(d_min), jnp.log(remaining)))
    full = log_ess(remaining) >= log_target
    return jnp.where(full, jnp.asarray(1.0, dtype), jnp.minimum(exponent + jnp.exp(lo), 1.0))
