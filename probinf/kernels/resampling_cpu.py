r"""Systematic resampling as one CPU kernel (an XLA FFI call), with the pure-JAX path as reference.

Why: on a CPU, XLA has no fast sequential prefix sum (``cumsum`` lowers to a tree of
window reductions), and exact systematic resampling needs two of them plus a dozen
small passes; at N = 1e4 that is most of a particle-filter step.  The C++ kernel in
``resampling_cpu.cc`` does the whole thing in two linear passes: double-precision
prefix sums of the weights, then a merge with the sorted points ``u + k``.

Definition (the same as :func:`probinf.resampling._systematic_u`): with
``C_i = M (v_0 + ... + v_i) / sum(v)``, slot ``k < M`` gets the first ``i`` with
``u + k < C_i``; slots left over by rounding go to the last particle with positive
weight.  The prefix sums carry a relative error of about ``N * 2**-53`` (absolute
``1e-8`` at N = M = 1e4, far below the pure-JAX path's ``1e-4``), so offspring counts
lie in ``{floor(M w_i), ceil(M w_i)}`` except at exact ties.

Build: compiled on first use with the system C++ compiler (``$CXX`` or ``c++``)
against ``jax.ffi.include_dir()``, into ``$PROBINF_KERNEL_CACHE`` (default
``~/.cache/probinf``), keyed by a hash of the source, jaxlib's version and the
compiler; about 3 s once per machine.  Without a compiler, or with
``PROBINF_CPU_KERNELS=0``, :func:`available` is False and callers keep the pure-JAX
path (:func:`systematic_ancestors` falls back by itself).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
from jax import lax

from probinf.kernels._cpu_build import build_and_register

__all__ = ["available", "systematic_ancestors", "systematic_ancestors_kernel", "build_error"]

_SRC = Path(__file__).with_name("resampling_cpu.cc")
_TARGETS = {jnp.dtype(jnp.float32): "probinf_systematic_f32", jnp.dtype(jnp.float64): "probinf_systematic_f64"}
_BUILD_ERROR: list[str] = []


@functools.cache
def available() -> bool:
    """Whether the CPU kernel is built, loaded and registered with XLA (built on first call)."""
    return build_and_register(_SRC, list(_TARGETS.values()), _BUILD_ERROR)


def build_error() -> str | None:
    """Why :func:`available` is False (None when it is True or was not asked yet)."""
    return _BUILD_ERROR[-1] if _BUILD_ERROR else None


def systematic_ancestors_kernel(weights: jax.Array, u: jax.Array, num_samples: int | None = None) -> jax.Array:
    """The kernel itself (CPU only; :func:`available` must be True): ``(..., N)`` weights, ``(...)`` uniforms.

    ``weights`` are non-negative in any scale (float32 or float64); returns int32 ancestors ``(..., M)``.
    """
    w = jnp.asarray(weights)
    m = w.shape[-1] if num_samples is None else int(num_samples)
    uu = jnp.broadcast_to(jnp.asarray(u, w.dtype), w.shape[:-1])
    shape = jax.ShapeDtypeStruct((*w.shape[:-1], m), jnp.int32)  # type: ignore[no-untyped-call]  # unannotated in jax
    call = jax.ffi.ffi_call(_TARGETS[jnp.dtype(w.dtype)], shape, vmap_method="broadcast_all")
    out: jax.Array = call(w, uu)
    return out


def systematic_ancestors(weights: jax.Array, u: jax.Array, num_samples: int,
                         reference: Callable[[], jax.Array]) -> jax.Array:
    """The kernel's ancestors on a CPU; ``reference()`` (the pure-JAX path) elsewhere or without the kernel.

    ``reference`` is a thunk so that this layer needs nothing above it; both branches
    are traced, and only the one for the platform being lowered is compiled.
    """
    if not available() or jnp.dtype(weights.dtype) not in _TARGETS:
        return reference()
    out: jax.Array = lax.platform_dependent(
        cpu=lambda: systematic_ancestors_kernel(weights, u, num_samples),
        default=reference,
    )
    return out
