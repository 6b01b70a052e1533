r"""The randomness of one inference run: one JAX PRNG key, and int seeds only at the network boundary.

``infer(..., seed=int)`` is the public boundary: the int becomes ``jax.random.key(seed)`` once
(:func:`as_key`, which also takes a key).  Inside, every random choice comes from that key:

- the SMC step (:mod:`llm_bridge.algorithms.smc`) takes a subkey (:meth:`KeyStream.next_key`);
- a backend call needs an ``int`` seed (a server's ``seed`` field): :meth:`KeyStream.next_seed`
  derives it from the key, so a retried call reuses the seed drawn before the first attempt;
- host-side picks (a vote's tie-break, a particle Gibbs reference, a tempering swap) use
  :meth:`KeyStream.integers` / :meth:`random` / :meth:`choice`, uniforms derived from the key.

Derived bits are drawn in blocks of :data:`BLOCK` by one compiled call, so a step's few seeds
cost no device round trip each.  Same seed, same stream, on every platform.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["KeyStream", "as_key", "BLOCK"]

#: Number of 32-bit words drawn per refill of the host-side buffer.
BLOCK = 256
_U32 = 2.0**32


def as_key(key) -> jax.Array:
    """A typed JAX PRNG key from a key (typed or raw ``uint32[2]``) or an ``int`` seed; else a clear ``TypeError``."""
    if isinstance(key, bool):
        raise TypeError("seed must be an int or a JAX PRNG key, got a bool")
    if isinstance(key, (int, np.integer)):
        if not (-(2**63) <= int(key) < 2**64):
            raise ValueError(f"seed must fit in 64 bits, got {key}")
        return jax.random.key(int(key) % 2**63)
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.shape != ():
                raise ValueError(f"key must be a single PRNG key, got a key array of shape {key.shape}")
            return key
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return jax.random.wrap_key_data(key)
    raise TypeError(f"seed must be an int or a JAX PRNG key (jax.random.key(0)), got {type(key).__name__}")


@jax.jit
def _refill(key):
    key, sub, words = jax.random.split(key, 3)
    return key, sub, jax.random.bits(words, (BLOCK,), jnp.uint32)


@jax.jit
def _split(key):
    key, sub = jax.random.split(key)
    return key, sub


class KeyStream:
    """A JAX key, split on demand, with host-side draws derived from it (see the module docstring).

    The methods mirror the few ``numpy.random.Generator`` calls the algorithms need
    (``integers``, ``random``, ``choice``), so voting helpers take either.
    """

    def __init__(self, key):
        self._key = as_key(key)
        self._words = np.zeros(0, np.uint32)
        self._pos = 0

    @property
    def key(self) -> jax.Array:
        """The stream's current key; a compiled step may consume it and set the key it returns."""
        return self._key

    @key.setter
    def key(self, value) -> None:
        self._key = value

    def next_key(self) -> jax.Array:
        """A fresh subkey (the stream's key moves on)."""
        self._key, sub = _split(self._key)
        return sub

    def _word(self) -> int:
        if self._pos >= len(self._words):
            self._key, _, words = _refill(self._key)
            self._words = np.asarray(words)
            self._pos = 0
        w = int(self._words[self._pos])
        self._pos += 1
        return w

    def next_seed(self) -> int:
        """An ``int`` seed in ``[0, 2**31 - 1)`` for a backend call (the network boundary)."""
        return self._word() % (2**31 - 1)

    def random(self) -> float:
        """A uniform float in ``[0, 1)`` (53 random bits)."""
        hi, lo = self._word() >> 5, self._word() >> 6
        return (hi * 67108864.0 + lo) / 9007199254740992.0

    def integers(self, high: int) -> int:
        """A uniform int in ``[0, high)``."""
        if high < 1:
            raise ValueError(f"high must be >= 1, got {high}")
        return min(int(self.random() * high), high - 1)

    def choice(self, n: int, p=None) -> int:
        """An index in ``[0, n)`` drawn with probabilities ``p`` (uniform when None)."""
        if p is None:
            return self.integers(n)
        cdf = np.cumsum(np.asarray(p, float))
        return min(int(np.searchsorted(cdf, self.random() * cdf[-1], side="right")), n - 1)
