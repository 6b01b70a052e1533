r"""The randomness of one inference run: one PRNG key, and int seeds only at the network boundary.

``infer(..., seed=int)`` is the public boundary: the int stands for ``jax.random.key(seed)``
(:func:`as_key`, which also takes a key).  Inside, every random choice comes from that key,
through ONE ``numpy.random.Generator`` seeded with the key's data (a ``SeedSequence`` of its
words), so no random choice of a run costs a JAX call:

- the SMC steps (:mod:`llm_bridge.algorithms.smc`) draw their uniforms from it
  (:meth:`KeyStream.generator`);
- a backend call needs an ``int`` seed (a server's ``seed`` field): :meth:`KeyStream.next_seed`
  draws it, before the call, so a retried call reuses the seed drawn before the first attempt;
- host-side picks (a vote's tie-break, a particle Gibbs reference, a tempering swap) use
  :meth:`KeyStream.integers` / :meth:`random` / :meth:`choice`.

An ``int`` seed is read as the data of its default (threefry) key, its two 32-bit halves, without
building the key, so ``seed`` and ``jax.random.key(seed)`` give the same stream (for seeds below
``2**32``; JAX without x64 keeps only the low 32 bits of a larger seed, the stream keeps all 63).
Same seed, same stream, on every platform (NumPy's ``SeedSequence`` and ``PCG64`` are platform
independent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["KeyStream", "as_key"]

_U63 = 2**63


def _threefry_words(seed: int) -> tuple[int, int]:
    """The data of ``jax.random.key(seed)`` under the default threefry implementation: its two 32-bit halves."""
    return (seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF


def as_key(key) -> jax.Array:
    """A typed JAX PRNG key from a key (typed or raw ``uint32[2]``) or an ``int`` seed; else a clear ``TypeError``."""
    typed, _ = _check_key(key)
    return typed if typed is not None else jax.random.key(int(key) % _U63)


def _check_key(key) -> tuple[jax.Array | None, tuple[int, ...]]:
    """``(typed key or None for an int seed, the words that seed the host stream)``; validates like :func:`as_key`."""
    if isinstance(key, bool):
        raise TypeError("seed must be an int or a JAX PRNG key, got a bool")
    if isinstance(key, (int, np.integer)):
        if not (-(2**63) <= int(key) < 2**64):
            raise ValueError(f"seed must fit in 64 bits, got {key}")
        return None, _threefry_words(int(key) % _U63)
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.shape != ():
                raise ValueError(f"key must be a single PRNG key, got a key array of shape {key.shape}")
            return key, tuple(int(w) for w in np.asarray(jax.random.key_data(key)).ravel())
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return as_key(jax.random.wrap_key_data(key)), tuple(int(w) for w in np.asarray(key))
    raise TypeError(f"seed must be an int or a JAX PRNG key (jax.random.key(0)), got {type(key).__name__}")


@jax.jit
def _split(key):
    key, sub = jax.random.split(key)
    return key, sub


class KeyStream:
    """The run's random stream: a ``numpy.random.Generator`` seeded from a JAX key (see the module docstring).

    The methods mirror the few ``numpy.random.Generator`` calls the algorithms need
    (``integers``, ``random``, ``choice``), so voting helpers take either.
    """

    def __init__(self, key):
        self._input = key
        self._key, words = _check_key(key)
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(words))))

    @property
    def key(self) -> jax.Array:
        """The stream's JAX key (built on first use; the host draws do not use or move it)."""
        if self._key is None:
            self._key = as_key(jax.random.key(int(self._input) % _U63))
        return self._key

    @key.setter
    def key(self, value) -> None:
        self._key = value

    def next_key(self) -> jax.Array:
        """A fresh subkey for a JAX-level block (the stream's key moves on)."""
        self._key, sub = _split(self.key)
        return sub

    def generator(self) -> np.random.Generator:
        """The stream's ``numpy.random.Generator`` (the same object every call): host blocks draw from it."""
        return self._rng

    def next_seed(self) -> int:
        """An ``int`` seed in ``[0, 2**31 - 1)`` for a backend call (the network boundary)."""
        return int(self._rng.integers(0, 2**31 - 1))

    def random(self) -> float:
        """A uniform float in ``[0, 1)``."""
        return float(self._rng.random())

    def integers(self, high: int) -> int:
        """A uniform int in ``[0, high)``."""
        if high < 1:
            raise ValueError(f"high must be >= 1, got {high}")
        return int(self._rng.integers(high))

    def choice(self, n: int, p=None) -> int:
        """An index in ``[0, n)`` drawn with probabilities ``p`` (uniform when None)."""
        if p is None:
            return self.integers(n)
        cdf = np.cumsum(np.asarray(p, float))
        return min(int(np.searchsorted(cdf, self.random() * cdf[-1], side="right")), n - 1)
