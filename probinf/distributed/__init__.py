"""Particle systems and chains across devices and hosts, with JAX's own sharding (``jax.sharding``, ``shard_map``).

- :mod:`~probinf.distributed.mesh`: meshes over local devices or, after ``jax.distributed.initialize``, hosts;
- :mod:`~probinf.distributed.resampling`: exact global systematic / stratified resampling over shards;
- :mod:`~probinf.distributed.filtering`: sharded particle filters (global or island interaction);
- :mod:`~probinf.distributed.tempered`: adaptive tempered SMC with sharded particles;
- :mod:`~probinf.distributed.chains`: PMMH and particle-Gibbs chains sharded over devices.
"""

from probinf.distributed.chains import shard_chain_inputs, sharded_particle_gibbs, sharded_pmmh
from probinf.distributed.filtering import INTERACTIONS, sharded_particle_filter
from probinf.distributed.mesh import PARTICLE_AXIS, particle_mesh, particle_sharding, shard_particles
from probinf.distributed.resampling import (
    SHARDED_RESAMPLING_METHODS,
    sharded_resample,
    sharded_resample_particles,
)
from probinf.distributed.tempered import ShardedTemperedResult, sharded_tempered_smc

__all__ = [
    "PARTICLE_AXIS",
    "particle_mesh",
    "particle_sharding",
    "shard_particles",
    "SHARDED_RESAMPLING_METHODS",
    "sharded_resample",
    "sharded_resample_particles",
    "INTERACTIONS",
    "sharded_particle_filter",
    "shard_chain_inputs",
    "sharded_pmmh",
    "sharded_particle_gibbs",
    "ShardedTemperedResult",
    "sharded_tempered_smc",
]
