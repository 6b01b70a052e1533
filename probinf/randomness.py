"""Randomness at the seams: ``random_state`` of estimators and the JAX keys derived from it.

The rule (``docs/conventions.md``): an estimator's ``random_state`` is ``None`` (fresh entropy), an ``int`` or a
:class:`numpy.random.Generator`, on every code path. ``fit`` turns it into a Generator once
(:func:`check_random_state`) and passes that down; a JAX path derives its key from the Generator
(:func:`key_from_generator`), and a scikit-learn component (``KFold(random_state=...)``) gets an int seed from
:func:`sklearn_seed`. JAX-level functions take a ``key`` (:func:`as_key`: a JAX key or an int seed).

JAX is imported only by the functions that return keys, so estimators without a JAX path do not load it.

Examples
--------
>>> import numpy as np
>>> a, b = check_random_state(3), check_random_state(3)
>>> bool(a.random() == b.random())
True
>>> rng = np.random.default_rng(0)
>>> check_random_state(rng) is rng
True
>>> check_random_state(-1)
Traceback (most recent call last):
...
TypeError: random_state must be None, a non-negative int seed or a numpy.random.Generator, got int -1; pass e.g. \
random_state=0 (same seed, same result) or None (fresh entropy)
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import jax

__all__ = ["check_random_state", "key_from_generator", "sklearn_seed", "as_key"]

_SEED_BOUND = 2**31  # seeds drawn for keys and sklearn fit every backend's int seed (int32 without x64)


def check_random_state(random_state: object, name: str = "random_state") -> np.random.Generator:
    """The Generator of an estimator's ``random_state``: ``None`` (fresh entropy), an int ``>= 0`` or a Generator.

    A Generator is returned as it is (its state is shared with the caller, as in scikit-learn); anything else is a
    ``TypeError`` naming ``name``, what was received and the fix.
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if (isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(random_state, (bool, np.bool_))
            and 0 <= int(random_state) < 2**63):
        return np.random.default_rng(int(random_state))
    text = repr(random_state)
    text = text if len(text) <= 60 else text[:57] + "..."
    raise TypeError(f"{name} must be None, a non-negative int seed or a numpy.random.Generator, got "
                    f"{type(random_state).__name__} {text}; pass e.g. {name}=0 (same seed, same result) or None "
                    "(fresh entropy)")


def key_from_generator(rng: np.random.Generator) -> jax.Array:
    """A JAX PRNG key drawn from ``rng`` (one draw: the same Generator state gives the same key)."""
    import jax

    return jax.random.key(int(rng.integers(_SEED_BOUND)))


def sklearn_seed(random_state: object, rng: np.random.Generator | None = None) -> int:
    """The int seed for a scikit-learn component (``KFold``, a bootstrap) under an estimator's ``random_state``.

    An int is passed through (so ``random_state=0`` reproduces scikit-learn's and MAPIE's folds); ``None`` and a
    Generator give a seed drawn from ``rng`` (default: ``check_random_state(random_state)``), so ``None`` is fresh
    entropy and not NumPy's global state.
    """
    rng = check_random_state(random_state) if rng is None else rng
    if isinstance(random_state, (numbers.Integral, np.integer)):
        return int(random_state)
    return int(rng.integers(_SEED_BOUND))


def as_key(key: object, name: str = "key", *, allow_batch: bool = False) -> jax.Array:
    """A JAX PRNG key from ``key``: a JAX key (typed or raw ``uint32``) or an int seed (``jax.random.key(seed)``).

    The public face of the core's own check; see ``docs/conventions.md`` (*Randomness*).
    """
    from probinf._checks import as_key as _as_key

    return _as_key(key, name, allow_batch=allow_batch)
