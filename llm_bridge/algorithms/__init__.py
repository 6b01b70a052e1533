"""Test-time scaling algorithms over any :class:`~llm_bridge.protocols.Backend` and reward model.

Particle methods (:class:`ParticleFiltering`, :class:`ParticleGibbs`,
:class:`ParallelTempering`), baselines (:class:`BestOfN`, :class:`WeightedBestOfN`,
:class:`SelfConsistency`, :class:`BestOfMajority`, :class:`BeamSearch`, :class:`DVTS`)
and the method registry :func:`get_method` (``"pf"``, ``"pg"``, ...).
"""

from __future__ import annotations

from llm_bridge.algorithms.beam_search import DVTS, BeamSearch
from llm_bridge.algorithms.best_of_n import (
    BestOfMajority,
    BestOfN,
    SelfConsistency,
    WeightedBestOfN,
    WeightedMajority,
    rollout,
)
from llm_bridge.algorithms.config import StepConfig
from llm_bridge.algorithms.particle import Particle, TTSResult
from llm_bridge.algorithms.particle_filtering import ParticleFiltering
from llm_bridge.algorithms.particle_gibbs import ParallelTempering, ParticleGibbs
from llm_bridge.algorithms.randomness import KeyStream
from llm_bridge.algorithms.selection import default_answer_fn
from llm_bridge.algorithms.session import Session
from llm_bridge.algorithms.smc import SMCOptions, log_potential, run_smc
from llm_bridge.algorithms.voting import (
    best_of_majority,
    majority_index,
    majority_vote,
    weighted_index,
    weighted_majority_vote,
)

#: Method names accepted by :func:`get_method` and ``probinf tts run --method``.
METHODS = {
    "pf": ParticleFiltering,
    "pg": ParticleGibbs,
    "pt": ParallelTempering,
    "bon": BestOfN,
    "wbon": WeightedBestOfN,
    "wmajority": WeightedBestOfN,
    "majority": SelfConsistency,
    "self-consistency": SelfConsistency,
    "bom": BestOfMajority,
    "beam": BeamSearch,
    "dvts": DVTS,
}


def get_method(name: str, **kwargs):
    """An algorithm instance by name (``**kwargs`` are its hyperparameters).

    >>> get_method("pf", tau=0.5).tau
    0.5
    """
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"unknown method {name!r}; expected one of {sorted(METHODS)}")
    return METHODS[name](**kwargs)


__all__ = [
    "METHODS",
    "get_method",
    "Particle",
    "Session",
    "KeyStream",
    "StepConfig",
    "TTSResult",
    "SMCOptions",
    "default_answer_fn",
    "log_potential",
    "run_smc",
    "rollout",
    "ParticleFiltering",
    "ParticleGibbs",
    "ParallelTempering",
    "BestOfN",
    "WeightedBestOfN",
    "WeightedMajority",
    "SelfConsistency",
    "BestOfMajority",
    "BeamSearch",
    "DVTS",
    "best_of_majority",
    "majority_index",
    "majority_vote",
    "weighted_index",
    "weighted_majority_vote",
]
