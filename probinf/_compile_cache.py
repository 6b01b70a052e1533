"""Compile once: cache keys built from values and structure (never ``repr``), and a small LRU.

A compiled sampler can be reused when the model function, the *structure* of its
arguments (pytree structure, array shapes and dtypes, the values of non-array leaves)
and the sampler options are the same; array *values* are passed to the compiled
function as arguments.  :func:`split_static` separates the two, :func:`value_key` turns
option objects (e.g. MCMC kernels, plain Python objects holding hyperparameters) into
hashable value keys.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import jax
import numpy as np

__all__ = ["LRUCache", "Uncacheable", "split_static", "value_key"]

V = TypeVar("V")


class Uncacheable(TypeError):
    """A value that cannot be part of a cache key (unhashable and not an array)."""


def _freeze(v: object) -> Hashable:
    if isinstance(v, (jax.Array, np.ndarray, np.generic)):
        a = np.asarray(v)
        return ("array", a.shape, str(a.dtype), a.tobytes())
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(_freeze(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple(sorted((k, _freeze(x)) for k, x in v.items())))
    try:
        hash(v)
    except TypeError as exc:
        raise Uncacheable(f"unhashable value of type {type(v).__name__}") from exc
    return (type(v), v)


def value_key(obj: object) -> Hashable:
    """Hashable key of an option object by type and attribute values (not identity, not ``repr``)."""
    if obj is None or isinstance(obj, (bool, int, float, str, tuple)):
        return _freeze(obj)
    attrs = getattr(obj, "__dict__", None)
    if attrs is None:
        return _freeze(obj)
    return (type(obj), tuple(sorted((k, _freeze(v)) for k, v in attrs.items())))


def split_static(tree: Any) -> tuple[list[Any], tuple[Any, ...], Callable[[Sequence[Any]], Any]]:
    """``(dynamic_leaves, signature, rebuild)`` of a pytree of model arguments.

    Array leaves are dynamic (they become arguments of the compiled function); every
    other leaf is static and enters the ``signature`` by value.  ``rebuild(dynamic)``
    puts (possibly traced) arrays back into the tree.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    dyn_pos: list[int] = []
    dyn: list[Any] = []
    sig: list[Any] = [treedef]
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, (jax.Array, np.ndarray)):
            dyn_pos.append(i)
            dyn.append(leaf)
            sig.append((i, "array", tuple(leaf.shape), str(leaf.dtype)))
        else:
            sig.append((i, _freeze(leaf)))

    def rebuild(dynamic: Sequence[Any]) -> Any:
        out = list(leaves)
        for i, v in zip(dyn_pos, dynamic, strict=True):
            out[i] = v
        return jax.tree_util.tree_unflatten(treedef, out)

    return dyn, tuple(sig), rebuild


class LRUCache(Generic[V]):
    """A bounded mapping that forgets the least recently used entry."""

    def __init__(self, maxsize: int = 32) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        return None

    def put(self, key: Hashable, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
