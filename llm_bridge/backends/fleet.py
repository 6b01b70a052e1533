"""A client for a fleet of OpenAI-compatible replicas: least-loaded routing, failover, ejection (internal).

:class:`FleetClient` has the interface of :class:`~llm_bridge.backends._http.HTTPClient`
(``post``, ``get``, ``post_many``, ``close``, ``stats``) over several replica URLs, so
:class:`~llm_bridge.backends.OpenAICompatibleBackend` uses it unchanged when given a
list (or a comma-separated string) of base URLs.

- **Balancing by in-flight load.** Each request goes to the healthy replica with the
  fewest requests in flight (ties broken at random with a seeded generator), and never
  above ``max_concurrency`` *per replica* (set it to the server's batch size: llama.cpp
  ``--parallel``, vLLM ``--max-num-seqs``); beyond that, requests queue on the client.
- **Failover.** A connection error, a timeout, HTTP 429 or 5xx is retried at once on
  *another* replica (the request never changed any server state: completions are pure),
  with exponential backoff only after every live replica failed it.  Other 4xx are
  raised at once (the request itself is wrong).  The answer kept for a request is the
  one successful attempt, so a particle is answered exactly once: no particle is lost
  or duplicated when a replica dies mid-run.
- **Ejection.** A replica is marked down after a connection error or timeout, or after
  ``eject_after`` consecutive 429/5xx answers, for ``down_time * k`` seconds at its k-th
  ejection (capped at 8x); then it is tried again (half-open) and a success resets it.
  When every replica is down a request waits for the first to come back, within its
  attempt budget, then fails with a clear error.

Same seeds, same results across replicas hold only where the servers are deterministic
(temperature 0, or identical binaries, weights and flags with batch-invariant kernels);
see ``docs/scaling.md``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from typing import Any

from llm_bridge.backends._http import _RETRY_STATUS, HTTPClient, post_concurrently
from llm_bridge.exceptions import BackendRequestError, BackendUnavailableError

__all__ = ["FleetClient", "split_base_urls"]


def split_base_urls(base_url) -> list[str]:
    """``"http://a,http://b"`` or ``["http://a", "http://b"]`` -> a list of stripped URLs (at least one)."""
    if isinstance(base_url, str):
        urls = [u.strip() for u in base_url.split(",")]
    elif isinstance(base_url, (list, tuple)):
        urls = [u.strip() if isinstance(u, str) else u for u in base_url]
    else:
        raise TypeError(
            f"base_url must be a str, a comma-separated str or a list of str, got {type(base_url).__name__}")
    urls = [u for u in urls if u != ""]
    if not urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
        raise ValueError(f"base_url must name one or more http(s) URLs, got {base_url!r}")
    if len(set(urls)) != len(urls):
        raise ValueError(f"base_url lists a replica twice: {urls}")
    return urls


class _Replica:
    def __init__(self, url: str, client: HTTPClient):
        self.url = url
        self.client = client
        self.in_flight = 0
        self.down_until = 0.0
        self.consecutive_failures = 0
        self.ejections = 0
        self.served = 0
        self.failed = 0


class FleetClient:
    """JSON requests spread over replica URLs (see module docstring).

    Parameters
    ----------
    base_urls : sequence of str
        Replica roots, e.g. ``["http://127.0.0.1:8001", "http://127.0.0.1:8002"]``.
    api_key, timeout, backoff : as for ``HTTPClient``
    max_retries : int
        Attempts after the first, over all replicas.
    max_concurrency : int
        Requests in flight *per replica*.
    down_time : float
        Seconds a replica stays marked down after its first ejection.
    eject_after : int
        Consecutive 429/5xx answers that eject a replica (connection errors eject at once).
    seed : int, optional
        Seed of the tie-breaking and jitter.
    """

    def __init__(self, base_urls: Sequence[str], *, api_key: str | None = None, timeout: float = 60.0,
                 max_retries: int = 4, backoff: float = 0.5, max_concurrency: int = 8, down_time: float = 30.0,
                 eject_after: int = 2, seed: int | None = None):
        urls = split_base_urls(list(base_urls))
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if not (isinstance(down_time, (int, float)) and down_time >= 0):
            raise ValueError(f"down_time must be a number of seconds >= 0, got {down_time!r}")
        self.replicas = [
            _Replica(u, HTTPClient(u, api_key=api_key, timeout=timeout, max_retries=0, backoff=backoff,
                                   max_concurrency=max_concurrency, seed=seed))
            for u in urls
        ]
        self.base_url = ",".join(urls)
        self.max_retries = max_retries
        self.per_replica = max_concurrency
        self.max_concurrency = max_concurrency * len(urls)
        self.backoff = float(backoff)
        self.down_time = float(down_time)
        self.eject_after = int(eject_after)
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self.stats = {"requests": 0, "retries": 0, "failures": 0, "failovers": 0, "ejections": 0}

    def close(self) -> None:
        """Close every replica's connection pool."""
        for r in self.replicas:
            r.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def replica_stats(self) -> list[dict]:
        """Per replica: URL, requests served and failed, ejections, whether it is down now."""
        now = time.monotonic()
        with self._cond:
            return [dict(url=r.url, served=r.served, failed=r.failed, ejections=r.ejections,
                         down=r.down_until > now) for r in self.replicas]

    # ------------------------------------------------------------------ routing
    def _acquire(self, avoid: set, deadline: float) -> _Replica:
        with self._cond:
            while True:
                now = time.monotonic()
                up = [r for r in self.replicas if r.down_until <= now]
                free = [r for r in up if r.in_flight < self.per_replica]
                fresh = [r for r in free if r.url not in avoid] or ([] if any(r.url not in avoid for r in up) else free)
                if fresh:
                    low = min(r.in_flight for r in fresh)
                    pick = self._rng.choice([r for r in fresh if r.in_flight == low])
                    pick.in_flight += 1
                    return pick
                if now >= deadline:
                    raise BackendRequestError(
                        f"no replica of {self.base_url} became available within the request's time budget "
                        f"({self._describe()}); restart a replica or raise down_time/timeout")
                wake = min([r.down_until for r in self.replicas if r.down_until > now] + [deadline])
                self._cond.wait(timeout=max(0.001, min(wake - now, 1.0)))

    def _release(self, rep: _Replica, outcome: str) -> None:
        with self._cond:
            rep.in_flight -= 1
            if outcome == "ok":
                rep.served += 1
                rep.consecutive_failures = 0
            elif outcome in ("down", "status"):
                rep.failed += 1
                rep.consecutive_failures += 1
                already_down = rep.down_until > time.monotonic()  # in-flight failures of one outage: eject once
                if not already_down and (outcome == "down" or rep.consecutive_failures >= self.eject_after):
                    rep.ejections += 1
                    rep.consecutive_failures = 0
                    rep.down_until = time.monotonic() + self.down_time * min(rep.ejections, 8)
                    self.stats["ejections"] += 1
            self._cond.notify_all()

    def _describe(self) -> str:
        now = time.monotonic()
        return ", ".join(f"{r.url}: {'down %.1fs' % (r.down_until - now) if r.down_until > now else 'up'}"
                         for r in self.replicas)

    # ------------------------------------------------------------------ requests
    def request(self, method: str, path: str, payload: dict | None = None, *, retries: int | None = None) -> Any:
        """One JSON request, failing over between replicas; returns the decoded JSON body."""
        attempts = (self.max_retries if retries is None else int(retries)) + 1
        probing = retries == 0  # a capability probe (e.g. prompt lists): its 5xx says nothing about health
        timeout = self.replicas[0].client.timeout
        deadline = time.monotonic() + attempts * (timeout + self.down_time) + 1.0
        tried: set = set()
        last: BackendRequestError | BackendUnavailableError | None = None
        for attempt in range(attempts):
            rep = self._acquire(tried, deadline)
            with self._cond:
                self.stats["requests"] += 1
                if attempt:
                    self.stats["retries"] += 1
                    self.stats["failovers"] += rep.url not in tried
            try:
                out = rep.client.request(method, path, payload, retries=0)
            except (BackendRequestError, BackendUnavailableError) as e:  # unavailable: nothing listens there
                status = getattr(e, "status_code", None)
                if status is not None and status not in _RETRY_STATUS:
                    self._release(rep, "rejected")
                    raise
                self._release(rep, "down" if status is None else ("neutral" if probing else "status"))
                tried.add(rep.url)
                last = e
                if len(tried) >= len(self.replicas) and attempt + 1 < attempts:
                    time.sleep(min(8.0, self.backoff * 2 ** (attempt // len(self.replicas))))
                continue
            except BaseException:
                self._release(rep, "neutral")
                raise
            self._release(rep, "ok")
            return out
        with self._cond:
            self.stats["failures"] += 1
        raise BackendRequestError(
            f"{method} {path} failed on every replica tried ({sorted(tried)}) after {attempts} attempts: {last}. "
            "The other requests' answers are kept; check the replicas or raise max_retries",
            status_code=getattr(last, "status_code", None), attempts=attempts) from last

    def post(self, path: str, payload: dict, *, retries: int | None = None) -> Any:
        """POST ``payload`` as JSON to ``path`` on the least-loaded healthy replica."""
        return self.request("POST", path, payload, retries=retries)

    def get(self, path: str) -> Any:
        """GET ``path`` from a healthy replica."""
        return self.request("GET", path)

    def post_many(self, path: str, payloads: Sequence[dict]) -> list[Any]:
        """POST every payload concurrently (``max_concurrency`` per replica); answers in input order.

        As :meth:`HTTPClient.post_many`: a request that fails everywhere raises
        :class:`BackendRequestError` with the other answers in ``error.partial``.
        """
        payloads = list(payloads)
        return post_concurrently(self.post, path, payloads, min(self.max_concurrency, len(payloads)))
