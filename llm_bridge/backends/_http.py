"""A small JSON-over-HTTP client with retries, backoff and a concurrency limit (internal).

Shared by :class:`~llm_bridge.backends.openai.OpenAICompatibleBackend` and
:class:`~llm_bridge.rewards.EndpointPRM`.  Retried: connection errors, timeouts, HTTP 5xx
and 429 (exponential backoff ``backoff * 2**attempt``, capped at ``max_backoff``, with
seeded jitter).  Not retried: other 4xx (the request itself is wrong; raised at once with
its status code so callers can fall back, e.g. fan out a batched request).

:meth:`HTTPClient.post_many` sends several requests concurrently (at most
``max_concurrency`` in flight) and returns the answers in order; each request is retried
on its own, so one flaky request never re-sends (or loses) the others.  If a request
still fails after its retries, :class:`~llm_bridge.exceptions.BackendRequestError` is raised
with the finished answers in ``error.partial`` (``None`` where a request failed).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llm_bridge.exceptions import (
    BackendRequestError,
    BackendUnavailableError,
    MalformedOutputError,
)

__all__ = ["HTTPClient", "normalize_base_url"]

_RETRY_STATUS = {429, 500, 502, 503, 504}
#: Attempts at reaching a server that refuses connections (or cannot be resolved / connected to) before
#: :class:`~llm_bridge.exceptions.BackendUnavailableError`: a dead server fails in about a second, not after
#: the whole retry budget meant for a busy one.
CONNECT_ATTEMPTS = 2
_CONNECT_BACKOFF = 0.25
_CONNECT_TIMEOUT = 5.0


def normalize_base_url(base_url, *, strip_v1: bool = False) -> str:
    """``base_url`` without trailing slashes (and without a trailing ``/v1`` when ``strip_v1``), else ``ValueError``.

    OpenAI-compatible servers are often given as ``http://host:8000/v1`` (the form their docs print); the
    backend appends ``/v1/...`` itself, so the suffix is dropped instead of requesting ``/v1/v1/completions``.
    """
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http(s) URL such as 'http://127.0.0.1:8000', got {base_url!r}")
    url = base_url.strip().rstrip("/")
    if strip_v1 and url.endswith("/v1"):
        url = url[: -len("/v1")]
    if not url.partition("://")[2].strip("/"):
        raise ValueError(f"base_url has no host: {base_url!r}")
    return url


class HTTPClient:
    """JSON POST/GET against ``base_url`` with retries (see module docstring).

    Parameters
    ----------
    base_url : str
        E.g. ``"http://127.0.0.1:8000"`` (trailing slashes dropped; a trailing ``/v1`` is kept as given).
    api_key : str, optional
        Sent as ``Authorization: Bearer ...``.
    timeout : float
        Seconds per request (read; connecting is capped at 5 s).
    max_retries : int
        Retries after the first attempt (so ``max_retries + 1`` attempts at most).
    backoff, max_backoff : float
        Exponential backoff base and cap, in seconds.
    max_concurrency : int
        Requests in flight at once in :meth:`post_many`.
    seed : int, optional
        Seed of the jitter (reproducible retry timing in tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_concurrency: int = 8,
        seed: int | None = None,
    ):
        try:
            import httpx
        except ImportError as e:  # pragma: no cover
            raise BackendUnavailableError("HTTP backends need httpx: pip install 'probinf[llm]'") from e
        base_url = normalize_base_url(base_url)
        if isinstance(timeout, bool) or not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
            raise ValueError(f"timeout must be a positive finite number of seconds, got {timeout!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        for name, v in (("backoff", backoff), ("max_backoff", max_backoff)):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and 0 <= v < float("inf")):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {v!r}")
        self.base_url = base_url
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_concurrency = max_concurrency
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._httpx = httpx
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, _CONNECT_TIMEOUT)),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "failures": 0}

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _sleep(self, attempt: int) -> None:
        with self._lock:
            jitter = self._rng.uniform(0.5, 1.0)
        time.sleep(min(self.max_backoff, self.backoff * 2**attempt) * jitter)

    def request(self, method: str, path: str, payload: dict | None = None, *, retries: int | None = None) -> Any:
        """One JSON request with retries (``retries`` overrides ``max_retries``); returns the decoded JSON body."""
        url = self.base_url + path
        last: Exception | None = None
        status = None
        max_retries = self.max_retries if retries is None else int(retries)
        connect_failures = 0
        for attempt in range(max_retries + 1):
            with self._lock:
                self.stats["requests"] += 1
                if attempt:
                    self.stats["retries"] += 1
            try:
                resp = self._client.request(method, url, json=payload)
            except (self._httpx.ConnectError, self._httpx.ConnectTimeout) as e:
                connect_failures += 1
                if connect_failures >= min(CONNECT_ATTEMPTS, max_retries + 1):
                    self._unavailable(url, e)
                last, status = e, None
                time.sleep(_CONNECT_BACKOFF)
                continue
            except (self._httpx.TimeoutException, self._httpx.TransportError) as e:
                last, status = e, None
                if attempt < max_retries:
                    self._sleep(attempt)
                continue
            status = resp.status_code
            if status in _RETRY_STATUS:
                last = BackendRequestError(f"HTTP {status} from {url}: {resp.text[:300]}", status_code=status)
                if attempt < max_retries:
                    self._sleep(attempt)
                continue
            if status >= 400:
                with self._lock:
                    self.stats["failures"] += 1
                raise BackendRequestError(
                    f"HTTP {status} from {url} (not retried: the request was rejected): {resp.text[:300]}",
                    status_code=status,
                    attempts=attempt + 1,
                )
            try:
                return resp.json()
            except (json.JSONDecodeError, ValueError) as e:
                raise MalformedOutputError(
                    f"{url} answered HTTP {status} with a non-JSON body: {resp.text[:200]!r}") from e
        with self._lock:
            self.stats["failures"] += 1
        kind = f"HTTP {status}" if status is not None else type(last).__name__
        raise BackendRequestError(
            f"{method} {url} failed after {max_retries + 1} attempts ({kind}): {last}",
            status_code=status,
            attempts=max_retries + 1,
        ) from last

    def _unavailable(self, url: str, exc: Exception):
        with self._lock:
            self.stats["failures"] += 1
        raise BackendUnavailableError(
            f"no server answers at {url} ({type(exc).__name__}: {exc}); start it first (e.g. "
            "`python -m llama_cpp.server --model MODEL.gguf --port 8000` or `vllm serve MODEL --port 8000`) "
            f"or pass the base_url it listens on (now {self.base_url!r}, without /v1)"
        ) from None

    def post(self, path: str, payload: dict, *, retries: int | None = None) -> Any:
        """POST ``payload`` as JSON to ``path``."""
        return self.request("POST", path, payload, retries=retries)

    def get(self, path: str) -> Any:
        """GET ``path``."""
        return self.request("GET", path)

    def post_many(self, path: str, payloads: Sequence[dict]) -> list[Any]:
        """POST every payload (at most ``max_concurrency`` at once); answers in input order."""
        payloads = list(payloads)
        if len(payloads) <= 1 or self.max_concurrency == 1:
            results: list[Any] = []
            for i, p in enumerate(payloads):
                try:
                    results.append(self.post(path, p))
                except BackendRequestError as e:
                    e.partial = results + [None] * (len(payloads) - i)
                    raise
            return results
        return post_concurrently(self.post, path, payloads, min(self.max_concurrency, len(payloads)))


def post_concurrently(post: Any, path: str, payloads: list[dict], workers: int) -> list[Any]:
    """``post(path, payload)`` for every payload on ``workers`` threads; answers in input order.

    A failed request does not cancel the others: the first failure (by input index) is raised, and when it is a
    :class:`BackendRequestError` it carries the other answers in ``partial`` and the failed indices in
    ``failed_indices``.
    """
    results: list[Any] = [None] * len(payloads)
    errors: list[tuple[int, Exception]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = {pool.submit(post, path, p): i for i, p in enumerate(payloads)}
        for fut, i in futs.items():
            try:
                results[i] = fut.result()
            except Exception as e:  # collected; the other requests keep their answers
                errors.append((i, e))
    if errors:
        _, first = min(errors, key=lambda t: t[0])
        if isinstance(first, BackendRequestError):
            first.partial = results
            first.failed_indices = [j for j, _ in errors]
        raise first
    return results
