r"""SMC kernels: :class:`RandomWalk`, :class:`MALA` and :class:`HMC` (the :class:`~probinf.mcmc.SMCKernel` protocol).

Each bundles a pure transition of :mod:`probinf.mcmc` with ``init_params`` and a ``tune`` rule that calibrates
the proposal on the weighted particle population (covariance of the particles, step size from the last
acceptance rate), as in Chopin & Papaspiliopoulos (2020, Sec. 17.2) and Buchholz, Chopin & Jacob (2021).
Re-exported by :mod:`probinf.mcmc` and :mod:`probinf`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from probinf._checks import check_fraction, check_positive_int
from probinf.mcmc import LogDensityFn, MCMCInfo, MCMCState, Params, hmc_step, mala_step, rwmh_step

__all__ = ["weighted_covariance_chol", "check_kernel_hyperparameters", "RandomWalk", "MALA", "HMC"]


def weighted_covariance_chol(positions: jax.Array, log_weights: jax.Array, *, diagonal: bool = False,
                             jitter: float = 1e-6) -> jax.Array:
    """Cholesky factor of the weighted covariance of ``positions`` (N, d) under ``log_weights`` (N,).

    A relative ``jitter`` times the mean variance is added to the diagonal so that
    a degenerate population (fewer distinct particles than dimensions) still gives
    a usable proposal.
    """
    w = jnp.exp(log_weights - jax.scipy.special.logsumexp(log_weights))
    w = jnp.where(jnp.isfinite(w), w, 0.0)
    mean = w @ positions
    c = positions - mean
    d = positions.shape[1]
    if diagonal:
        var = w @ (c**2)
        var = var + jitter * jnp.mean(var) + 1e-30
        return jnp.diag(jnp.sqrt(var))
    cov = (c * w[:, None]).T @ c
    cov = 0.5 * (cov + cov.T)
    cov = cov + (jitter * jnp.trace(cov) / d + 1e-30) * jnp.eye(d, dtype=cov.dtype)
    chol = jnp.linalg.cholesky(cov)
    # Fall back to the diagonal if the factorization failed (NaN).
    diag = jnp.diag(jnp.sqrt(jnp.clip(jnp.diag(cov), 1e-30)))
    return jnp.where(jnp.all(jnp.isfinite(chol)), chol, diag)


def _adapt_log(value: jax.Array, acceptance_rate: ArrayLike, target: float, rate: float) -> jax.Array:
    # Robbins-Monro-style multiplicative update on the log scale.
    return value * jnp.exp(rate * (acceptance_rate - target))


def _repr(self: object) -> str:
    # Every hyperparameter appears: tempered_smc keys its compilation cache on type and repr.
    args = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
    return f"{type(self).__name__}({args})"


class _CovarianceTuned:
    """The ``tune`` rule the three kernels share: the proposal is preconditioned by the weighted particles'
    covariance factor, and its size (scale or step) is adapted towards ``target_accept`` when ``_adapts()``."""

    diagonal: bool
    target_accept: float

    def _adapts(self) -> bool:
        return bool(getattr(self, "adapt", False))

    def tune(self, params: tuple[jax.Array, jax.Array], positions: jax.Array, log_weights: jax.Array,
             acceptance_rate: jax.Array) -> tuple[jax.Array, jax.Array]:
        _, size = params
        if self._adapts():
            size = _adapt_log(size, acceptance_rate, self.target_accept, 1.0)
        return (weighted_covariance_chol(positions, log_weights, diagonal=self.diagonal), size)

    __repr__ = _repr


def _positive_or_none(kernel: object, name: str) -> None:
    v = getattr(kernel, name, None)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not (
            np.isfinite(v) and v > 0):
        raise ValueError(f"{type(kernel).__name__}({name}=...) must be a positive finite float or None, got {v!r}")


def check_kernel_hyperparameters(kernel: object) -> None:
    """Validate the hyperparameters of :class:`RandomWalk`, :class:`MALA` and :class:`HMC` (at use, not in
    ``__init__``, following scikit-learn); other :class:`SMCKernel` objects are left to themselves."""
    if not isinstance(kernel, (RandomWalk, MALA, HMC)):
        return
    for name in ("scale", "step_size"):
        _positive_or_none(kernel, name)
    check_fraction(kernel.target_accept, f"{type(kernel).__name__}(target_accept=...)", open_low=True,
                   open_high=True)
    if isinstance(kernel, HMC):
        check_positive_int(kernel.num_leapfrog, "HMC(num_leapfrog=...)")


class RandomWalk(_CovarianceTuned):
    r"""Random-walk Metropolis with covariance calibrated on the particles.

    Proposal :math:`N(x, s^2 \hat\Sigma)` with :math:`\hat\Sigma` the weighted
    particle covariance and :math:`s = 2.38/\sqrt d` (Roberts & Rosenthal 2001)
    unless ``scale`` is given.  With ``adapt_scale=True`` the scale is multiplied
    by ``exp(acc - target_accept)`` after every SMC step.

    Parameters
    ----------
    scale : float, optional
        Fixed initial scale; default ``2.38 / sqrt(d)``.
    diagonal : bool
        Use only the particle variances (for high dimension or few particles).
    adapt_scale : bool
        Adapt the scale to ``target_accept`` from the last acceptance rate.
    target_accept : float
        Target acceptance rate (0.234 is optimal for Gaussian-like targets).
    """

    needs_grad = False

    def __init__(self, scale: float | None = None, *, diagonal: bool = False, adapt_scale: bool = False,
                 target_accept: float = 0.234) -> None:
        self.scale = scale
        self.diagonal = diagonal
        self.adapt_scale = adapt_scale
        self.target_accept = target_accept

    def _adapts(self) -> bool:
        return bool(self.adapt_scale)

    def init_params(self, dim: int, dtype: DTypeLike) -> tuple[jax.Array, jax.Array]:
        s = 2.38 / jnp.sqrt(dim) if self.scale is None else self.scale
        return (jnp.eye(dim, dtype=dtype), jnp.asarray(s, dtype))

    def step(self, key: jax.Array, state: MCMCState, logdensity_fn: LogDensityFn, params: Params, *,
             has_aux: bool = False) -> tuple[MCMCState, MCMCInfo]:
        return rwmh_step(key, state, logdensity_fn, params, has_aux=has_aux)


class MALA(_CovarianceTuned):
    r"""Preconditioned Metropolis-adjusted Langevin with step size adapted to ``target_accept``.

    Initial step :math:`1.65\,d^{-1/6}` (Roberts & Rosenthal 2001), preconditioner
    the weighted particle covariance; after each SMC step the step size is
    multiplied by ``exp(acc - target_accept)``.
    """

    needs_grad = True

    def __init__(self, step_size: float | None = None, *, diagonal: bool = False, target_accept: float = 0.574,
                 adapt: bool = True) -> None:
        self.step_size = step_size
        self.diagonal = diagonal
        self.target_accept = target_accept
        self.adapt = adapt

    def init_params(self, dim: int, dtype: DTypeLike) -> tuple[jax.Array, jax.Array]:
        e = 1.65 * dim ** (-1.0 / 6.0) if self.step_size is None else self.step_size
        return (jnp.eye(dim, dtype=dtype), jnp.asarray(e, dtype))

    def step(self, key: jax.Array, state: MCMCState, logdensity_fn: LogDensityFn, params: Params, *,
             has_aux: bool = False) -> tuple[MCMCState, MCMCInfo]:
        return mala_step(key, state, logdensity_fn, params, has_aux=has_aux)


class HMC(_CovarianceTuned):
    r"""Hamiltonian Monte Carlo with the inverse particle covariance as mass matrix.

    ``num_leapfrog`` (maximum, jittered) leapfrog steps of size ``step_size``
    (initially :math:`d^{-1/4}`), adapted after each SMC step towards
    ``target_accept``.
    """

    needs_grad = True

    def __init__(self, step_size: float | None = None, num_leapfrog: int = 10, *, diagonal: bool = False,
                 target_accept: float = 0.8, adapt: bool = True) -> None:
        self.step_size = step_size
        self.num_leapfrog = num_leapfrog
        self.diagonal = diagonal
        self.target_accept = target_accept
        self.adapt = adapt

    def init_params(self, dim: int, dtype: DTypeLike) -> tuple[jax.Array, jax.Array]:
        e = dim ** (-0.25) if self.step_size is None else self.step_size
        return (jnp.eye(dim, dtype=dtype), jnp.asarray(e, dtype))

    def step(self, key: jax.Array, state: MCMCState, logdensity_fn: LogDensityFn, params: Params, *,
             has_aux: bool = False) -> tuple[MCMCState, MCMCInfo]:
        return hmc_step(key, state, logdensity_fn, params, num_leapfrog=self.num_leapfrog, has_aux=has_aux)
