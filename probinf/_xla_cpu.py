r"""Per-compilation XLA options for the jitted samplers on a CPU (chosen by measurement, never global flags).

XLA's CPU backend asks LLVM for 256-bit vectors by default, also on CPUs with AVX-512.
The samplers' per-particle work is long chains of elementwise integer and float
operations (threefry hashing, ``erf_inv`` for normal draws, log-densities); with
512-bit vectors (native 32-bit rotates, twice the lanes) a stochastic-volatility
particle-filter step at N = 1e4 went from 68 to 57 us (median, 2-core AMD EPYC with
AVX-512, JAX 0.10.2; ``benchmarks/results/particle_filter.md``) with bit-identical
results.  On a CPU without AVX-512 LLVM keeps 256-bit vectors, so the option changes
nothing there; other backends ignore CPU options.

The option is passed to ``jax.jit(..., compiler_options=...)`` of probinf's own
compiled samplers only, so nothing else in the process changes.  It is skipped when
the user's ``XLA_FLAGS`` already set ``--xla_cpu_prefer_vector_width`` (theirs wins),
and ``PROBINF_XLA_CPU_VECTOR_WIDTH`` overrides the width (``256`` gives XLA's default
code, ``0`` passes no option at all).  XLA refuses options it does not know, so the
option is first tried on a one-line function; a jaxlib without it gets no option.
"""

from __future__ import annotations

import functools
import os

import jax

__all__ = ["compiler_options"]

_FLAG = "xla_cpu_prefer_vector_width"
_ENV = "PROBINF_XLA_CPU_VECTOR_WIDTH"


@functools.cache
def compiler_options() -> dict[str, int] | None:
    """``compiler_options`` for probinf's ``jax.jit`` calls (None: XLA's defaults).

    Read once per process from ``PROBINF_XLA_CPU_VECTOR_WIDTH`` (default 512) and
    ``XLA_FLAGS``; a width that is not 0, 128, 256 or 512 raises ``ValueError``.
    """
    if _FLAG in os.environ.get("XLA_FLAGS", ""):
        return None
    raw = os.environ.get(_ENV, "512").strip()
    if raw not in {"0", "128", "256", "512"}:
        raise ValueError(f"{_ENV} must be 0 (no option), 128, 256 or 512, got {raw!r}")
    width = int(raw)
    if width == 0:
        return None
    options = {_FLAG: width}
    try:
        jax.jit(lambda x: x + 1, compiler_options=options).lower(1.0).compile()
    except Exception:  # noqa: BLE001 - XLA reports an unknown option as a generic runtime error
        return None
    return options
