"""How one step of a test-time-scaling algorithm is generated: :class:`StepConfig`.

A step is the text up to a delimiter (``delimiter``, default a blank line, sent as the stop
string) or a fixed number of tokens (``tokens_per_step``).  A particle finishes on EOS, when a
step contains one of ``final_stop``, or after ``max_steps`` steps.  ``retries``, ``backoff``
and ``timeout`` bound every backend and reward-model call the engine makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["StepConfig"]


@dataclass(frozen=True)
class StepConfig:
    """How a step is generated (see the module docstring).

    Parameters
    ----------
    delimiter : str
        Stop string ending a step (default a blank line, as in the paper's code).
    tokens_per_step : int, optional
        If given, a step is this many tokens instead (no delimiter; its_hub #97).
    max_steps : int
        A particle finishes after this many steps.
    max_step_tokens : int
        ``max_tokens`` of one step in delimiter mode.
    temperature, top_p : float
        Sampling parameters of the policy (paper: 0.8 and 1.0).
    final_stop : tuple of str
        A step containing one of these finishes the particle (e.g. ``("\\boxed",)``).
    retries : int
        Retries of a failed backend / reward call (timeouts, connection errors, 5xx).
    backoff : float
        Seconds before the first retry, doubled each time.
    timeout : float or None
        Seconds one backend or reward-model call may take before the engine's watchdog gives up on it
        with :class:`~llm_bridge.exceptions.BackendTimeoutError` (in-process backends included; an HTTP
        backend's own ``timeout`` usually fires first).  ``None`` waits forever.
    """

    delimiter: str = "\n\n"
    tokens_per_step: int | None = None
    max_steps: int = 32
    max_step_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 1.0
    final_stop: tuple[str, ...] = ()
    retries: int = 3
    backoff: float = 0.0
    timeout: float | None = 600.0

    def validate(self) -> StepConfig:
        if self.tokens_per_step is None:
            if not isinstance(self.delimiter, str) or self.delimiter == "":
                raise ValueError(
                    f"delimiter must be a non-empty string (or set tokens_per_step), got {self.delimiter!r}")
        elif isinstance(self.tokens_per_step, bool) or not isinstance(self.tokens_per_step, int) \
                or self.tokens_per_step < 1:
            raise ValueError(f"tokens_per_step must be a positive int or None, got {self.tokens_per_step!r}")
        for name in ("max_steps", "max_step_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        for name in ("temperature", "top_p"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(v).__name__}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not (0 < self.top_p <= 1):
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if isinstance(self.final_stop, str) or not isinstance(self.final_stop, (tuple, list)) \
                or not all(isinstance(s, str) and s for s in self.final_stop):
            raise TypeError(f"final_stop must be a tuple of non-empty strings, got {self.final_stop!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {self.retries!r}")
        if not (isinstance(self.backoff, (int, float)) and math.isfinite(self.backoff) and self.backoff >= 0):
            raise ValueError(f"backoff must be a finite number of seconds >= 0, got {self.backoff!r}")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and self.timeout > 0
                                             and not isinstance(self.timeout, bool)):
            raise ValueError(f"timeout must be a positive number of seconds or None (no limit), got {self.timeout!r}")
        return self

    @property
    def joiner(self) -> str:
        return "" if self.tokens_per_step else self.delimiter
