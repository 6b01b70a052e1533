"""Argument checks shared by the public entry points of the probinf core.

Every check runs on concrete Python / NumPy values *before* any JAX tracing and
raises a ``TypeError`` or ``ValueError`` whose message names the argument, what
was received, what was expected and how to fix it.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from probinf.kernels.resampling import int_dtype  # one definition, in the bottom layer

__all__ = ["check_positive_int", "check_nonnegative_int", "int_dtype", "as_key", "check_fraction"]


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _as_int(value: Any, name: str, expected: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        # 0-d integer arrays (np.int64(3), jnp.int32(3)) are accepted; floats such as 3.0 are not.
        arr = np.asarray(value) if isinstance(value, (np.ndarray, jax.Array)) and not isinstance(
            value, jax.core.Tracer) else None
        if arr is None or arr.ndim != 0 or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be {expected}, got {_describe(value)}; pass a Python int such as 100")
        value = arr.item()
    return int(value)


def check_positive_int(value: object, name: str) -> int:
    """``value`` as a Python int >= 1 (a bool, float or array raises ``TypeError``; < 1 ``ValueError``)."""
    v = _as_int(value, name, "a positive int")
    if v < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {v}; pass at least 1")
    return v


def check_nonnegative_int(value: object, name: str) -> int:
    """``value`` as a Python int >= 0."""
    v = _as_int(value, name, "a non-negative int")
    if v < 0:
        raise ValueError(f"{name} must be a non-negative int (>= 0), got {v}")
    return v


def check_fraction(value: Any, name: str, *, low: float = 0.0, high: float = 1.0, open_low: bool = False,
                   open_high: bool = False) -> float:
    """``value`` as a float in the interval ``[low, high]`` (ends open on request)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got {_describe(value)}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in [{low}, {high}], got {_describe(value)}") from None
    lo_ok = v > low if open_low else v >= low
    hi_ok = v < high if open_high else v <= high
    if not (np.isfinite(v) and lo_ok and hi_ok):
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return v


def as_key(key: object, name: str = "key", *, allow_batch: bool = False) -> jax.Array:
    """A JAX PRNG key from ``key``: an int seed (-> ``jax.random.key(seed)``) or a JAX key.

    Accepts typed keys (``jax.random.key``) and raw ``uint32`` keys of shape
    ``(2,)`` (``jax.random.PRNGKey``), and with ``allow_batch`` a 1-D batch of
    typed keys or an ``(C, 2)`` raw batch.  JAX keys and tracers pass through
    unchanged and a raw key given as a NumPy array becomes the equal JAX array,
    so the draws are those of the key given.
    Anything else raises ``TypeError`` naming the fix.
    """
    if isinstance(key, jax.core.Tracer):
        return key
    if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, (bool, np.bool_)):
        seed = int(key)
        if not -(2**63) <= seed < 2**64:
            raise ValueError(f"{name} as an int seed must fit in 64 bits, got {seed}")
        return jax.random.key(seed)
    fix = "pass jax.random.key(0) (or an int seed such as 0)"
    if key is None or isinstance(key, (bool, np.bool_, float, str, bytes, list, tuple, dict)):
        raise TypeError(f"{name} must be a JAX PRNG key or an int seed, got {_describe(key)}; {fix}")
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise TypeError(f"{name} must be a JAX PRNG key or an int seed, got {_describe(key)}; {fix}")
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    ndim = key.ndim if typed else key.ndim - 1
    if not typed and (key.dtype != np.uint32 or key.ndim < 1 or key.shape[-1] != 2):
        raise TypeError(
            f"{name} must be a JAX PRNG key or an int seed, got an array of dtype {key.dtype} and shape "
            f"{key.shape}; {fix}"
        )
    if ndim != 0 and not (allow_batch and ndim == 1):
        expected = "a single key or a 1-D batch of keys" if allow_batch else "a single key"
        raise ValueError(f"{name} must be {expected}, got key shape {key.shape}; {fix}")
    return jnp.asarray(key) if isinstance(key, np.ndarray) else key
