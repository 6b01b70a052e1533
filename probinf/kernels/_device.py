"""Device helpers shared by the kernels' GPU (Pallas) paths: one place for each check."""

from __future__ import annotations

from probinf.kernels.exceptions import BackendUnavailableError

__all__ = ["jax_has_gpu", "next_pow2", "require_pallas_device"]


def next_pow2(v: int) -> int:
    """Smallest power of two >= ``v`` (1 for ``v <= 1``): Pallas block shapes."""
    return 1 if v <= 1 else 1 << (int(v) - 1).bit_length()


def jax_has_gpu() -> bool:
    """Whether JAX sees a GPU (imports JAX lazily: torch-only callers never pay for it)."""
    import jax

    try:
        return any(d.platform == "gpu" for d in jax.devices())
    except RuntimeError:
        return False


def require_pallas_device(interpret: bool, has_gpu: bool) -> None:
    """Raise :class:`BackendUnavailableError` when a Pallas kernel can run neither on a GPU nor interpreted."""
    if not interpret and not has_gpu:
        raise BackendUnavailableError(
            "backend='pallas' needs a GPU visible to JAX (jax.devices() has none here); "
            "use backend='cpu', or interpret=True to run the kernel in interpreter mode"
        )
