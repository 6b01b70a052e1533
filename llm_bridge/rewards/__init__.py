r"""Process reward models (PRMs) behind :class:`~llm_bridge.protocols.RewardModel`.

Every class maps ``score_steps(questions, steps)`` -- a batch of partial answers, each a
list of step strings -- to one probability in ``[0, 1]`` per step ("is the answer still on
track after this step?").  All validate their own output: NaN, values outside ``[0, 1]``
or a wrong number of scores raise :class:`~llm_bridge.exceptions.InvalidRewardError`.

=======================  =================================================================
:class:`TransformersPRM`  a local HF PRM in the Qwen2.5-Math-PRM style: steps joined by a
                          separator token, positive-class probability read at every
                          separator (token classifier, or an LM's two label tokens)
:class:`EndpointPRM`      the same, served by vLLM's ``/pooling`` endpoint (or any server
                          answering per-separator scores)
:class:`LLMJudgePRM`      an LLM as judge: ``P("Yes") / (P("Yes") + P("No"))`` after a
                          question about each step, via ``Backend.score``
:class:`SelfCertaintyPRM` no PRM: the policy's own geometric-mean token probability of each
                          step, ``exp(mean log p)``, via ``Backend.score_tokens``
:class:`VerifierPRM`      a programmatic checker ``check(question, previous_steps, step)``
:class:`ToyStepVerifier`  the exact toy-task step checker with a set false-positive (and
                          false-negative) rate, deterministic per seed
=======================  =================================================================

:func:`llm_bridge.toy.prm.evaluate_prm` measures any of them on the toy task (step AUROC).

Aggregating step scores into one reward per partial answer (prod, min, last, model, ...)
is :mod:`llm_bridge.aggregation`'s job; ``"model"`` aggregation passes the joined answer as
a single step to ``score_steps``.

Repeated prefixes are cheap: the judge, self-certainty and verifier PRMs memoise the score
of each ``(question, steps[:t+1])`` (bounded LRU), so re-scoring a particle's earlier steps
at every step of particle filtering costs nothing.

Example
-------
>>> from llm_bridge.rewards import ToyStepVerifier
>>> prm = ToyStepVerifier(false_positive_rate=0.0)
>>> prm.score_steps(["12 +5 -3\n"], [["12+5=17", "17-3=15"]])
[[0.95, 0.05]]
"""

from __future__ import annotations

from llm_bridge.contracts import check_step_scores
from llm_bridge.rewards._base import QWEN_PRM_SYSTEM_PROMPT
from llm_bridge.rewards.endpoint import EndpointPRM
from llm_bridge.rewards.judge import DEFAULT_JUDGE_TEMPLATE, LLMJudgePRM
from llm_bridge.rewards.self_certainty import SelfCertaintyPRM
from llm_bridge.rewards.transformers import TransformersPRM
from llm_bridge.rewards.verifiers import ToyStepVerifier, VerifierPRM

__all__ = [
    "check_step_scores",
    "TransformersPRM",
    "EndpointPRM",
    "LLMJudgePRM",
    "SelfCertaintyPRM",
    "VerifierPRM",
    "ToyStepVerifier",
    "QWEN_PRM_SYSTEM_PROMPT",
    "DEFAULT_JUDGE_TEMPLATE",
]
