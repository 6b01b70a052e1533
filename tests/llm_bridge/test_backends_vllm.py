"""VLLMBackend against a stand-in ``vllm`` module that implements vLLM's documented offline API
(``LLM``, ``SamplingParams``, ``RequestOutput``/``CompletionOutput``, ``prompt_logprobs``) on top of a
tiny transformers model.  vLLM itself cannot be installed here (no GPU); these tests check the layer's
use of that API: one ``generate`` call, per-prompt params, distinct seeds, finish mapping, scoring."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from llm_bridge.exceptions import BackendUnavailableError, MalformedOutputError  # noqa: E402
from llm_bridge.protocols import Backend  # noqa: E402


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list
    cumulative_logprob: float | None
    logprobs: list | None
    finish_reason: str | None = None
    stop_reason: object = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list
    prompt_logprobs: list | None
    outputs: list = field(default_factory=list)
    finished: bool = True


def make_fake_vllm(model_dir):
    """A module exposing ``LLM`` and ``SamplingParams`` with vLLM's signatures, backed by TransformersBackend."""
    from llm_bridge.backends import TransformersBackend

    mod = types.ModuleType("vllm")
    mod.calls = []

    class SamplingParams:
        def __init__(self, n=1, temperature=1.0, top_p=1.0, max_tokens=16, stop=None, seed=None, logprobs=None,
                     prompt_logprobs=None, **kw):
            self.n, self.temperature, self.top_p, self.max_tokens = n, temperature, top_p, max_tokens
            self.stop, self.seed, self.logprobs, self.prompt_logprobs = stop or [], seed, logprobs, prompt_logprobs

    class LLM:
        def __init__(self, model, enable_prefix_caching=None, **kw):
            self.kw = dict(kw, enable_prefix_caching=enable_prefix_caching)
            self.be = TransformersBackend.from_pretrained(model, device="cpu")

        def get_tokenizer(self):
            return self.be.tokenizer

        def generate(self, prompts, sampling_params=None, use_tqdm=True):
            params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
            assert len(params) == len(prompts)
            mod.calls.append((list(prompts), params))
            outs = []
            for r, (p, sp) in enumerate(zip(prompts, params, strict=True)):
                if isinstance(p, dict):  # TokensPrompt: scoring with prompt_logprobs
                    ids = p["prompt_token_ids"]
                    lps = self.be.score_ids([ids[:1]], [ids[1:]])[0]
                    plp = [None] + [{t: Logprob(float(v))} for t, v in zip(ids[1:], lps, strict=True)]
                    outs.append(RequestOutput(str(r), None, ids, plp if sp.prompt_logprobs is not None else None))
                    continue
                gens = self.be.generate([p], n=sp.n, max_tokens=sp.max_tokens, temperature=sp.temperature,
                                        top_p=sp.top_p, stop=sp.stop, seed=sp.seed)[0]
                co = []
                for j, g in enumerate(gens):
                    fr = "length" if g.finish_reason == "length" else "stop"
                    sr = g.meta["stop"] if g.finish_reason == "stop" else None
                    lps = ([{t: Logprob(v)} for t, v in zip(g.token_ids, g.meta["token_logprobs"], strict=True)]
                           if sp.logprobs is not None else None)
                    co.append(CompletionOutput(j, g.text, list(g.token_ids), g.logprob if lps else None, lps, fr, sr))
                outs.append(RequestOutput(str(r), p, self.be.encode(p), None, co))
            return outs

    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    return mod


@pytest.fixture
def fake_vllm(monkeypatch, random_char_model_dir):
    mod = make_fake_vllm(random_char_model_dir)
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


def test_missing_vllm_is_a_clear_error(monkeypatch):
    from llm_bridge.backends.vllm import VLLMBackend

    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(BackendUnavailableError, match="pip install vllm"):
        VLLMBackend("some/model")


def test_one_generate_call_with_per_prompt_params_and_seeds(fake_vllm, random_char_model_dir):
    from llm_bridge.backends.vllm import VLLMBackend

    be = VLLMBackend(str(random_char_model_dir), gpu_memory_utilization=0.3)
    assert isinstance(be, Backend)
    assert be.llm.kw["enable_prefix_caching"] is True and be.llm.kw["gpu_memory_utilization"] == 0.3
    prompts = ["12 +5\n", "3 -1\n", "12 +5\n"]
    out = be.generate(prompts, n=2, max_tokens=6, stop=["="], seed=4)
    assert len(fake_vllm.calls) == 1
    sent, params = fake_vllm.calls[0]
    assert sent == ["12 +5\n", "3 -1\n"] and [sp.n for sp in params] == [4, 2]  # identical prompts merged
    assert len({sp.seed for sp in params}) == 2 and all(sp.logprobs == 0 for sp in params)
    assert [len(r) for r in out] == [2, 2, 2]
    assert out[0][0].token_ids != out[2][0].token_ids or out[0][1].token_ids != out[2][1].token_ids
    for row in out:
        for g in row:
            assert g.finish_reason in ("stop", "eos", "length") and "=" not in g.text
            assert g.logprob == pytest.approx(sum(g.meta["token_logprobs"]), abs=1e-6)
    assert out == be.generate(prompts, n=2, max_tokens=6, stop=["="], seed=4)


def test_score_uses_prompt_logprobs_and_matches_generation(fake_vllm, random_char_model_dir):
    from llm_bridge.backends.vllm import VLLMBackend

    be = VLLMBackend(str(random_char_model_dir))
    [[g]] = be.generate(["7 *3\n"], max_tokens=5, seed=1)
    body = g.text  # char tokenizer: the text re-tokenizes to the generated ids (finish is eos or length)
    if g.finish_reason == "length":
        s = be.score(["7 *3\n", "7 *3\n"], [body, ""])
        assert s[0] == pytest.approx(g.logprob, abs=1e-4) and s[1] == 0.0
    toks = be.score_tokens(["7 *3\n"], ["abc"])[0]
    assert len(toks) == 3 and np.all(np.asarray(toks) < 0)
    sp = fake_vllm.calls[-1][1][0]
    assert sp.prompt_logprobs == 0 and sp.max_tokens == 1


def test_malformed_vllm_output(fake_vllm, random_char_model_dir):
    from llm_bridge.backends.vllm import VLLMBackend

    be = VLLMBackend(str(random_char_model_dir))
    be.llm.generate = lambda prompts, params, use_tqdm=False: []
    with pytest.raises(MalformedOutputError, match="0 request outputs"):
        be.generate(["a"])
    be.llm.generate = lambda prompts, params, use_tqdm=False: [
        RequestOutput("0", "a", [1], None, [CompletionOutput(0, "x", [5], -1.0, None, "abort")])
    ]
    with pytest.raises(MalformedOutputError, match="abort"):
        be.generate(["a"])
