"""Exceptions and warnings of :mod:`llm_bridge` (all subclass builtins).

Shared by backends, reward models and the algorithms: catch the builtin base
(``ValueError``, ``RuntimeError``, ``TimeoutError``) or the specific class.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "LLMBridgeWarning",
    "LLMBridgeDeprecationWarning",
    "BackendError",
    "BackendUnavailableError",
    "BackendTimeoutError",
    "MalformedOutputError",
    "BackendRequestError",
    "RewardModelError",
    "InvalidRewardError",
]


class LLMBridgeWarning(UserWarning):
    """A recoverable problem (e.g. a server ignored ``n`` and the backend fanned out)."""


class LLMBridgeDeprecationWarning(LLMBridgeWarning, FutureWarning):
    """A renamed argument was used by its former name (it works for one more release)."""


class BackendError(RuntimeError):
    """A generation/scoring backend failed (base class of the backend errors)."""


class BackendUnavailableError(BackendError):
    """A backend cannot be used at all: its library is missing (``vllm``, ``transformers``, ``httpx``) or its
    server does not answer.  The message names what is missing (the package, or the URL tried) and the fix.
    Never retried."""


class BackendTimeoutError(BackendError, TimeoutError):
    """A backend or reward-model call did not return within its ``timeout`` (an in-process call is abandoned
    by the watchdog; its thread may still be running).  Never retried."""


class MalformedOutputError(BackendError, ValueError):
    """A backend returned output that does not follow its API (missing fields, wrong counts, non-numeric logprobs)."""


class BackendRequestError(BackendError):
    """A request to a server failed after all retries (timeouts, connection errors, 5xx) or was rejected (4xx)."""

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 1):
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts

    # set by the batched clients on the error they re-raise (declarations only: not set here)
    partial: list[Any]
    failed_indices: list[int]


class RewardModelError(RuntimeError):
    """A reward model failed to produce scores (base class of the reward-model errors)."""


class InvalidRewardError(RewardModelError, ValueError):
    """A reward model returned NaN, a value outside ``[0, 1]`` or the wrong number of step scores."""
