r"""`OpenAICompatibleBackend`: ``/v1/completions`` (or chat) of vLLM serve, SGLang, llama.cpp's server, ...

One :meth:`~OpenAICompatibleBackend.generate` call becomes as few HTTP requests as the
server allows, sent concurrently (``max_concurrency``), each retried on its own
(timeouts, connection errors, 5xx, 429; exponential backoff), so a flaky request never
loses the other particles' answers:

- **Batched prompts** (a list in ``prompt``) when the server accepts them; a server that
  rejects a list (llama.cpp answers HTTP 500) is detected on the first try and the call
  fans out one request per prompt from then on.
- **n > 1** when the server honours it; a server that returns fewer choices than asked
  (llama.cpp silently ignores ``n``) gets the missing samples as extra requests.
- **Seeds**: with ``seed`` given, identical prompts are grouped into one request with
  ``n = multiplicity * n`` and every request gets its own derived seed, because a
  server applies a request's seed to each of its prompts: a batched request would give
  identical prompts identical samples and different prompts the same random numbers
  (common random numbers across particles).  Without a seed, prompts are batched as is.

Finish reasons: vLLM's ``stop_reason`` and SGLang's ``matched_stop`` tell a stop string
(a str) from EOS (None or a token id).  llama.cpp reports both as ``"stop"`` and drops
the terminating token from its logprobs: then, when stop strings were requested, the
finish is reported as ``"stop"`` with ``meta["finish_ambiguous"] = True`` (use a
done-predicate such as an answer pattern in the algorithm), and as ``"eos"`` when none were.

Log-probabilities: ``logprobs=True`` asks for the sampled tokens' log-probabilities
(vLLM and llama.cpp report them under the unmodified distribution); ``logprob`` is their
sum and ``num_tokens`` their count.  llama.cpp is ~6x slower with logprobs on.

Scoring: ``score`` uses the completions ``echo`` + ``logprobs`` protocol (continuation
tokens found by ``text_offset``).  It refuses llama.cpp servers, whose echoed prompt
logprobs are shifted by one token (llama-cpp-python issue #1983); score with
:class:`~llm_bridge.backends.TransformersBackend` on the same weights instead.

Chat: ``api="chat"`` sends ``/v1/chat/completions``; :meth:`chat_prompt` encodes a
conversation into a prompt string to which particles append their steps, continued via
``continue_final_message`` (vLLM, SGLang; llama.cpp closes the assistant turn instead).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, cast

from llm_bridge.backends._chat import CHAT_SENTINEL, chat_prompt, decode_chat
from llm_bridge.backends._common import particle_seed
from llm_bridge.backends._http import HTTPClient, normalize_base_url
from llm_bridge.backends._openai_parse import parse_response
from llm_bridge.backends.fleet import FleetClient, split_base_urls
from llm_bridge.contracts import (
    Generation,
    check_generate_args,
    check_prompts,
    check_score_args,
)
from llm_bridge.exceptions import (
    BackendError,
    BackendRequestError,
    LLMBridgeWarning,
    MalformedOutputError,
)

__all__ = ["OpenAICompatibleBackend", "CHAT_SENTINEL"]

#: Prefix of a chat prompt made by :meth:`OpenAICompatibleBackend.chat_prompt`.

_KNOWN = {
    # server: (accepts prompt lists, honours n, exact echo scoring, continue_final_message)
    "vllm": (True, True, True, True),
    "sglang": (True, True, True, True),
    "llama.cpp": (False, False, False, False),
    "generic": (None, None, True, False),
}


class OpenAICompatibleBackend:
    """A :class:`~llm_bridge.protocols.Backend` over an OpenAI-compatible HTTP server.

    Parameters
    ----------
    base_url : str or sequence of str
        Server root, e.g. ``"http://127.0.0.1:8000"`` (``/v1`` is appended to paths; a ``base_url`` ending in
        ``/v1`` or ``/v1/`` is normalised to the root).  Several replicas of the same model (a list, or one
        comma-separated string) make a fleet: requests go to the least-loaded healthy replica, a failing
        replica's requests are retried on another and it is marked down for ``replica_down_time`` seconds
        (:mod:`llm_bridge.backends.fleet`); ``max_concurrency`` then applies per replica.
    model : str, optional
        Model name sent with each request; default the first of ``GET /v1/models``.
    api : {"completions", "chat"}
    server : {"auto", "vllm", "sglang", "llama.cpp", "generic"}
        Presets the capabilities (prompt lists, ``n``, echo scoring, chat continuation);
        ``"auto"`` guesses from ``/v1/models`` (llama-cpp-python reports ``owned_by="me"``
        and a ``.gguf`` id; vLLM ``owned_by="vllm"``; SGLang ``"sglang"``).  Unknown
        capabilities are probed on first use.
    logprobs : bool
        Request sampled-token log-probabilities.
    timeout, max_retries, backoff, max_concurrency
        HTTP behaviour (seconds, retries after the first attempt, backoff base, requests
        in flight).
    extra_body : dict, optional
        Extra fields for every generation request (e.g. ``{"top_k": 50}`` for vLLM).
    api_key : str, optional
    replica_down_time : float
        Seconds a failing replica of a fleet stays marked down (first ejection).

    Examples
    --------
    >>> be = OpenAICompatibleBackend("http://127.0.0.1:8000")            # doctest: +SKIP
    >>> be.generate(["2+2="], n=4, max_tokens=8, stop=["\\n"], seed=0)   # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api: str = "completions",
        server: str = "auto",
        logprobs: bool = True,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_concurrency: int = 8,
        extra_body: dict | None = None,
        api_key: str | None = None,
        replica_down_time: float = 30.0,
    ):
        if api not in ("completions", "chat"):
            raise ValueError(f"api must be 'completions' or 'chat', got {api!r}")
        if server not in ("auto", *_KNOWN):
            raise ValueError(f"server must be one of {('auto', *_KNOWN)}, got {server!r}")
        urls = [normalize_base_url(u, strip_v1=True) for u in split_base_urls(base_url)]
        self.client: FleetClient | HTTPClient
        if len(urls) > 1:  # a fleet: least-loaded routing, failover, per-replica max_concurrency
            self.client = FleetClient(urls, api_key=api_key, timeout=timeout, max_retries=max_retries, backoff=backoff,
                                      max_concurrency=max_concurrency, down_time=replica_down_time)
        else:
            self.client = HTTPClient(
                urls[0], api_key=api_key, timeout=timeout, max_retries=max_retries, backoff=backoff,
                max_concurrency=max_concurrency,
            )
        self.api = api
        self.logprobs = bool(logprobs)
        self.extra_body = dict(extra_body or {})
        self._model = model
        self._server = None if server == "auto" else server
        caps = _KNOWN[self._server or "generic"]  # server was checked against _KNOWN above
        self.accepts_prompt_lists, self.honours_n, self.exact_echo, self.continues_final_message = caps
        self.stats = {"requests": 0, "fanned_out": 0, "generated_tokens": 0}

    # ------------------------------------------------------------------ server facts
    def _detect(self) -> None:
        if self._server is not None and self._model is not None:
            return
        info = self.client.get("/v1/models")
        data = info.get("data") if isinstance(info, dict) else None
        if not isinstance(data, list) or not data or "id" not in data[0]:
            raise MalformedOutputError(f"GET /v1/models answered {str(info)[:200]}; expected a 'data' list of models")
        if self._model is None:
            self._model = data[0]["id"]
        if self._server is None:
            owner = str(data[0].get("owned_by", "")).lower()
            mid = str(data[0]["id"]).lower()
            if owner == "vllm":
                kind = "vllm"
            elif owner == "sglang":
                kind = "sglang"
            elif mid.endswith(".gguf") or owner in ("me", "llamacpp", "llama.cpp"):
                kind = "llama.cpp"
            else:
                kind = "generic"
            self._server = kind
            self.accepts_prompt_lists, self.honours_n, self.exact_echo, self.continues_final_message = _KNOWN[kind]

    @property
    def server(self) -> str:
        """The detected (or given) server kind."""
        self._detect()
        return cast(str, self._server)  # set by _detect()

    @property
    def model(self) -> str:
        """The model name sent with requests."""
        self._detect()
        return cast(str, self._model)  # set by _detect()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ chat encoding (backends/_chat.py)
    chat_prompt = staticmethod(chat_prompt)
    _decode_chat = staticmethod(decode_chat)

    # ------------------------------------------------------------------ requests
    def _payload(self, prompt, n, max_tokens, temperature, top_p, stop, seed) -> dict:
        p: dict[str, Any] = {"model": self._model, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
        if n != 1:
            p["n"] = n
        if stop:
            p["stop"] = list(stop)
        if seed is not None:
            p["seed"] = seed
        if self.api == "completions":
            p["prompt"] = prompt
            if self.logprobs:
                p["logprobs"] = 1
        else:
            msgs, partial = self._decode_chat(prompt)
            if partial is not None:
                if not self.continues_final_message:
                    raise BackendError(
                        f"this {self._server} server cannot continue a final assistant message over chat; "
                        "use api='completions' with a chat-templated prompt"
                    )
                msgs = msgs + [{"role": "assistant", "content": partial}]
                p.update(continue_final_message=True, add_generation_prompt=False)
            p["messages"] = msgs
            if self.logprobs:
                p["logprobs"] = True
        p.update(self.extra_body)
        return p

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[list[Generation]]:
        """Sample ``n`` continuations of every prompt (see module docs for the request plan)."""
        prompts = check_prompts(prompts)
        n, max_tokens, temperature, top_p, stop, seed = check_generate_args(
            n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed
        )
        self._detect()
        path = "/v1/completions" if self.api == "completions" else "/v1/chat/completions"
        args = (max_tokens, temperature, top_p, stop)
        results: list[list[Generation] | None] = [None] * len(prompts)

        if seed is None and self.api == "completions" and len(prompts) > 1 and self.accepts_prompt_lists is not False:
            payload = self._payload(prompts, n, *args, None)
            self.stats["requests"] += 1
            try:
                resp = self.client.post(path, payload, retries=None if self.accepts_prompt_lists else 0)
                rows = parse_response(resp, len(prompts), stop, self.api)
                self.accepts_prompt_lists = True
                for i, row in enumerate(rows):
                    results[i] = row
            except BackendRequestError as e:
                if self.accepts_prompt_lists or e.status_code is None:
                    raise
                self.accepts_prompt_lists = False  # e.g. llama.cpp: HTTP 500 on a prompt list
                warnings.warn(
                    f"the server rejected a list of prompts (HTTP {e.status_code}); sending one request per prompt",
                    LLMBridgeWarning,
                    stacklevel=2,
                )
        # per distinct prompt: one request for all its samples, derived seeds
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(prompts):
            if results[i] is None:
                groups.setdefault(p, []).append(i)
        if groups:
            keys = list(groups)
            want = [len(groups[k]) * n for k in keys]
            payloads = [
                self._payload(k, w, *args, particle_seed(seed, "group", gi))
                for gi, (k, w) in enumerate(zip(keys, want, strict=True))
            ]
            self.stats["requests"] += len(payloads)
            answers = self.client.post_many(path, payloads)
            got = [parse_response(a, 1, stop, self.api)[0] for a in answers]
            # a server that ignores n: request the missing samples, one request (and seed) each
            extra_payloads, owners = [], []
            for gi, (k, w) in enumerate(zip(keys, want, strict=True)):
                if len(got[gi]) > w:
                    raise MalformedOutputError(f"asked for {w} samples, the server returned {len(got[gi])}")
                if len(got[gi]) < w:
                    if self.honours_n:
                        raise MalformedOutputError(f"asked for n={w} samples, the server returned {len(got[gi])}")
                    self.honours_n = False
                    for j in range(len(got[gi]), w):
                        extra_payloads.append(self._payload(k, 1, *args, particle_seed(seed, "sample", gi, j)))
                        owners.append(gi)
            if extra_payloads:
                self.stats["fanned_out"] += len(extra_payloads)
                self.stats["requests"] += len(extra_payloads)
                for gi, a in zip(owners, self.client.post_many(path, extra_payloads), strict=True):
                    got[gi].extend(parse_response(a, 1, stop, self.api)[0])
            elif any(w > 1 for w in want) and self.honours_n is None:
                self.honours_n = True
            for gi, k in enumerate(keys):
                for r, i in enumerate(groups[k]):
                    results[i] = got[gi][r * n : (r + 1) * n]
        out = [list(r) for r in cast(list[list[Generation]], results)]  # every slot was filled above
        self.stats["generated_tokens"] += sum(g.num_tokens for r in out for g in r)
        return out

    # ------------------------------------------------------------------ scoring
    def score_tokens(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[list[float]]:
        """Per-token log-probabilities of each continuation via ``echo`` + ``logprobs`` (see module docs)."""
        prompts, conts = check_score_args(prompts, continuations)
        self._detect()
        if self.api != "completions" or not self.exact_echo:
            raise BackendError(
                f"score is not available on this {self._server} server: llama.cpp's echoed prompt logprobs are off "
                "by one token (llama-cpp-python issue #1983). Score with TransformersBackend on the same weights."
            )
        out: list[list[float]] = [[] for _ in prompts]
        todo = [i for i, c in enumerate(conts) if c]
        payloads = [
            {"model": self._model, "prompt": prompts[i] + conts[i], "max_tokens": 1, "echo": True, "logprobs": 0,
             "temperature": 0.0}
            for i in todo
        ]
        for i, resp in zip(todo, self.client.post_many("/v1/completions", payloads), strict=True):
            try:
                lp = resp["choices"][0]["logprobs"]
                offs, vals = lp["text_offset"], lp["token_logprobs"]
            except (KeyError, IndexError, TypeError):
                raise MalformedOutputError(f"an echo response lacks logprobs/text_offset: {str(resp)[:200]}") from None
            a, b = len(prompts[i]), len(prompts[i]) + len(conts[i])
            if a not in offs:
                raise BackendError(
                    f"continuation {i} does not start on a token boundary of prompt+continuation; "
                    "the server's tokens straddle it, so its log-probability is not defined by echo scoring"
                )
            sel = [v for o, v in zip(offs, vals, strict=False) if a <= o < b]
            if any(v is None for v in sel):
                raise MalformedOutputError(f"missing logprobs for continuation {i}")
            out[i] = [float(v) for v in sel]
        return out

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[float]:
        """``log p(continuation | prompt)`` via echo scoring (not on llama.cpp; see module docs)."""
        return [math.fsum(t) for t in self.score_tokens(prompts, continuations)]

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend({self.client.base_url!r}, model={self._model!r}, server={self._server!r})"
