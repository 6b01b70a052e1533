"""Reading an OpenAI-compatible server's answer: choices -> :class:`~llm_bridge.contracts.Generation` rows.

Completions (``text``, ``logprobs.token_logprobs``) and chat (``message.content``, ``logprobs.content``);
finish reasons of vLLM (``stop_reason``), SGLang (``matched_stop``) and the rest. Used by
:class:`llm_bridge.backends.OpenAICompatibleBackend`; every malformed answer is a
:class:`~llm_bridge.exceptions.MalformedOutputError`.
"""

from __future__ import annotations

import math

from llm_bridge.contracts import FinishReason, Generation
from llm_bridge.exceptions import MalformedOutputError

__all__ = ["parse_choice", "parse_response"]


def parse_choice(c: dict, stop: tuple, single: bool, usage_tokens, api: str) -> Generation:
    """One choice of a completions or chat response as a :class:`~llm_bridge.contracts.Generation`."""
    if not isinstance(c, dict):
        raise MalformedOutputError(f"a choice is not an object: {str(c)[:120]}")
    if api == "completions":
        text = c.get("text")
    else:
        text = (c.get("message") or {}).get("content")
    if not isinstance(text, str):
        raise MalformedOutputError(f"a choice has no text: {str(c)[:200]}")
    fr = c.get("finish_reason")
    meta: dict = {}
    lps = None
    lp_obj = c.get("logprobs")
    if lp_obj:
        if api == "completions":
            lps = lp_obj.get("token_logprobs")
        else:
            lps = [t.get("logprob") for t in (lp_obj.get("content") or [])]
        if not isinstance(lps, list):
            raise MalformedOutputError(f"malformed logprobs in a choice: {str(lp_obj)[:200]}")
        try:
            lps = [float("nan") if v is None else float(v) for v in lps]
        except (TypeError, ValueError):
            raise MalformedOutputError(f"non-numeric token logprobs: {str(lps)[:200]}") from None
    finish: FinishReason
    if fr == "length":
        finish = "length"
    elif fr == "stop" or fr == "eos":
        reason_key = "stop_reason" if "stop_reason" in c else ("matched_stop" if "matched_stop" in c else None)
        if reason_key is not None:
            finish = "stop" if isinstance(c[reason_key], str) else "eos"
            meta["stop"] = c[reason_key] if finish == "stop" else None
        elif fr == "eos" or not stop:
            finish = "eos"
        else:
            finish = "stop"
            meta["finish_ambiguous"] = True
    else:
        raise MalformedOutputError(f"unknown finish_reason {fr!r} in a choice")
    if lps is not None:
        num = len(lps)
        logprob = math.fsum(lps)
        meta["token_logprobs"] = tuple(lps)
    else:
        num = int(usage_tokens) if (single and usage_tokens is not None) else 0
        logprob = float("nan")
        if not single:
            meta["num_tokens_unknown"] = True
    return Generation(text=text, token_ids=(), num_tokens=num, logprob=logprob, finish_reason=finish, meta=meta)

def parse_response(resp, expected_prompts: int, stop, api: str) -> list[list[Generation]]:
    """A response's choices, in index order, grouped per prompt (``expected_prompts`` rows)."""
    if not isinstance(resp, dict) or not isinstance(resp.get("choices"), list):
        raise MalformedOutputError(f"the server answered without a 'choices' list: {str(resp)[:200]}")
    choices = resp["choices"]
    usage = (resp.get("usage") or {}).get("completion_tokens")
    single = len(choices) == 1
    if all(isinstance(c, dict) and isinstance(c.get("index"), int) for c in choices):
        choices = sorted(choices, key=lambda c: c["index"])
    gens = [parse_choice(c, stop, single, usage, api) for c in choices]
    if expected_prompts == 1:
        return [gens]
    if len(gens) % expected_prompts:
        raise MalformedOutputError(f"{len(gens)} choices for {expected_prompts} prompts")
    k = len(gens) // expected_prompts
    return [gens[i * k : (i + 1) * k] for i in range(expected_prompts)]
