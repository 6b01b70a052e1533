"""Stop-string handling and per-request seeds shared by all backends (internal).

The argument validators live in :mod:`llm_bridge.contracts`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["truncate_at_stop", "particle_seed"]


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """Cut ``text`` before the earliest occurrence of any stop string.

    Returns ``(text_before_stop, matched_stop)``; ``matched_stop`` is None when no stop
    string occurs.  Ties at the same position go to the longest stop string.
    """
    best, match = None, None
    for s in stop:
        i = text.find(s)
        if i >= 0 and (best is None or i < best or (i == best and match is not None and len(s) > len(match))):
            best, match = i, s
    if best is None:
        return text, None
    return text[:best], match


def particle_seed(seed: int | None, *keys) -> int | None:
    """A reproducible per-request seed derived from ``seed`` and ``keys`` (e.g. prompt and sample indices).

    ``None`` stays ``None`` (nondeterministic).  Distinct keys give (hash-)distinct seeds in
    ``[0, 2**31 - 1)``, so fanned-out particles differ yet the whole call is reproducible.
    """
    if seed is None:
        return None
    h = hashlib.blake2b(repr((int(seed),) + tuple(keys)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big") % (2**31 - 1)
