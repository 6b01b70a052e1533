r"""The model's move keys in the particle filter, as threefry keys whose rounds are unrolled on a CPU.

JAX lowers its threefry2x32 hash on a CPU as a ``while`` loop over the five groups of
four rounds (to keep compile time down).  In a particle filter the model draws its
``N`` transition noises from that hash at every step, and the rolled loop costs about
as much as everything else in a bootstrap step (measured at N = 1e4: 122 -> 72 us a
step for stochastic volatility on the 2-core box).

:data:`UNROLLED_THREEFRY` is a PRNG implementation (``jax.extend.random.define_prng_impl``)
that computes the *same* threefry2x32 function (Salmon et al. 2011, SC'11,
doi:10.1145/2063384.2063405) with straight-line rounds, with the counter layout of
JAX's partitionable threefry (``jax_threefry_partitionable``, the default since JAX 0.5).
A key wrapped by :func:`fast_move_key` therefore gives bit-identical draws from every
``jax.random`` sampler (tested against the stock implementation), so the filter's
results do not change; only the lowering does.  Keys of another implementation (rbg,
philox, ...) or the non-partitionable layout are passed through untouched.
"""

from __future__ import annotations

import math

import jax
import jax.extend.random as jxr
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["UNROLLED_THREEFRY", "fast_move_key", "threefry2x32_unrolled"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(x: jax.Array, d: int) -> jax.Array:
    return lax.shift_left(x, np.uint32(d)) | lax.shift_right_logical(x, np.uint32(32 - d))


def threefry2x32_unrolled(k1: jax.Array, k2: jax.Array, x1: jax.Array,
                          x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 with 20 rounds, straight-line (the function JAX's ``threefry2x32_p`` computes)."""
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1 = x1 + ks[0]
    x2 = x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ _rotl(x2, r)
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _stock(key: jax.Array) -> jax.Array:
    out: jax.Array = jax.random.wrap_key_data(key, impl="threefry2x32")
    return out


def _hash_iota(key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    # The partitionable layout: counter i (row-major) as (high word, low word) = (0, i) below 2**32.
    lo = lax.iota(np.uint32, math.prod(shape)).reshape(shape)
    return threefry2x32_unrolled(key[0], key[1], jnp.zeros(shape, np.uint32), lo)


def _random_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]) -> jax.Array:
    if math.prod(shape) >= 2**32:
        return jax.random.bits(_stock(key), shape, np.dtype(f"uint{bit_width}"))
    b1, b2 = _hash_iota(key, shape)
    if bit_width == 64:
        return lax.shift_left(b1.astype(np.uint64), np.uint64(32)) | b2.astype(np.uint64)
    return (b1 ^ b2).astype(np.dtype(f"uint{bit_width}"))


def _split(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    if math.prod(shape) >= 2**32:
        return jax.random.key_data(jax.random.split(_stock(key), shape))
    b1, b2 = _hash_iota(key, shape)
    return jnp.stack([b1, b2], axis=b1.ndim)


def _fold_in(key: jax.Array, data: int) -> jax.Array:
    return jax.random.key_data(jax.random.fold_in(_stock(key), data))


def _seed(seed: jax.Array) -> jax.Array:
    return jax.random.key_data(jax.random.key(seed, impl="threefry2x32"))


UNROLLED_THREEFRY = jxr.define_prng_impl(
    key_shape=(2,), seed=_seed, split=_split, random_bits=_random_bits, fold_in=_fold_in,
    name="probinf_threefry2x32_unrolled", tag="pfu")


def _is_stock_threefry(key: jax.Array) -> bool:
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return str(jax.random.key_impl(key)) == "threefry2x32"
    default_impl: str = jax.config.jax_default_prng_impl  # type: ignore[attr-defined]  # a dynamic flag
    return default_impl == "threefry2x32"


def fast_move_key(key: jax.Array) -> jax.Array:
    """``key`` as an :data:`UNROLLED_THREEFRY` key (same draws) on a CPU; unchanged otherwise.

    Only stock threefry keys with the partitionable counter layout are wrapped (the
    layout this implementation reproduces); anything else is returned as given.
    """
    partitionable: bool = jax.config.jax_threefry_partitionable  # type: ignore[attr-defined]  # a dynamic flag
    if jax.default_backend() != "cpu" or not partitionable or not _is_stock_threefry(key):
        return key
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    out: jax.Array = jax.random.wrap_key_data(data, impl=UNROLLED_THREEFRY)
    return out
