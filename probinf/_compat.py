"""Small shims over JAX API differences between the versions ``pyproject.toml`` allows."""

from __future__ import annotations

import jax

try:  # jax >= 0.8 spells it at the top level
    enable_x64 = jax.enable_x64
except AttributeError:  # pragma: no cover - older jax
    from jax.experimental import enable_x64  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = ["enable_x64"]
