"""llm_bridge: particle-based test-time scaling of LLMs over real backends.

- Interfaces: :class:`Backend`, :class:`RewardModel`, :class:`Generation` (``llm_bridge.protocols``).
- Backends (imported lazily): :class:`TransformersBackend`, :class:`OpenAICompatibleBackend`,
  :class:`VLLMBackend`.
- Reward models: :class:`TransformersPRM`, :class:`EndpointPRM`, :class:`LLMJudgePRM`,
  :class:`SelfCertaintyPRM`, :class:`VerifierPRM`, :class:`ToyStepVerifier`; aggregation
  :func:`get_aggregation` (model / prod / min / last / mean / callable).
- Algorithms: :class:`ParticleFiltering`, :class:`ParticleGibbs`, :class:`ParallelTempering`,
  :class:`BestOfN`, :class:`WeightedBestOfN`, :class:`SelfConsistency`, :class:`BestOfMajority`,
  :class:`BeamSearch`, :class:`DVTS`; :func:`get_method` by name; one :class:`Usage` accounting.
- Estimators: :func:`pass_at_k`, :func:`coverage_curve`, :func:`verifier_ceiling`,
  :func:`accuracy_vs_budget`.
- Testing: :class:`FakeBackend` / :class:`FakePRM` over an exactly known step process.

Example
-------
>>> import llm_bridge as lb
>>> proc = lb.MarkovStepProcess.default()
>>> res = lb.ParticleFiltering().infer(lb.FakeBackend(proc), lb.FakePRM(proc), "Q:\\n", budget=4, seed=0)
>>> res.usage.generations > 0
True
"""

from __future__ import annotations

from llm_bridge.aggregation import AGGREGATIONS, Aggregation, get_aggregation
from llm_bridge.algorithms import (
    DVTS,
    METHODS,
    BeamSearch,
    BestOfMajority,
    BestOfN,
    ParallelTempering,
    Particle,
    ParticleFiltering,
    ParticleGibbs,
    SelfConsistency,
    StepConfig,
    TTSResult,
    WeightedBestOfN,
    WeightedMajority,
    best_of_majority,
    get_method,
    majority_vote,
    weighted_majority_vote,
)
from llm_bridge.budget import Usage
from llm_bridge.contracts import Backend, Generation, RewardModel, TokenScoringBackend
from llm_bridge.estimators import accuracy_vs_budget, coverage_curve, pass_at_k, subsample_curve, verifier_ceiling
from llm_bridge.exceptions import (
    BackendError,
    BackendRequestError,
    BackendUnavailableError,
    InvalidRewardError,
    LLMBridgeDeprecationWarning,
    LLMBridgeWarning,
    MalformedOutputError,
    RewardModelError,
)
from llm_bridge.testing import FakeBackend, FakePRM, MarkovStepProcess
from probinf.lazy import lazy_exports

# Heavy or optional pieces, imported on first access (torch, httpx, vllm stay unimported).
_LAZY = {
    "TransformersBackend": "llm_bridge.backends",
    "OpenAICompatibleBackend": "llm_bridge.backends",
    "VLLMBackend": "llm_bridge.backends",
    "TransformersPRM": "llm_bridge.rewards",
    "EndpointPRM": "llm_bridge.rewards",
    "LLMJudgePRM": "llm_bridge.rewards",
    "SelfCertaintyPRM": "llm_bridge.rewards",
    "VerifierPRM": "llm_bridge.rewards",
    "ToyStepVerifier": "llm_bridge.rewards",
    "toy_model_path": "llm_bridge.toy",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


__all__ = [
    # protocols
    "Backend", "Generation", "RewardModel", "TokenScoringBackend",
    # backends and reward models (lazy)
    *_LAZY,
    # aggregation and budget
    "AGGREGATIONS", "Aggregation", "get_aggregation", "Usage",
    # algorithms
    "METHODS", "get_method", "StepConfig", "Particle", "TTSResult",
    "ParticleFiltering", "ParticleGibbs", "ParallelTempering",
    "BestOfN", "WeightedBestOfN", "WeightedMajority", "SelfConsistency", "BestOfMajority", "BeamSearch", "DVTS",
    "best_of_majority", "majority_vote", "weighted_majority_vote",
    # estimators
    "pass_at_k", "coverage_curve", "verifier_ceiling", "accuracy_vs_budget", "subsample_curve",
    # testing
    "FakeBackend", "FakePRM", "MarkovStepProcess",
    # exceptions
    "BackendError", "BackendRequestError", "BackendUnavailableError", "InvalidRewardError",
    "LLMBridgeWarning", "LLMBridgeDeprecationWarning", "MalformedOutputError", "RewardModelError",
]
