"""probinf: composable, validated SMC/MCMC building blocks on JAX + NumPyro.

Blocks: log-space weights (:func:`normalize`, :func:`ess`, :func:`log_mean_exp`),
resampling (:func:`resample`), weighted populations (:class:`Population`,
:func:`reweight`, :func:`resample_population`, :func:`maybe_resample`,
:func:`move`); state-space models (:class:`StateSpaceModel`,
:func:`particle_filter`, :func:`kalman_filter`, :func:`kalman_smoother`).  Algorithms are compositions of these blocks.
"""

from probinf.exceptions import (
    DegenerateWeightsError,
    InvalidWeightsError,
    ModelSpecificationError,
    ProbinfWarning,
)
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
from probinf.ssm import Proposal, StateSpaceModel, stochastic_volatility
from probinf.filtering import ParticleFilterResult, particle_filter, particle_filter_core
from probinf.kalman import LinearGaussian, kalman_filter, kalman_smoother
from probinf.pmcmc import PGResult, PMMHResult, csmc_kernel, particle_gibbs, pmmh
from probinf.smoothing import backward_sample, trace_genealogy
from probinf.weights import check_log_weights, ess, log_mean_exp, normalize, weights_valid
from probinf.mcmc import HMC, MALA, RandomWalk  # SMC samplers (engineer B)
from probinf.results import SMCResult
from probinf.exceptions import SMCFailedError
from probinf.tempered import tempered_smc
from probinf.numpyro_bridge import smc

__version__ = "0.1.0"

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
