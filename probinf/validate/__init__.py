"""Validation harness for SMC/MCMC building blocks, usable on users' own blocks.

- :mod:`probinf.validate.enumeration`: exact enumeration of every proposal and
  resampling outcome of tiny discrete models (N <= 3 particles), the way
  monad-bayes validates composed inference.
- :mod:`probinf.validate.statistical`: fixed-seed statistical checks whose
  tolerances come from the estimator's own standard error (evidence
  unbiasedness, filtering means against the Kalman filter).
- :mod:`probinf.validate.sbc`: simulation-based calibration (rank statistics,
  chi-square uniformity test; Talts et al. 2018) for any posterior sampler.
- :mod:`probinf.validate.geweke`: Geweke's joint-distribution test for MCMC
  kernels, usable on your own ``(key, theta, data) -> theta`` transitions.
"""

from probinf.validate.enumeration import (
    EnumerationResult,
    enumerate_csmc_kernel,
    enumerate_particle_filter,
    enumerate_resampling,
    exact_hmm_posterior,
    exact_path_posterior,
    offspring_distribution,
    resampling_breakpoints,
)
from probinf.validate.geweke import GewekeResult, geweke_test
from probinf.validate.sbc import SBCResult, rank_uniformity_test, sbc, sbc_ranks
from probinf.validate.statistical import (
    StatCheck,
    check_evidence_unbiased,
    check_filtering_means,
    pf_replicates,
)

__all__ = [
    "EnumerationResult",
    "enumerate_csmc_kernel",
    "enumerate_particle_filter",
    "enumerate_resampling",
    "exact_hmm_posterior",
    "exact_path_posterior",
    "offspring_distribution",
    "resampling_breakpoints",
    "StatCheck",
    "check_evidence_unbiased",
    "check_filtering_means",
    "pf_replicates",
    "GewekeResult",
    "geweke_test",
    "SBCResult",
    "rank_uniformity_test",
    "sbc",
    "sbc_ranks",
]
