r"""Large-N resampling primitives that stay exact in float32.

Resampling N particles compares N uniform points on ``[0, N)`` with the running
sum :math:`C_i = N \sum_{j \le i} w_j` of the scaled weights.  A plain float32
``cumsum`` has an absolute error of order ``ulp(N)``: at N = 1e7 the spacing of
float32 numbers near N is 1, so offspring counts drift by whole particles (the
bias Murray, Lee & Jacob 2016 report beyond about 1e5 particles).

The fix used here is a *split* representation: every partial sum is kept as an
integer part (exact, int32 / int64) and a fractional part in ``[0, 1)``.  Two
such pairs combine exactly up to one rounding of a number below 2, so the
fractional part of every prefix sum is accurate to about ``log2(N) * 2**-24``
whatever N is.  The scan is an associative ``lax.associative_scan``, so it is
jit-, vmap- and grad-free-safe and parallel on accelerators.

Calling convention: all functions are pure JAX, take ``values >= 0`` (already
scaled so that they sum to about N) and return arrays; validation lives in the
public wrappers in ``probinf.resampling``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["compensated_cumsum", "offspring_counts", "search_sorted_split"]


def _int_dtype():
    return jnp.int64 if jax.config.jax_enable_x64 else jnp.int32


def _split(x):
    """Split non-negative floats into (integer part, fractional part in [0, 1))."""
    whole = jnp.floor(x)
    return whole.astype(_int_dtype()), x - whole


def _combine(a, b):
    # (i1, f1) + (i2, f2): the fractional sum lies in [0, 2); carry its floor.
    i1, f1 = a
    i2, f2 = b
    s = f1 + f2
    carry = jnp.floor(s)
    return i1 + i2 + carry.astype(i1.dtype), s - carry


def compensated_cumsum(values):
    """Inclusive prefix sums of non-negative ``values`` as ``(int_part, frac_part)``.

    ``int_part + frac_part`` equals the exact prefix sum up to an absolute error
    of about ``log2(N)`` ulps of 1 (not of N), in any float dtype.
    """
    values = jnp.asarray(values)
    if values.shape[0] == 0:
        return jnp.zeros((0,), _int_dtype()), jnp.zeros((0,), values.dtype)
    return lax.associative_scan(_combine, _split(values))


def offspring_counts(scaled_weights, u):
    """Systematic-resampling offspring counts from weights scaled to sum to N.

    Particle ``i`` receives ``#{k : u + k in [C_{i-1}, C_i)}`` children, computed
    from the split prefix sums as ``I_i + [F_i > u] - (I_{i-1} + [F_{i-1} > u])``,
    so counts are exact integers and lie in ``{floor(N w_i), ceil(N w_i)}``.
    """
    whole, frac = compensated_cumsum(scaled_weights)
    upto = whole + (frac > u).astype(whole.dtype)  # points u + k < C_i
    return jnp.diff(upto, prepend=jnp.zeros((1,), whole.dtype))


def search_sorted_split(whole, frac, target_whole, target_frac, *, last_valid=None):
    """First index ``i`` with ``C_i > t`` for targets ``t = target_whole + target_frac``.

    ``C`` is given split as ``(whole, frac)`` (non-decreasing lexicographically).
    A vectorized binary search with a lexicographic comparison, so no precision is
    lost by merging the parts into one float.  Indices are clipped to
    ``last_valid`` (the last particle with positive weight), so a target that
    rounding pushed past the total never selects a zero-weight particle.
    """
    n = whole.shape[0]
    m = target_whole.shape[0]
    lo = jnp.zeros((m,), jnp.int32)
    hi = jnp.full((m,), n, jnp.int32)
    steps = max(1, int(n).bit_length())

    def body(_, carry):
        lo, hi = carry
        mid = (lo + hi) // 2
        midc = jnp.minimum(mid, n - 1)
        wi, fi = whole[midc], frac[midc]
        above = (wi > target_whole) | ((wi == target_whole) & (fi > target_frac))
        active = lo < hi
        go_left = active & above
        go_right = active & ~above
        return jnp.where(go_right, mid + 1, lo), jnp.where(go_left, mid, hi)

    lo, _ = lax.fori_loop(0, steps, body, (lo, hi))
    cap = n - 1 if last_valid is None else last_valid
    return jnp.minimum(lo, cap)
