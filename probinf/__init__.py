"""probinf: composable, validated SMC/MCMC building blocks on JAX + NumPyro.

Blocks: log-space weights (:func:`normalize`, :func:`ess`, :func:`log_mean_exp`),
resampling (:func:`resample`), weighted populations (:class:`Population`,
:func:`reweight`, :func:`resample_population`, :func:`maybe_resample`,
:func:`move`); state-space models (:class:`StateSpaceModel`,
:func:`particle_filter`, :func:`kalman_filter`, :func:`kalman_smoother`).  Algorithms are compositions of these blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from probinf.lazy import lazy_exports

if TYPE_CHECKING:
    from probinf.exceptions import (
        DegenerateWeightsError,
        InvalidWeightsError,
        ModelSpecificationError,
        ProbinfWarning,
        SMCFailedError,
    )
    from probinf.filtering import ParticleFilterResult, particle_filter, particle_filter_core
    from probinf.kalman import LinearGaussian, kalman_filter, kalman_smoother
    from probinf.numpyro_bridge import smc
    from probinf.pmcmc import PGResult, PMMHResult, csmc_kernel, particle_gibbs, pmmh
    from probinf.population import (
        Population,
        ResampleInfo,
        init_population,
        maybe_resample,
        move,
        resample_population,
        reweight,
        take_particles,
    )
    from probinf.resampling import RESAMPLING_METHODS, resample, resample_with_flag
    from probinf.results import SMCResult
    from probinf.smc_kernels import HMC, MALA, RandomWalk
    from probinf.smoothing import backward_sample, trace_genealogy
    from probinf.ssm import Proposal, StateSpaceModel, stochastic_volatility
    from probinf.tempered import tempered_smc
    from probinf.weights import check_log_weights, ess, log_mean_exp, normalize, weights_valid


__version__ = "0.1.0"

# name -> module: the public API is imported lazily
_LAZY: dict[str, str] = {
    "DegenerateWeightsError": "probinf.exceptions",
    "InvalidWeightsError": "probinf.exceptions",
    "ModelSpecificationError": "probinf.exceptions",
    "ProbinfWarning": "probinf.exceptions",
    "Population": "probinf.population",
    "ResampleInfo": "probinf.population",
    "init_population": "probinf.population",
    "maybe_resample": "probinf.population",
    "move": "probinf.population",
    "resample_population": "probinf.population",
    "reweight": "probinf.population",
    "take_particles": "probinf.population",
    "RESAMPLING_METHODS": "probinf.resampling",
    "resample": "probinf.resampling",
    "resample_with_flag": "probinf.resampling",
    "Proposal": "probinf.ssm",
    "StateSpaceModel": "probinf.ssm",
    "stochastic_volatility": "probinf.ssm",
    "ParticleFilterResult": "probinf.filtering",
    "particle_filter": "probinf.filtering",
    "particle_filter_core": "probinf.filtering",
    "LinearGaussian": "probinf.kalman",
    "kalman_filter": "probinf.kalman",
    "kalman_smoother": "probinf.kalman",
    "PGResult": "probinf.pmcmc",
    "PMMHResult": "probinf.pmcmc",
    "csmc_kernel": "probinf.pmcmc",
    "particle_gibbs": "probinf.pmcmc",
    "pmmh": "probinf.pmcmc",
    "backward_sample": "probinf.smoothing",
    "trace_genealogy": "probinf.smoothing",
    "check_log_weights": "probinf.weights",
    "ess": "probinf.weights",
    "log_mean_exp": "probinf.weights",
    "normalize": "probinf.weights",
    "weights_valid": "probinf.weights",
    "HMC": "probinf.smc_kernels",
    "MALA": "probinf.smc_kernels",
    "RandomWalk": "probinf.smc_kernels",
    "SMCResult": "probinf.results",
    "SMCFailedError": "probinf.exceptions",
    "tempered_smc": "probinf.tempered",
    "smc": "probinf.numpyro_bridge",
}

__all__ = [
    "DegenerateWeightsError",
    "InvalidWeightsError",
    "ModelSpecificationError",
    "ProbinfWarning",
    "Population",
    "ResampleInfo",
    "init_population",
    "maybe_resample",
    "move",
    "resample_population",
    "reweight",
    "take_particles",
    "RESAMPLING_METHODS",
    "Proposal",
    "StateSpaceModel",
    "stochastic_volatility",
    "ParticleFilterResult",
    "particle_filter",
    "particle_filter_core",
    "LinearGaussian",
    "kalman_filter",
    "kalman_smoother",
    "PMMHResult",
    "PGResult",
    "pmmh",
    "particle_gibbs",
    "csmc_kernel",
    "backward_sample",
    "trace_genealogy",
    "resample",
    "resample_with_flag",
    "check_log_weights",
    "ess",
    "log_mean_exp",
    "normalize",
    "weights_valid",
    "HMC",
    "MALA",
    "RandomWalk",
    "SMCResult",
    "SMCFailedError",
    "tempered_smc",
    "smc",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
