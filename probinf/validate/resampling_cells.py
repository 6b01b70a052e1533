r"""Exact distribution of a resampling scheme's ancestors, by the cells of its uniforms.

Every scheme is piecewise constant in its uniforms, with breakpoints at the (scaled) cumulative weights, so the
uniform cube splits into finitely many cells; evaluating the *real* implementation
(:data:`probinf.resampling.RESAMPLING_FROM_UNIFORMS`) at each cell's midpoint and weighting by the cell's volume
gives the exact distribution of ancestor vectors (float64). Used by :mod:`probinf.validate.enumeration` for the
particle filter and re-exported there.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike, NDArray

from probinf._compat import enable_x64
from probinf.resampling import RESAMPLING_FROM_UNIFORMS

__all__ = ["Resampler", "resampling_breakpoints", "enumerate_resampling", "offspring_distribution"]

_Floats = NDArray[np.float64]
#: ``(log_weights (N,), M, u) -> ancestors (M,)``, ``u`` a scalar or a (M,) vector of uniforms
Resampler = Callable[[jax.Array, int, jax.Array], jax.Array]


def resampling_breakpoints(weights: ArrayLike, num_samples: int, method: str) -> list[_Floats]:
    """Per-slot breakpoints of the uniforms in [0, 1) for the built-in schemes.

    Returns a list (one entry per uniform coordinate) of sorted breakpoint
    arrays including 0 and 1; the scheme is constant on the cells between them.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    m = num_samples
    c = m * np.cumsum(w)

    def cells(points: _Floats) -> _Floats:
        pts = np.asarray([p for p in points if 0.0 < p < 1.0], dtype=np.float64)
        return np.unique(np.concatenate([[0.0, 1.0], pts]))

    if method == "systematic":
        return [cells(c - np.floor(c))]
    if method == "stratified":
        return [cells(c - k) for k in range(m)]
    if method == "multinomial":
        return [cells(c / m)] * m
    if method == "residual":
        v = m * w
        resid = v - np.floor(v)
        n_res = max(m - int(np.floor(v).sum()), 1)
        return [cells(np.cumsum(resid) / n_res)] * m
    raise ValueError(f"no breakpoints known for method {method!r}; pass breakpoints= explicitly")


_BATCHED: dict[Callable[..., Any], Callable[..., Any]] = {}


def _batched(fn: Resampler) -> Callable[..., Any]:
    """``fn`` vmapped over the uniforms and jitted once per function (M static)."""
    if fn not in _BATCHED:
        _BATCHED[fn] = jax.jit(jax.vmap(fn, in_axes=(None, None, 0)), static_argnums=1)
    return _BATCHED[fn]


def enumerate_resampling(weights: ArrayLike, method: str = "systematic", num_samples: int | None = None, *,
                         resampler: Resampler | None = None,
                         breakpoints: Sequence[_Floats] | None = None) -> dict[tuple[int, ...], float]:
    """Exact distribution of the ancestor vector: ``{ancestors tuple: probability}``.

    Parameters
    ----------
    weights : (N,) array of non-negative weights (need not be normalized).
    method : str
        A built-in scheme (uses the real implementation driven by uniforms).
    num_samples : int, optional
        ``M`` (default ``N``); keep ``M <= 4``, the cells grow as ``(N + 1)^M``.
    resampler, breakpoints : optional
        Your own scheme ``resampler(log_weights, M, u) -> ancestors`` (``u`` is a
        scalar when ``breakpoints`` has one entry, else a vector) and its
        per-coordinate breakpoints (list of sorted arrays in [0, 1] with 0 and 1).

    Examples
    --------
    >>> d = enumerate_resampling([0.25, 0.75], "systematic")
    >>> sorted((k, round(v, 6)) for k, v in d.items())
    [((0, 1), 0.5), ((1, 1), 0.5)]
    """
    w = np.asarray(weights, dtype=np.float64)
    m = int(w.shape[0] if num_samples is None else num_samples)
    fn = resampler if resampler is not None else RESAMPLING_FROM_UNIFORMS[method]
    bps = breakpoints if breakpoints is not None else resampling_breakpoints(w, m, method)
    mids = [0.5 * (b[1:] + b[:-1]) for b in bps]
    lens = [np.diff(b) for b in bps]
    grid_u = np.array(list(itertools.product(*mids)), dtype=np.float64)
    grid_p = np.prod(np.array(list(itertools.product(*lens)), dtype=np.float64), axis=1)
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    # Pad the cells to a power of two so that few shapes get compiled.
    size = 1 << max(int(len(grid_p) - 1).bit_length(), 0)
    grid_u = np.concatenate([grid_u, np.repeat(grid_u[:1], size - len(grid_p), axis=0)])
    with enable_x64(True):
        scalar_u = method == "systematic" if resampler is None else len(bps) == 1
        u_j = jnp.asarray(grid_u[:, 0] if scalar_u else grid_u, jnp.float64)
        anc = np.asarray(_batched(fn)(jnp.asarray(lw, jnp.float64), m, u_j))[: len(grid_p)]
    out: dict[tuple[int, ...], float] = {}
    for a, p in zip(map(tuple, anc.tolist()), grid_p, strict=True):
        out[a] = out.get(a, 0.0) + float(p)
    return out


def offspring_distribution(weights: Sequence[float] | NDArray[Any] | jax.Array, method: str = "systematic",
                           num_samples: int | None = None, **kwargs: Any) -> dict[tuple[int, ...], float]:
    """Exact distribution of the offspring counts: ``{counts tuple: probability}``."""
    n = len(weights)
    out: dict[tuple[int, ...], float] = {}
    for anc, p in enumerate_resampling(weights, method, num_samples, **kwargs).items():
        counts = tuple(np.bincount(np.asarray(anc, int), minlength=n).tolist())
        out[counts] = out.get(counts, 0.0) + p
    return out
