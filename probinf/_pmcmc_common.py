"""Helpers shared by the particle MCMC samplers (:mod:`probinf.pmcmc`, :mod:`probinf.gibbs`)."""

from __future__ import annotations

from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

__all__: list[str] = []


def _names(param_names: Iterable[str] | None, d: int) -> tuple[str, ...]:
    if param_names is None:
        return tuple(f"theta_{i}" for i in range(d))
    names = tuple(param_names)
    if len(names) != d:
        raise ValueError(f"param_names has {len(names)} entries but theta has dimension {d}")
    return names


def _theta_init(initial_theta: object, num_chains: int) -> jax.Array:
    if initial_theta is None or isinstance(initial_theta, (str, bytes, dict)):
        raise TypeError(f"initial_theta must be a (d,) or (num_chains, d) array of floats, got {initial_theta!r}")
    try:
        th = jnp.asarray(initial_theta)
    except (TypeError, ValueError):
        raise TypeError(
            f"initial_theta must be a (d,) or (num_chains, d) array of floats, got {initial_theta!r}") from None
    if not np.all(np.isfinite(np.asarray(th, dtype=float))):
        raise ValueError(f"initial_theta must be finite, got {np.asarray(initial_theta)}")
    if not jnp.issubdtype(th.dtype, jnp.floating):
        th = th.astype(jnp.result_type(float))
    if th.ndim == 1:
        th = jnp.broadcast_to(th, (num_chains, th.shape[0]))
    if th.ndim != 2 or th.shape[0] != num_chains or th.shape[1] < 1:
        raise ValueError(f"initial_theta must have shape (d,) or (num_chains, d) = ({num_chains}, d) with d >= 1, "
                         f"got {th.shape}")
    return th


def _check_step_size(step_size: object, d: int) -> None:
    s = np.asarray(step_size, dtype=float) if not isinstance(step_size, (str, bytes)) else None
    if s is None or s.ndim > 1 or (s.ndim == 1 and s.shape[0] != d) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(
            f"step_size must be a positive finite float or a (d,) = ({d},) array of them, got {step_size!r}"
        )
