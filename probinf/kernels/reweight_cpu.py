r"""Reweighting with its weight summaries as one CPU kernel (an XLA FFI call), with the pure-JAX path as reference.

Why: a particle-filter step reweights (:math:`\ell_i \leftarrow \ell_i + \log G_i`,
log-evidence increment :math:`\log\sum_i e^{\ell_i}`, normalization) and then needs the
normalized weights for its filtering means and its ESS.  In XLA on a CPU that is about eight
small passes over the particles (max, sum of exponentials, subtraction, exponential, sums),
each a separate thunk, several split over the cores; at N = 1e4 they took about a fifth of a
stochastic-volatility step.  The C++ kernel in ``reweight_cpu.cc`` does it in three
vectorized passes.

Definition (the same as :func:`probinf.population.reweight` followed by the filter's weight
summaries): with :math:`\ell = \ell^0 + g` and :math:`L = \log\sum_i e^{\ell_i}`, the outputs are
the normalized log-weights :math:`\ell - L`, the weights :math:`w = e^{\ell - L}` and
``(L, ESS, valid)`` with :math:`\mathrm{ESS} = (\sum_i w_i)^2 / \sum_i w_i^2`.  ``L`` is NaN when
some :math:`\ell_i` is NaN, ``+inf`` when one is ``+inf`` and ``-inf`` when all are ``-inf`` (as
``jax.scipy.special.logsumexp``); ``valid`` is then 0 and the arrays and the ESS are NaN.
Accuracy: the exponentials are within about 2 float32 ulp of ``exp`` and the sums run in
double precision, so ``L`` agrees with the pure-JAX path to about 1e-6 relative (tested); the
two paths are not bit-identical, so a seed can give a different run on a machine without a
compiler (the same caveat as for the resampling kernel).

float32 only (float64 keeps the pure-JAX path); built like the resampling kernel
(:mod:`probinf.kernels._cpu_build`), ``PROBINF_CPU_KERNELS=0`` disables it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
from jax import lax

from probinf.kernels._cpu_build import build_and_register

__all__ = ["available", "build_error", "reweight_summaries", "reweight_summaries_kernel"]

_SRC = Path(__file__).with_name("reweight_cpu.cc")
_TARGET = "probinf_reweight_f32"
_BUILD_ERROR: list[str] = []

#: ``(normalized log-weights, weights, log-evidence increment, ESS, valid)``
Summaries = tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]


@functools.cache
def available() -> bool:
    """Whether the kernel is built, loaded and registered with XLA (built on first call)."""
    return build_and_register(_SRC, [_TARGET], _BUILD_ERROR)


def build_error() -> str | None:
    """Why :func:`available` is False (None when it is True or was not asked yet)."""
    return _BUILD_ERROR[-1] if _BUILD_ERROR else None


def reweight_summaries_kernel(log_weights: jax.Array, log_increment: jax.Array) -> Summaries:
    """The kernel itself (CPU only; :func:`available` must be True): float32 ``(..., N)`` inputs."""
    lw0 = jnp.asarray(log_weights, jnp.float32)
    g = jnp.broadcast_to(jnp.asarray(log_increment, jnp.float32), lw0.shape)
    arr = jax.ShapeDtypeStruct(lw0.shape, jnp.float32)  # type: ignore[no-untyped-call]  # unannotated in jax
    st = jax.ShapeDtypeStruct((*lw0.shape[:-1], 3), jnp.float32)  # type: ignore[no-untyped-call]  # as above
    call = jax.ffi.ffi_call(_TARGET, (arr, arr, st), vmap_method="broadcast_all")
    lw, w, stats = call(lw0, g)
    return lw, w, stats[..., 0], stats[..., 1], stats[..., 2] > 0


def reweight_summaries(log_weights: jax.Array, log_increment: jax.Array,
                       reference: Callable[[], Summaries]) -> Summaries:
    """The kernel's summaries on a CPU; ``reference()`` (the pure-JAX path) elsewhere, for float64 or without it.

    ``reference`` is a thunk so that this layer needs nothing above it; both branches are
    traced, and only the one for the platform being lowered is compiled.
    """
    if not available() or jnp.dtype(log_weights.dtype) != jnp.float32:
        return reference()
    out: Summaries = lax.platform_dependent(
        cpu=lambda: reweight_summaries_kernel(log_weights, log_increment),
        default=reference,
    )
    return out
