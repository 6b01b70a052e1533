r"""Large-N resampling primitives that stay exact in float32, and fast on CPU.

Resampling N particles compares N points on ``[0, N)`` with the running sum
:math:`C_i = N \sum_{j \le i} w_j` of the scaled weights.  A plain float32
``cumsum`` has an absolute error of order ``ulp(N)``: at N = 1e7 the spacing of
float32 numbers near N is 1, so offspring counts drift by whole particles (the
bias Murray, Lee & Jacob 2016, doi:10.1080/10618600.2015.1062015, report beyond
about 1e5 particles).

The fix used here is a *split* representation: every partial sum is kept as an
integer part (exact) and a fractional part in ``[0, 1)``.

Speed: the prefix sum is a *blocked two-level scan*.  Inside blocks of ``B = 32``
entries (B ~ sqrt(N) in [32, 128]) the integer and fractional parts are summed
with one small triangular matrix product (``HIGHEST`` precision, so no TF32 on GPUs); the
fractional block sums (< 32) carry their floor into the integer part; the
exclusive prefix of the block totals, again split, is computed recursively and
added back with one more carry.  Each level adds at most ``B`` roundings of
numbers below ``B`` to the fraction, so the fractional part of every prefix is
accurate to about ``log_B(N) * B * ulp(B) ~ 1e-3`` *absolute* whatever N is
(measured: 2e-5 at N = 1e3, 7e-4 at 1e5, 7e-3 at 1e7 for Exp(1) values; the
difference of two *adjacent* prefixes, which is what decides an offspring count,
is off by a few ulps of B only)
(a float32 ``cumsum`` is off by ``~ulp(N) * sqrt(N)``, i.e. whole particles).
Integer parts are exact: in float32 they go through the matrix product only
while every block sum stays below ``2**24`` (``N <= 2**24``), and through int
arithmetic otherwise.

Calling convention: all functions are pure JAX, take ``values >= 0`` (already
scaled so that they sum to about N) and return arrays; validation lives in the
public wrappers in ``probinf.resampling``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike, DTypeLike

__all__ = [
    "ancestors_from_cumcounts",
    "ANCESTOR_METHODS",
    "compensated_cumsum",
    "compensated_sum",
    "exact_int_cumsum",
    "int_dtype",
    "offspring_counts",
    "search_sorted_split",
    "BLOCK",
]

BLOCK = 32  # smallest block length of the two-level scan
MAX_BLOCK = 128  # largest: fewer levels (XLA ops) at the price of ~B roundings per level


def _block_len(n: int) -> int:
    """Block length ~ sqrt(n) (a power of two in [BLOCK, MAX_BLOCK]); one block when n <= MAX_BLOCK."""
    if n <= MAX_BLOCK:
        return max(8, -(-n // 8) * 8)
    b = BLOCK
    while b * b < n and b < MAX_BLOCK:
        b *= 2
    return b


def int_dtype() -> np.dtype[Any]:
    """The widest enabled JAX integer dtype (int64 under ``jax_enable_x64``, else int32); ``probinf`` uses it too."""
    x64: bool = jax.config.jax_enable_x64  # type: ignore[attr-defined]  # a dynamic flag, unknown to mypy
    return np.dtype(np.int64 if x64 else np.int32)


def _split(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Split non-negative floats into (integer part, fractional part in [0, 1))."""
    whole = jnp.floor(x)
    return whole.astype(int_dtype()), x - whole


def _upper(b: int, dtype: DTypeLike) -> jax.Array:
    # U[i, j] = 1 for i <= j, so (x @ U)[j] = sum_{i <= j} x[i]: an in-block cumsum.
    return jnp.asarray(np.triu(np.ones((b, b))), dtype=dtype)


def _block_cumsum_float(x: jax.Array) -> jax.Array:
    """In-block inclusive cumsum of a (m, B) float array via a matrix product."""
    return jnp.matmul(x, _upper(x.shape[1], x.dtype), precision=lax.Precision.HIGHEST)


def _exact_int_threshold(dtype: DTypeLike) -> int:
    nmant = int(jnp.finfo(dtype).nmant)  # type: ignore[no-untyped-call]  # jax leaves finfo unannotated
    return int(2 ** (nmant + 1))


def _block_cumsum_int(w: jax.Array, fdtype: DTypeLike, total_bound: int) -> jax.Array:
    """In-block inclusive cumsum of a (m, B) int array, exact.

    Through the float matrix product when every partial sum stays below the
    float's exact-integer range (``total_bound``), through ``cumsum`` otherwise.
    """
    if total_bound < _exact_int_threshold(fdtype):
        return _block_cumsum_float(w.astype(fdtype)).astype(w.dtype)
    return jnp.cumsum(w, axis=1)


def _split_prefix(whole: jax.Array, frac: jax.Array, total_bound: int) -> tuple[jax.Array, jax.Array]:
    """Inclusive prefix sums of split numbers ``whole + frac`` (frac in [0, 1))."""
    n = whole.shape[0]
    b = _block_len(n)
    m = -(-n // b)
    pad = m * b - n
    wb = jnp.pad(whole, (0, pad)).reshape(m, b)
    fb = jnp.pad(frac, (0, pad)).reshape(m, b)
    if total_bound < _exact_int_threshold(frac.dtype):
        # One matrix product for both parts (integers are exact below 2**24 in float32).
        both = _block_cumsum_float(jnp.concatenate([wb.astype(frac.dtype), fb], axis=0))
        cw, cf = both[:m].astype(wb.dtype), both[m:]
    else:
        cw = jnp.cumsum(wb, axis=1)
        cf = _block_cumsum_float(fb)
    # cf lies in [0, B): at most B roundings of numbers below B.
    carry = jnp.floor(cf)
    cf = cf - carry
    cw = cw + carry.astype(cw.dtype)
    if m > 1:
        # Exclusive prefix of the (already normalized) block totals, recursively.
        ow, of = _split_prefix(cw[:, -1], cf[:, -1], total_bound)
        ow = jnp.concatenate([jnp.zeros((1,), ow.dtype), ow[:-1]])
        of = jnp.concatenate([jnp.zeros((1,), of.dtype), of[:-1]])
        f = cf + of[:, None]  # in [0, 2): carry its floor
        c = jnp.floor(f)
        cf = f - c
        cw = cw + ow[:, None] + c.astype(cw.dtype)
    return cw.reshape(-1)[:n], cf.reshape(-1)[:n]


def _bound(values: jax.Array) -> int:
    # The scaled weights sum to about N (the resamplers' num_samples may exceed N:
    # they pass their own bound through compensated_cumsum(..., total_bound=)).
    return int(values.shape[0]) + 1


def _as_1d_float(values: ArrayLike, name: str) -> jax.Array:
    """``values`` as a 1-D float JAX array; a wrong rank or dtype (known before tracing) raises."""
    v = jnp.asarray(values)
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (N,), got shape {v.shape}")
    if not jnp.issubdtype(v.dtype, jnp.floating):
        raise TypeError(f"{name} must have a float dtype, got {v.dtype}; for integers use exact_int_cumsum, "
                        "for weights pass floats")
    return v


def compensated_cumsum(values: ArrayLike, total_bound: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Inclusive prefix sums of non-negative ``values`` as ``(int_part, frac_part)``.

    ``int_part + frac_part`` equals the exact prefix sum up to an absolute error
    of about 1e-4 (not relative to N), in any float dtype.  ``total_bound`` is an
    upper bound on the total (default ``N + 1``, right for weights scaled to sum
    to N); it selects the exact integer path.
    """
    v = _as_1d_float(values, "values")
    if v.shape[0] == 0:
        return jnp.zeros((0,), int_dtype()), jnp.zeros((0,), v.dtype)
    bound = _bound(v) if total_bound is None else int(total_bound) + 1
    whole, frac = _split(v)
    return _split_prefix(whole, frac, bound)


def compensated_sum(values: ArrayLike, total_bound: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Total of non-negative ``values`` as ``(int_part, frac_part)`` (a blocked split reduction)."""
    v = jnp.asarray(values)
    whole, frac = _split(v)
    n = v.shape[0]
    m = -(-n // BLOCK)
    pad = m * BLOCK - n
    wb = jnp.pad(whole, (0, pad)).reshape(m, BLOCK)
    fb = jnp.pad(frac, (0, pad)).reshape(m, BLOCK)
    sw = jnp.sum(wb, axis=1)
    sf = jnp.sum(fb, axis=1)  # < B
    c = jnp.floor(sf)
    sw = sw + c.astype(sw.dtype)
    sf = sf - c
    return _reduce_split(sw, sf)


def _reduce_split(sw: jax.Array, sf: jax.Array) -> tuple[jax.Array, jax.Array]:
    n = sw.shape[0]
    if n == 1:
        return sw[0], sf[0]
    m = -(-n // BLOCK)
    pad = m * BLOCK - n
    wb = jnp.pad(sw, (0, pad)).reshape(m, BLOCK)
    fb = jnp.pad(sf, (0, pad)).reshape(m, BLOCK)
    tw = jnp.sum(wb, axis=1)
    tf = jnp.sum(fb, axis=1)
    c = jnp.floor(tf)
    return _reduce_split(tw + c.astype(tw.dtype), tf - c)


def _int_prefix(x: jax.Array, fdtype: DTypeLike) -> jax.Array:
    """Blocked inclusive cumsum of non-negative ints whose total is exact in ``fdtype``."""
    n = x.shape[0]
    b = _block_len(n)
    m = -(-n // b)
    xb = jnp.pad(x, (0, m * b - n)).reshape(m, b)
    c = _block_cumsum_float(xb.astype(fdtype)).astype(x.dtype)  # exact: every sum < 2**nmant
    if m > 1:
        off = _int_prefix(c[:, -1], fdtype)
        c = c + jnp.concatenate([jnp.zeros((1,), off.dtype), off[:-1]])[:, None]
    return c.reshape(-1)[:n]


def exact_int_cumsum(x: ArrayLike, total_bound: int | None = None) -> jax.Array:
    """Exact inclusive cumsum of a non-negative int array (blocked, fast on CPU).

    In-block sums go through a float matrix product, exact while the total
    (``total_bound``, default ``N``) stays below the float's integer range
    (``2**24`` in float32); beyond that, an integer ``cumsum``.
    """
    xa = jnp.asarray(x)
    n = xa.shape[0]
    if n == 0:
        return xa
    bound = n + 1 if total_bound is None else int(total_bound) + 1
    x64: bool = jax.config.jax_enable_x64  # type: ignore[attr-defined]  # a dynamic flag, unknown to mypy
    fdtype = jnp.float64 if x64 else jnp.float32
    if bound >= _exact_int_threshold(fdtype):
        return jnp.cumsum(xa)
    return _int_prefix(xa, fdtype)


def offspring_counts(scaled_weights: ArrayLike, u: ArrayLike) -> jax.Array:
    """Systematic-resampling offspring counts from weights scaled to sum to N.

    Particle ``i`` receives ``#{k : u + k in [C_{i-1}, C_i)}`` children, computed
    from the split prefix sums as ``I_i + [F_i > u] - (I_{i-1} + [F_{i-1} > u])``,
    so counts are exact integers and lie in ``{floor(N w_i), ceil(N w_i)}``.

    Precondition: finite non-negative weights summing to N, and ``u`` in ``[0, 1)``.  Concrete inputs
    that break it raise ``ValueError``; under ``jit`` they cannot be checked and the counts are
    meaningless, so traced callers check :func:`probinf.weights_valid` first (as :mod:`probinf.resampling`
    does).
    """
    w = _as_1d_float(scaled_weights, "scaled_weights")
    if not isinstance(w, jax.core.Tracer):
        wn = np.asarray(w)
        if not (np.isfinite(wn).all() and (wn >= 0).all()):
            raise ValueError("scaled_weights must be finite and non-negative (weights scaled to sum to N), "
                             f"got {wn[~(np.isfinite(wn) & (wn >= 0))][:3].tolist()} among them")
    if not isinstance(u, jax.core.Tracer):
        un = np.asarray(u)
        if un.shape != () or not 0.0 <= float(un) < 1.0:
            raise ValueError(f"u must be a scalar uniform in [0, 1), got {un.tolist()!r}")
    whole, frac = compensated_cumsum(w)
    upto = whole + (frac > u).astype(whole.dtype)  # points u + k < C_i
    return jnp.diff(upto, prepend=jnp.zeros((1,), whole.dtype))


def search_sorted_split(whole: jax.Array, frac: jax.Array, target_whole: jax.Array, target_frac: jax.Array, *,
                        last_valid: ArrayLike | None = None) -> jax.Array:
    """First index ``i`` with ``C_i > t`` for targets ``t = target_whole + target_frac``.

    ``C`` is given split as ``(whole, frac)`` (non-decreasing lexicographically).
    A vectorized binary search with a lexicographic comparison, so no precision is
    lost by merging the parts into one float.  Indices are clipped to
    ``last_valid`` (the last particle with positive weight), so a target that
    rounding pushed past the total never selects a zero-weight particle.
    """
    whole, frac, target_whole, target_frac = map(jnp.asarray, (whole, frac, target_whole, target_frac))
    n = whole.shape[0]
    m = target_whole.shape[0]
    lo = jnp.zeros((m,), jnp.int32)
    hi = jnp.full((m,), n, jnp.int32)
    steps = max(1, int(n).bit_length())

    def body(_: int, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
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


def _ancestors_scatter_add(cumcounts: jax.Array, num_samples: int) -> jax.Array:
    """``#{i : cum_i <= k}`` for every slot ``k``: scatter-add one mark per particle, then an exact cumsum.

    Fast on CPU (a sequential scatter); on a GPU the marks of zero-count particles
    pile onto the same slot and the atomic adds serialize.
    """
    marks = jnp.zeros((num_samples,), cumcounts.dtype)
    marks = marks.at[cumcounts].add(1, mode="drop")  # entries == num_samples are dropped
    return exact_int_cumsum(marks, total_bound=cumcounts.shape[0])


def _ancestors_fill(cumcounts: jax.Array, num_samples: int) -> jax.Array:
    """The same slots by a forward fill: contention-free on a GPU.

    Particle ``i`` with children (``cum_{i-1} < cum_i``) owns slots
    ``[cum_{i-1}, cum_i)``; it writes its index at its first slot (these slots are
    distinct, so the scatter has no collisions) and a running maximum fills the rest.
    Slots at or beyond ``cum_{N-1}`` (rounding spill-over) get ``N``, as
    ``#{i : cum_i <= k}`` does.
    """
    n = cumcounts.shape[0]
    dt = cumcounts.dtype
    prev = jnp.concatenate([jnp.zeros((1,), dt), cumcounts[:-1]])
    start = jnp.where(cumcounts > prev, prev, num_samples)  # num_samples: out of range, dropped
    marks = jnp.zeros((num_samples,), dt).at[start].max(jnp.arange(n, dtype=dt), mode="drop")
    filled = lax.cummax(marks)
    slot = jnp.arange(num_samples, dtype=dt)
    return jnp.where(slot >= cumcounts[-1], n, filled)


#: Ways to turn exact cumulative offspring counts into ancestors (identical results).
ANCESTOR_METHODS: dict[str, Callable[[jax.Array, int], jax.Array]] = {
    "scatter_add": _ancestors_scatter_add, "fill": _ancestors_fill}


def ancestors_from_cumcounts(cumcounts: ArrayLike, num_samples: int, last_valid: ArrayLike | None = None, *,
                             method: str = "auto") -> jax.Array:
    """Ancestor of every slot ``k < num_samples``: the first particle whose cumulative count exceeds ``k``.

    ``cumcounts`` are exact, non-decreasing integer cumulative offspring counts
    (``cum_{N-1} <= num_samples``).  Pure integer arithmetic, so the result is exact
    whatever N.  ``method="auto"`` lowers to the scatter-add form on CPU (measured
    faster there, see ``benchmarks/results/resampling_ancestors.json``) and to the
    contention-free forward fill elsewhere (GPU).  Indices are clipped to
    ``last_valid`` (the last particle with positive weight) when given.
    """
    cc = jnp.asarray(cumcounts)
    if method == "auto":
        anc: jax.Array = lax.platform_dependent(
            cc,
            cpu=lambda c: _ancestors_scatter_add(c, num_samples),
            default=lambda c: _ancestors_fill(c, num_samples),
        )
    else:
        anc = ANCESTOR_METHODS[method](cc, num_samples)
    if last_valid is not None:
        anc = jnp.minimum(anc, last_valid)
    return anc.astype(jnp.int32)
