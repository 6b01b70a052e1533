r"""Meshes and sharded particle arrays: the JAX ``jax.sharding`` plumbing of :mod:`probinf.distributed`.

A particle system of ``N`` particles is split into ``D`` shards of ``n = N / D``
consecutive particles, one per device of a one-axis :class:`jax.sharding.Mesh`
(axis name :data:`PARTICLE_AXIS` unless given).  Every leaf of a particle pytree
has its leading (particle) axis sharded with ``NamedSharding(mesh, P(axis))``.

Local devices: ``particle_mesh()`` uses ``jax.devices()``.  Several hosts: call
``jax.distributed.initialize(coordinator_address, num_processes, process_id)`` on
every process *before any other JAX call* (the arguments are detected on Slurm,
Open MPI and Cloud TPU); ``jax.devices()`` then lists every process's devices and
``particle_mesh()`` spans them all.  Every process must run the same sharded
calls in the same order (never a collective under ``if jax.process_index() == 0``);
build inputs with :func:`jax.make_array_from_process_local_data` and read results
with ``jax.experimental.multihost_utils.process_allgather``.  Only the
single-process path is tested (forced host devices on CPU).

The mesh axis is built with ``AxisType.Auto`` explicitly, so its behaviour does not
change with the JAX version (``jax.make_mesh`` defaults to Explicit since 0.9).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["PARTICLE_AXIS", "particle_mesh", "particle_sharding", "shard_particles", "shard_map", "check_mesh"]

PARTICLE_AXIS = "particles"

_shard_map: Callable[..., Any]
try:  # jax >= 0.6.1
    _shard_map = jax.shard_map
    _CHECK_KW = "check_vma"
except AttributeError:  # pragma: no cover - older jax
    from jax.experimental.shard_map import shard_map as _shard_map

    _CHECK_KW = "check_rep"


def shard_map(f: Callable[..., Any], mesh: Mesh, in_specs: Any, out_specs: Any) -> Callable[..., Any]:
    """``jax.shard_map`` (or the experimental one on older JAX) with the replication check off.

    The check is off because the per-shard loop carries (particles, local weights)
    start replicated-looking and become varying; every collective is explicit.
    """
    mapped: Callable[..., Any] = _shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, **{_CHECK_KW: False})
    return mapped


def particle_mesh(devices: Sequence[jax.Device] | None = None, axis_name: str = PARTICLE_AXIS) -> Mesh:
    """A one-axis mesh over ``devices`` (default: all of ``jax.devices()``, every host's)."""
    devs = list(jax.devices() if devices is None else devices)
    if not devs:
        raise ValueError("devices is empty; pass at least one jax device (see jax.devices())")
    kwargs: dict[str, Any] = {}
    axis_type = getattr(getattr(jax.sharding, "AxisType", None), "Auto", None)
    if axis_type is not None:
        kwargs["axis_types"] = (axis_type,)
    return Mesh(np.asarray(devs, dtype=object), (axis_name,), **kwargs)


def check_mesh(mesh: object, num_particles: int | None = None) -> tuple[Mesh, str, int]:
    """Validate a one-axis mesh (and ``num_particles % D == 0``); return ``(mesh, axis, D)``."""
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}; build one with "
            "probinf.distributed.particle_mesh()"
        )
    if len(mesh.axis_names) != 1:
        raise ValueError(
            f"mesh must have exactly one axis (the particle axis), got axes {mesh.axis_names}; "
            "build one with probinf.distributed.particle_mesh()"
        )
    axis = mesh.axis_names[0]
    d = int(mesh.devices.size)
    if num_particles is not None and num_particles % d:
        raise ValueError(
            f"num_particles={num_particles} is not a multiple of the mesh's {d} devices; "
            f"use a multiple of {d} (e.g. {(num_particles // d + 1) * d})"
        )
    return mesh, axis, d


def particle_sharding(mesh: Mesh) -> NamedSharding:
    """``NamedSharding`` splitting the leading (particle) axis over the mesh's one axis."""
    _, axis, _ = check_mesh(mesh)
    return NamedSharding(mesh, PartitionSpec(axis))  # type: ignore[no-untyped-call]  # unannotated in jax


def shard_particles(particles: Any, mesh: Mesh) -> Any:
    """Place every leaf of a particle pytree with its leading axis sharded over ``mesh``."""
    sh = particle_sharding(mesh)
    _, _, d = check_mesh(mesh)
    for leaf in jax.tree_util.tree_leaves(particles):
        if np.ndim(leaf) == 0 or np.shape(leaf)[0] % d:
            raise ValueError(
                f"a particle leaf of shape {np.shape(leaf)} cannot be split over {d} devices; "
                f"its leading axis must be a multiple of {d}"
            )
    return jax.tree_util.tree_map(lambda x: jax.device_put(x, sh), particles)
