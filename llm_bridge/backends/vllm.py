r"""`VLLMBackend`: vLLM's offline ``LLM`` engine with automatic prefix caching.

A thin layer over vLLM's documented offline API (``vllm.LLM``, ``vllm.SamplingParams``,
``LLM.generate`` with one ``SamplingParams`` per prompt, ``RequestOutput`` /
``CompletionOutput``); ``vllm`` is imported only when the backend is built, with a clear
error when it is missing.  vLLM cannot be installed on the CPU machine this project is
developed on: the layer is tested against a stand-in module that mimics that API (see
``tests/llm_bridge/test_backends_vllm.py``), not against vLLM itself.

Request plan (same as :class:`~llm_bridge.backends.OpenAICompatibleBackend`): identical
prompts are merged into one request with ``n = multiplicity * n``; every distinct prompt
gets its own ``SamplingParams`` and, when ``seed`` is given, its own derived seed (a
shared seed would give identical particles identical samples).  All requests go to ONE
``LLM.generate`` call, so vLLM batches them and, with ``enable_prefix_caching=True``
(default), computes the shared prompt and the particles' shared steps once.

Log-probabilities: ``SamplingParams(logprobs=0)`` returns the sampled tokens'
log-probabilities, which vLLM (V1, default ``logprobs_mode="raw_logprobs"``) computes
from the unmodified model distribution; ``logprob`` is ``cumulative_logprob``.
Finish reasons: ``finish_reason == "length"`` -> ``"length"``; ``"stop"`` with a string
``stop_reason`` -> ``"stop"``; ``"stop"`` with ``stop_reason`` None (EOS) or a token id
(a stop token) -> ``"eos"``.  ``token_ids`` are the generated ids (vLLM includes the
EOS token; text excludes the stop string unless ``include_stop_str_in_output``).

Scoring: the prompt's and continuation's token ids (tokenized as
:class:`~llm_bridge.backends.TransformersBackend` does: the prompt with special tokens,
the continuation without) are sent as one ``{"prompt_token_ids": ...}`` input with
``SamplingParams(max_tokens=1, prompt_logprobs=0)``; the continuation's entries of
``RequestOutput.prompt_logprobs`` are summed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

from llm_bridge.backends._common import particle_seed
from llm_bridge.contracts import (
    FinishReason,
    Generation,
    check_generate_args,
    check_prompts,
    check_score_args,
)
from llm_bridge.exceptions import BackendUnavailableError, MalformedOutputError

__all__ = ["VLLMBackend"]


def _import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise BackendUnavailableError(
            "VLLMBackend needs vLLM (a CUDA/ROCm machine): pip install vllm. "
            "On a CPU-only machine use TransformersBackend, or OpenAICompatibleBackend against a vLLM server."
        ) from e
    return vllm


class VLLMBackend:
    """A :class:`~llm_bridge.protocols.Backend` over ``vllm.LLM``.

    Parameters
    ----------
    model : str
        A local model folder (``save_pretrained`` format, e.g. the toy policy) or a name
        vLLM can resolve.  Ignored when ``llm`` is given.
    llm : vllm.LLM, optional
        An existing engine (e.g. shared with a PRM).
    enable_prefix_caching : bool
        vLLM's automatic prefix caching (on by default in vLLM V1; passed explicitly).
    add_special_tokens : bool
        Whether prompts are tokenized with special tokens (vLLM's default for
        ``generate``: yes).
    **llm_kwargs
        Passed to ``vllm.LLM`` (``dtype``, ``gpu_memory_utilization``, ``max_model_len``,
        ``seed``, ``tensor_parallel_size``, ...).

    Examples
    --------
    >>> from llm_bridge.toy import toy_model_path
    >>> be = VLLMBackend(str(toy_model_path()), gpu_memory_utilization=0.3)  # doctest: +SKIP
    >>> be.generate(["12 +5\\n"], n=8, max_tokens=16, stop=["\\n"], seed=0)   # doctest: +SKIP
    """

    def __init__(self, model: str | None = None, *, llm=None, enable_prefix_caching: bool = True, **llm_kwargs: Any):
        self._vllm = _import_vllm()
        if llm is None:
            if model is None:
                raise ValueError("give a model path/name or an existing vllm.LLM as llm=")
            llm = self._vllm.LLM(model=str(model), enable_prefix_caching=enable_prefix_caching, **llm_kwargs)
        self.llm = llm
        self.stats = {"generate_calls": 0, "requests": 0, "generated_tokens": 0, "scored_tokens": 0}

    @property
    def tokenizer(self):
        """The engine's tokenizer."""
        return self.llm.get_tokenizer()

    def chat_prompt(self, messages: Sequence[dict], *, continue_final_message: bool = False) -> str:
        """Render ``messages`` with the model's chat template (open final message with ``continue_final_message``)."""
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=not continue_final_message,
            continue_final_message=continue_final_message,
        )

    # ------------------------------------------------------------------ generate
    def _params(self, **kw):
        return self._vllm.SamplingParams(**kw)

    def _to_generation(self, o) -> Generation:
        text = getattr(o, "text", None)
        if not isinstance(text, str):
            raise MalformedOutputError(f"vLLM returned a completion without text: {o!r}")
        ids = tuple(int(t) for t in (getattr(o, "token_ids", None) or ()))
        fr = getattr(o, "finish_reason", None)
        sr = getattr(o, "stop_reason", None)
        finish: FinishReason
        if fr == "length":
            finish = "length"
        elif fr == "stop":
            finish = "stop" if isinstance(sr, str) else "eos"
        elif fr == "abort":
            raise MalformedOutputError("vLLM aborted a request (finish_reason='abort')")
        else:
            raise MalformedOutputError(f"vLLM returned an unknown finish_reason {fr!r}")
        lp = getattr(o, "cumulative_logprob", None)
        token_lps = None
        if getattr(o, "logprobs", None):
            token_lps = []
            for tid, d in zip(ids, o.logprobs, strict=False):
                entry = d.get(tid) if isinstance(d, dict) else None
                token_lps.append(float(entry.logprob) if entry is not None else float("nan"))
        meta = {"stop": sr if finish == "stop" else None}
        if token_lps is not None:
            meta["token_logprobs"] = tuple(token_lps)
        return Generation(
            text=text,
            token_ids=ids,
            num_tokens=len(ids),
            logprob=float(lp) if lp is not None else float("nan"),
            finish_reason=finish,
            meta=meta,
        )

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
        """Sample ``n`` continuations of every prompt in one ``LLM.generate`` call (see module docs)."""
        prompts = check_prompts(prompts)
        n, max_tokens, temperature, top_p, stop, seed = check_generate_args(
            n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed
        )
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(prompts):
            groups.setdefault(p, []).append(i)
        keys = list(groups)
        params = [
            self._params(
                n=len(groups[k]) * n, temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                stop=list(stop), seed=particle_seed(seed, "group", gi), logprobs=0,
            )
            for gi, k in enumerate(keys)
        ]
        outs = self.llm.generate(keys, params, use_tqdm=False)
        self.stats["generate_calls"] += 1
        self.stats["requests"] += len(keys)
        if len(outs) != len(keys):
            raise MalformedOutputError(f"vLLM returned {len(outs)} request outputs for {len(keys)} prompts")
        results: list[list[Generation] | None] = [None] * len(prompts)
        for k, ro in zip(keys, outs, strict=True):
            gens = [self._to_generation(o) for o in ro.outputs]
            if len(gens) != len(groups[k]) * n:
                raise MalformedOutputError(f"vLLM returned {len(gens)} completions, expected {len(groups[k]) * n}")
            for r, i in enumerate(groups[k]):
                results[i] = gens[r * n : (r + 1) * n]
        filled = cast(list[list[Generation]], results)  # every slot was filled above
        self.stats["generated_tokens"] += sum(g.num_tokens for r in filled for g in r)
        return [list(r) for r in filled]

    # ------------------------------------------------------------------ scoring
    def score_tokens(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[list[float]]:
        """Per-token log-probabilities of each continuation (``prompt_logprobs``; see module docs)."""
        prompts, conts = check_score_args(prompts, continuations)
        tok = self.tokenizer
        rows = [
            (list(tok(p)["input_ids"]), list(tok(c, add_special_tokens=False)["input_ids"]) if c else [])
            for p, c in zip(prompts, conts, strict=True)
        ]
        out: list[list[float]] = [[] for _ in rows]
        todo = [i for i, (_, c) in enumerate(rows) if c]
        if not todo:
            return out
        inputs = [{"prompt_token_ids": rows[i][0] + rows[i][1]} for i in todo]
        sp = self._params(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        res = self.llm.generate(inputs, sp, use_tqdm=False)
        if len(res) != len(todo):
            raise MalformedOutputError(f"vLLM returned {len(res)} outputs for {len(todo)} scoring inputs")
        for i, ro in zip(todo, res, strict=True):
            p, c = rows[i]
            plp = getattr(ro, "prompt_logprobs", None)
            if plp is None or len(plp) != len(p) + len(c):
                raise MalformedOutputError(f"vLLM returned no/incomplete prompt_logprobs for scoring input {i}")
            vals = []
            for pos, tid in enumerate(c, start=len(p)):
                d = plp[pos]
                entry = d.get(tid) if isinstance(d, dict) else None
                if entry is None:
                    raise MalformedOutputError(f"prompt_logprobs lacks token {tid} at position {pos}")
                vals.append(float(entry.logprob))
            out[i] = vals
        self.stats["scored_tokens"] += sum(len(rows[i][1]) for i in todo)
        return out

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[float]:
        """``log p(continuation | prompt)`` by teacher forcing (``prompt_logprobs``)."""
        return [math.fsum(t) for t in self.score_tokens(prompts, continuations)]
