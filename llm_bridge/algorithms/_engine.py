"""The step engine's names under their older import path (the engine is split by concept).

- :mod:`llm_bridge.algorithms.config` -- :class:`StepConfig`;
- :mod:`llm_bridge.algorithms.particle` -- :class:`Particle`, :class:`TTSResult`;
- :mod:`llm_bridge.algorithms.session` -- :class:`Session` (batched, retried, watched calls);
- :mod:`llm_bridge.algorithms.randomness` -- :class:`KeyStream` (the run's JAX key);
- :mod:`llm_bridge.algorithms.selection` -- :func:`default_answer_fn`, :func:`select`, :func:`finish`;
- :mod:`llm_bridge.algorithms.smc` -- :func:`log_potential` and the shared SMC loop;
- :mod:`llm_bridge.contracts` -- :func:`check_prompt` and the other validators.
"""

from __future__ import annotations

from llm_bridge.algorithms.config import StepConfig
from llm_bridge.algorithms.particle import Particle, TTSResult
from llm_bridge.algorithms.randomness import KeyStream
from llm_bridge.algorithms.selection import default_answer_fn, finish, select
from llm_bridge.algorithms.session import Session
from llm_bridge.algorithms.smc import log_potential
from llm_bridge.contracts import check_prompt

__all__ = [
    "StepConfig",
    "Particle",
    "Session",
    "TTSResult",
    "KeyStream",
    "log_potential",
    "default_answer_fn",
    "check_prompt",
    "select",
    "finish",
]
