"""OpenAICompatibleBackend against scripted in-process servers (vLLM-like, llama.cpp-like, flaky, malformed)
and against a REAL llama-cpp-python server serving SmolLM2-135M-Instruct (marked ``server``)."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("httpx")

from llm_bridge.backends import OpenAICompatibleBackend  # noqa: E402
from llm_bridge.backends.openai import CHAT_SENTINEL  # noqa: E402
from llm_bridge.exceptions import BackendError, BackendRequestError, LLMBridgeWarning, MalformedOutputError  # noqa: E402
from llm_bridge.protocols import Backend  # noqa: E402


def _sample_text(prompt, seed, j):
    """The fake model: a deterministic 'sample' of prompt, seed and choice index."""
    return f"<{prompt[-2:]}|{seed}|{j}>"


def vllm_like(payload):
    """A vLLM-like /v1/completions: prompt lists, n, stop_reason, logprobs; finish cycles stop/eos/length."""
    prompts = payload["prompt"] if isinstance(payload["prompt"], list) else [payload["prompt"]]
    n = payload.get("n", 1)
    choices = []
    for i, p in enumerate(prompts):
        for j in range(n):
            kind = (len(p) + j) % 3
            text = _sample_text(p, payload.get("seed"), j)
            fin, reason = [("stop", "\n"), ("stop", None), ("length", None)][kind]
            c = {"index": i * n + j, "text": text, "finish_reason": fin, "stop_reason": reason}
            if payload.get("logprobs") is not None:
                c["logprobs"] = {"tokens": list(text[:3]), "token_logprobs": [-0.5, -0.25, -0.125],
                                 "text_offset": [0, 1, 2]}
            choices.append(c)
    return {"choices": choices, "usage": {"completion_tokens": 3 * len(choices)}}


def llamacpp_like(payload):
    """llama-cpp-python's behaviour: HTTP 500 on prompt lists, n silently ignored, no stop_reason."""
    if isinstance(payload["prompt"], list):
        return 500, {"error": {"message": "", "type": "internal_server_error"}}
    text = _sample_text(payload["prompt"], payload.get("seed"), 0)
    c = {"index": 0, "text": text, "finish_reason": "stop"}
    if payload.get("logprobs") is not None:
        c["logprobs"] = {"tokens": ["a", "b"], "token_logprobs": [-1.0, -2.0], "text_offset": [0, 1]}
    return {"choices": [c], "usage": {"completion_tokens": 2}}


def _models(owner, mid):
    return lambda _: {"object": "list", "data": [{"id": mid, "object": "model", "owned_by": owner}]}


@pytest.fixture
def vllm_server(fake_server):
    fake_server.routes["/v1/models"] = _models("vllm", "tiny")
    fake_server.routes["/v1/completions"] = vllm_like
    return fake_server


@pytest.fixture
def llamacpp_server(fake_server):
    fake_server.routes["/v1/models"] = _models("me", "/x/model.gguf")
    fake_server.routes["/v1/completions"] = llamacpp_like
    return fake_server


def _completion_requests(server):
    return [p for path, p in server.log if path == "/v1/completions"]


def test_vllm_like_batches_prompts_and_maps_finish_reasons(vllm_server):
    be = OpenAICompatibleBackend(vllm_server.url, backoff=0.01)
    assert isinstance(be, Backend)
    out = be.generate(["aa", "bbb", "cccc"], n=2, max_tokens=5, stop=["\n"])
    assert be.server == "vllm" and be.model == "tiny"
    reqs = _completion_requests(vllm_server)
    assert len(reqs) == 1 and reqs[0]["prompt"] == ["aa", "bbb", "cccc"] and reqs[0]["n"] == 2  # one batched request
    want = [[_sample_text(p, None, j) for j in range(2)] for p in ["aa", "bbb", "cccc"]]
    assert [[g.text for g in r] for r in out] == want
    for p, row in zip(["aa", "bbb", "cccc"], out, strict=True):
        for j, g in enumerate(row):
            assert g.finish_reason == ["stop", "eos", "length"][(len(p) + j) % 3]
            assert g.logprob == pytest.approx(-0.875) and g.num_tokens == 3
    be.close()


def test_seeded_calls_group_identical_prompts_with_distinct_seeds(vllm_server):
    """A request's seed is shared by its prompts, so seeded calls send one request per DISTINCT prompt
    (n = multiplicity * n) with derived seeds: identical particles get different samples."""
    be = OpenAICompatibleBackend(vllm_server.url, backoff=0.01)
    prompts = ["xx", "yy", "xx", "xx"]
    a = be.generate(prompts, n=2, seed=7)
    reqs = _completion_requests(vllm_server)
    assert sorted((r["prompt"], r["n"]) for r in reqs) == [("xx", 6), ("yy", 2)]
    assert len({r["seed"] for r in reqs}) == 2
    texts = [g.text for r in a for g in r]
    assert len(set(texts)) == len(texts)  # no two particles share a sample
    assert a == be.generate(prompts, n=2, seed=7)  # same seed, same result
    assert a != be.generate(prompts, n=2, seed=8)


def test_llamacpp_like_fans_out_per_prompt_and_per_sample(llamacpp_server):
    be = OpenAICompatibleBackend(llamacpp_server.url, backoff=0.01, max_concurrency=3)
    out = be.generate(["p1", "p2"], n=3, stop=["\n"], seed=1)
    assert be.server == "llama.cpp"
    reqs = _completion_requests(llamacpp_server)
    assert len(reqs) == 6 and all(isinstance(r["prompt"], str) for r in reqs)
    assert len({r["seed"] for r in reqs}) == 6  # one seed per particle
    assert be.honours_n is False and be.stats["fanned_out"] == 4
    for row in out:
        assert len(row) == 3
        for g in row:
            assert g.finish_reason == "stop" and g.meta["finish_ambiguous"]
            assert g.logprob == -3.0 and g.num_tokens == 2
    # without stop strings a "stop" finish can only be EOS
    assert be.generate(["p1"], max_tokens=4)[0][0].finish_reason == "eos"
    # scoring is refused (echo logprobs off by one, llama-cpp-python #1983)
    with pytest.raises(BackendError, match="1983"):
        be.score(["a"], ["b"])


def test_unknown_server_rejecting_prompt_lists_is_detected_once(fake_server):
    fake_server.routes["/v1/models"] = _models("someone", "m")
    fake_server.routes["/v1/completions"] = llamacpp_like
    be = OpenAICompatibleBackend(fake_server.url, backoff=0.01)
    with pytest.warns(LLMBridgeWarning, match="rejected a list of prompts"):
        out = be.generate(["p1", "p2", "p3"], n=1)
    assert [len(r) for r in out] == [1, 1, 1] and be.accepts_prompt_lists is False
    n_before = len(_completion_requests(fake_server))
    assert n_before == 4  # the probe (not retried) and 3 single requests
    be.generate(["p1", "p2"], n=1)
    assert len(_completion_requests(fake_server)) == n_before + 2  # no more probing


def test_retries_on_5xx_dropped_connections_and_timeouts(vllm_server):
    be = OpenAICompatibleBackend(vllm_server.url, backoff=0.01, timeout=0.5, max_retries=3)
    want = be.generate(["zz"], n=1, seed=0)  # detection done
    vllm_server.fail_plan = [503, "drop", ("sleep", 1.5)]
    out = be.generate(["zz"], n=1, seed=0)
    assert out == want
    assert be.client.stats["retries"] >= 3
    # persistent failure: a clear error after max_retries + 1 attempts
    vllm_server.fail_plan = [502] * 4
    with pytest.raises(BackendRequestError, match="after 4 attempts") as ei:
        be.generate(["zz"], n=1, seed=0)
    assert ei.value.status_code == 502 and ei.value.attempts == 4


def test_one_failing_request_keeps_the_other_particles(llamacpp_server):
    """Fan-out: a request failing for good raises with the finished answers in ``error.partial``."""
    be = OpenAICompatibleBackend(llamacpp_server.url, backoff=0.01, max_retries=1, max_concurrency=1)
    be.generate(["warm"])
    llamacpp_server.fail_plan = [None, 500, 500]
    with pytest.raises(BackendRequestError) as ei:
        be.generate(["a1", "a2", "a3"], seed=0)
    partial = ei.value.partial
    assert partial[0] is not None and partial[1] is None


def test_client_errors_are_not_retried(vllm_server):
    be = OpenAICompatibleBackend(vllm_server.url, backoff=0.01)
    be.generate(["warm"])
    vllm_server.fail_plan = [400]
    before = len(vllm_server.log)
    with pytest.raises(BackendRequestError, match="HTTP 400.*not retried") as ei:
        be.generate(["x"], seed=1)
    assert ei.value.status_code == 400 and len(vllm_server.log) == before + 1


def test_concurrency_limit_is_respected(llamacpp_server):
    be = OpenAICompatibleBackend(llamacpp_server.url, backoff=0.01, max_concurrency=2)
    be.generate(["warm"])
    llamacpp_server.fail_plan = [("sleep", 0.2)] * 8
    be.generate([f"p{i}" for i in range(8)], seed=3)
    assert 1 <= llamacpp_server.max_in_flight <= 2


@pytest.mark.parametrize(
    "body,match",
    [
        ({"nothing": 1}, "'choices'"),
        ({"choices": [{"index": 0, "finish_reason": "stop"}]}, "no text"),
        ({"choices": [{"index": 0, "text": "a", "finish_reason": "weird"}]}, "finish_reason"),
        ({"choices": [{"index": 0, "text": "a", "finish_reason": "stop", "logprobs": {"token_logprobs": ["x"]}}]},
         "non-numeric"),
        ({"choices": [{"index": 0, "text": "a", "finish_reason": "stop"}] * 3}, "returned 3"),
        ("<html>oops</html>", "non-JSON"),
    ],
)
def test_malformed_output_is_a_clear_error(vllm_server, body, match):
    be = OpenAICompatibleBackend(vllm_server.url, backoff=0.01)
    be.generate(["warm"])
    vllm_server.routes["/v1/completions"] = lambda p: (200, body)
    with pytest.raises(MalformedOutputError, match=match):
        be.generate(["x"], n=2, seed=0)


def test_bad_arguments(vllm_server):
    be = OpenAICompatibleBackend(vllm_server.url)
    with pytest.raises(ValueError, match="empty string"):
        be.generate([""])
    with pytest.raises(ValueError, match="api must be"):
        OpenAICompatibleBackend(vllm_server.url, api="responses")
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatibleBackend("localhost:8000")


def test_echo_scoring_uses_text_offsets(vllm_server):
    def echo(payload):
        text = payload["prompt"]
        offs = list(range(len(text)))
        return {"choices": [{"index": 0, "text": text + "!", "finish_reason": "length",
                             "logprobs": {"tokens": list(text), "text_offset": offs,
                                          "token_logprobs": [None] + [-0.1 * (k + 1) for k in range(1, len(text))]}}]}

    vllm_server.routes["/v1/completions"] = echo
    be = OpenAICompatibleBackend(vllm_server.url)
    # prompt "ab", continuation "cd": chars at offsets 2, 3 -> -0.3 + -0.4
    assert be.score(["ab", "x"], ["cd", ""]) == [pytest.approx(-0.7), 0.0]
    assert be.score_tokens(["ab"], ["cd"]) == [[pytest.approx(-0.3), pytest.approx(-0.4)]]


def test_chat_continue_final_message_payload(fake_server):
    seen = []

    def chat(payload):
        seen.append(payload)
        return {"choices": [{"index": j, "message": {"role": "assistant", "content": f"c{j}"}, "finish_reason": "stop",
                             "stop_reason": None, "logprobs": {"content": [{"token": "c", "logprob": -0.5}]}}
                            for j in range(payload.get("n", 1))]}

    fake_server.routes["/v1/models"] = _models("vllm", "m")
    fake_server.routes["/v1/chat/completions"] = chat
    be = OpenAICompatibleBackend(fake_server.url, api="chat")
    msgs = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Step 1."}]
    prompt = be.chat_prompt(msgs, continue_final_message=True)
    assert prompt.startswith(CHAT_SENTINEL)
    out = be.generate([prompt + "\n\nStep 2.", "plain question"], n=2)
    assert [g.text for g in out[0]] == ["c0", "c1"] and out[0][0].finish_reason == "eos"
    by_last = {p["messages"][-1]["content"]: p for p in seen}
    cont = by_last["Step 1.\n\nStep 2."]
    assert cont["continue_final_message"] is True and cont["add_generation_prompt"] is False
    assert by_last["plain question"]["messages"] == [{"role": "user", "content": "plain question"}]
    with pytest.raises(ValueError, match="final assistant message"):
        be.chat_prompt([{"role": "user", "content": "Q"}], continue_final_message=True)


# --------------------------------------------------------------------------- a real llama-cpp-python server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(smollm_gguf):
    import importlib.util

    import httpx

    for mod in ("llama_cpp", "uvicorn", "sse_starlette"):  # not imported here: llama_cpp opens /dev/null at import
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (pip install 'probinf[server]')")

    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm_gguf), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "1024", "--n_threads", "1", "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(url + "/v1/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError("llama_cpp.server did not answer within 120 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


CHAT = "<|im_start|>user\nList three colours, one per line.<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.server
@pytest.mark.slow
def test_real_llamacpp_server_generation(llama_server):
    with OpenAICompatibleBackend(llama_server, timeout=120, backoff=0.2) as be:
        assert be.server == "llama.cpp"
        out = be.generate([CHAT, CHAT + "Red\n"], n=2, max_tokens=16, temperature=0.8, stop=["\n"], seed=3)
        assert [len(r) for r in out] == [2, 2]
        for row in out:
            for g in row:
                assert "\n" not in g.text
                assert g.finish_reason in ("stop", "length")
                assert g.num_tokens == len(g.meta["token_logprobs"]) >= 1
                assert math.isfinite(g.logprob) and g.logprob < 0
        # Greedy decoding is reproducible across requests. Seeded *sampling* is not bit-reproducible
        # on llama.cpp's server: a repeated prompt reuses the cached prefix, so the last prompt token
        # is evaluated in a different batch and its logits move by rounding (seen once in CI: one
        # of four samples changed). The seed is still forwarded (checked on the fake server above).
        greedy = [be.generate([CHAT + "Red\n"], max_tokens=8, temperature=0.0, stop=["\n"])[0][0].text
                  for _ in range(2)]
        assert greedy[0] == greedy[1]
        [[g]] = be.generate([CHAT], max_tokens=4, temperature=0.0)
        assert g.finish_reason == "length" and g.num_tokens == 4
        with pytest.raises(BackendError, match="1983"):
            be.score([CHAT], ["Red"])


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.llm
def test_real_llamacpp_logprobs_match_transformers_teacher_forcing(llama_server, smollm_dir):
    """The server's generated-token logprobs agree with HF teacher forcing on the same (dequantized) weights,
    token by token (no off-by-one as in its echo scoring).

    Bounds: mean |difference| < 0.1 nats and max < 0.5: llama.cpp multiplies Q4_1 weights with
    8-bit-quantized activations while transformers uses the float32 dequantization (observed: mean ~0.05,
    max ~0.2).  Negative control: the same comparison shifted by one token is at least twice as far off."""
    import numpy as np

    from llm_bridge.backends import TransformersBackend

    hf = TransformersBackend.from_pretrained(smollm_dir, device="cpu")
    with OpenAICompatibleBackend(llama_server, timeout=120) as be:
        [[g]] = be.generate([CHAT], max_tokens=12, temperature=0.0)
    hf_toks = np.asarray(hf.score_tokens([CHAT], [g.text])[0])
    srv = np.asarray(g.meta["token_logprobs"])
    assert len(hf_toks) == len(srv) == g.num_tokens  # the greedy text re-tokenizes to the same tokens
    diff = np.abs(hf_toks - srv)
    assert diff.mean() < 0.1 and diff.max() < 0.5, (hf_toks, srv)
    shifted = np.abs(hf_toks[1:] - srv[:-1]).mean()
    assert shifted > 2 * diff.mean(), (shifted, diff.mean())
