"""The interfaces every LLM backend and reward model implements (kept import path).

The Protocols, :class:`Generation` and their validators live in :mod:`llm_bridge.contracts`;
this module re-exports the Protocols under their historical import path.
"""

from __future__ import annotations

from llm_bridge.contracts import Backend, FinishReason, Generation, RewardModel, TokenScoringBackend

__all__ = ["Generation", "Backend", "TokenScoringBackend", "RewardModel", "FinishReason"]
