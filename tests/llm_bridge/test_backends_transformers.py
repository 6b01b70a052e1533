"""TransformersBackend: mechanics on tiny char-level models, exact checks against teacher forcing,
sampler distribution tests, and integration with a real pretrained model (SmolLM2-135M-Instruct)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from llm_bridge.backends import TransformersBackend  # noqa: E402
from llm_bridge.protocols import Backend, Generation  # noqa: E402
from llm_bridge.toy.task import ToyProblem, canonical_steps, format_prompt, make_problems  # noqa: E402


@pytest.fixture(scope="module")
def rand_be(random_char_model_dir):
    return TransformersBackend.from_pretrained(random_char_model_dir, device="cpu", batch_size=16)


PROMPTS = ["12 +5\n", "3 *4 -2 +17\n", "99 -1\n"]


def test_protocol_shapes_and_fields(rand_be):
    assert isinstance(rand_be, Backend)
    out = rand_be.generate(PROMPTS, n=3, max_tokens=7, seed=0)
    assert len(out) == 3 and all(len(r) == 3 for r in out)
    for row in out:
        for g in row:
            assert isinstance(g, Generation)
            assert g.num_tokens == len(g.token_ids) == len(g.meta["token_logprobs"])
            assert 1 <= g.num_tokens <= 7
            assert g.logprob == pytest.approx(sum(g.meta["token_logprobs"]), abs=1e-9)
            assert g.logprob <= 0 and np.isfinite(g.logprob)
            if g.finish_reason == "length":
                assert g.num_tokens == 7


def test_same_seed_same_result_and_seeds_differ(rand_be):
    a = rand_be.generate(PROMPTS, n=4, max_tokens=8, seed=11)
    b = rand_be.generate(PROMPTS, n=4, max_tokens=8, seed=11)
    c = rand_be.generate(PROMPTS, n=4, max_tokens=8, seed=12)
    assert a == b
    assert [g.token_ids for r in a for g in r] != [g.token_ids for r in c for g in r]


def test_generation_logprobs_equal_teacher_forcing(rand_be):
    """Per-token logprobs of sampled tokens (sampled at T=0.7, top-p 0.9) are those of the UNMODIFIED model:
    they equal an independent left-padded teacher-forced pass (score_ids), to float32 round-off."""
    out = rand_be.generate(PROMPTS, n=3, max_tokens=9, temperature=0.7, top_p=0.9, seed=3)
    pids, cids, ref = [], [], []
    for p, row in zip(PROMPTS, out, strict=True):
        for g in row:
            pids.append(rand_be.encode(p))
            cids.append(list(g.token_ids))
            ref.append(np.array(g.meta["token_logprobs"]))
    scored = rand_be.score_ids(pids, cids)
    for s, r in zip(scored, ref, strict=True):
        np.testing.assert_allclose(s, r, atol=2e-5)


def test_prefix_sharing_and_chunking_do_not_change_results(random_char_model_dir, rand_be):
    """Shared-prefix KV reuse (middle padding) and batch chunking give the same samples as plain left padding."""
    plain = TransformersBackend.from_pretrained(random_char_model_dir, device="cpu", share_prefix=False, batch_size=64)
    prompts = ["12 +5 -3\n", "12 +5 *2\n", "12 +5 -30 +1\n"]
    a = rand_be.generate(prompts, n=5, max_tokens=6, seed=5)  # batch_size 16: chunks of 16 rows
    before = dict(rand_be.stats)
    b = plain.generate(prompts, n=5, max_tokens=6, seed=5)
    assert plain.stats["prefix_tokens_reused"] == 0
    assert rand_be.stats["prefix_tokens_reused"] >= before["prefix_tokens_reused"]
    # chunking consumes the generator in a different order, so compare at batch_size 64 too
    shared64 = TransformersBackend.from_pretrained(random_char_model_dir, device="cpu", batch_size=64)
    c = shared64.generate(prompts, n=5, max_tokens=6, seed=5)
    assert shared64.stats["prefix_tokens_reused"] > 0
    for rb, rc in zip(b, c, strict=True):
        for gb, gc in zip(rb, rc, strict=True):
            assert gb.token_ids == gc.token_ids
            np.testing.assert_allclose(gb.meta["token_logprobs"], gc.meta["token_logprobs"], atol=2e-5)
    assert sum(len(r) for r in a) == 15


def _first_token_probs(be, prompt):
    ids = torch.tensor([be.encode(prompt)])
    with torch.no_grad():
        logits = be.model(input_ids=ids).logits[0, -1].double()
    return logits


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.6, 1.0), (1.0, 0.7)])
def test_sampler_follows_the_tempered_truncated_distribution(random_char_model_dir, temperature, top_p):
    """Chi-square goodness of fit of 3000 first tokens against the exact target (p > 1e-3), plus a
    negative control: the same counts reject the untempered distribution when the target differs."""
    rand_be = TransformersBackend.from_pretrained(random_char_model_dir, device="cpu", batch_size=1000)
    prompt = "7 +8\n"
    logits = _first_token_probs(rand_be, prompt)
    z = logits / temperature
    p = torch.softmax(z, -1)
    if top_p < 1:
        sp, idx = torch.sort(p, descending=True)
        keep = (sp.cumsum(0) - sp) <= top_p
        q = torch.zeros_like(p)
        q[idx[keep]] = sp[keep]
        p = q / q.sum()
    p = p.numpy()
    n = 3000
    out = rand_be.generate([prompt], n=n, max_tokens=1, temperature=temperature, top_p=top_p, seed=99)[0]
    counts = np.bincount([g.token_ids[0] for g in out], minlength=len(p)).astype(float)
    assert counts[p == 0].sum() == 0, "sampled a token outside the top-p set"

    def chi2_pvalue(probs):
        # pool categories with expected count < 5 into one cell (standard chi-square validity rule)
        exp = probs * n
        big = exp >= 5
        obs_c = np.append(counts[big], counts[~big].sum())
        exp_c = np.append(exp[big], exp[~big].sum())
        if exp_c[-1] == 0:
            if obs_c[-1] > 0:
                return 0.0
            obs_c, exp_c = obs_c[:-1], exp_c[:-1]
        return stats.chisquare(obs_c, exp_c * obs_c.sum() / exp_c.sum()).pvalue

    assert chi2_pvalue(p) > 1e-3
    if temperature != 1.0 or top_p != 1.0:
        p_raw = torch.softmax(logits, -1).numpy()
        assert chi2_pvalue(p_raw) < 1e-6  # the sampler is distinguishable from the wrong target


def test_greedy_is_argmax(rand_be):
    g = rand_be.generate(["5 +5\n"], max_tokens=1, temperature=0.0)[0][0]
    assert g.token_ids[0] == int(_first_token_probs(rand_be, "5 +5\n").argmax())
    again = rand_be.generate(["5 +5\n"], max_tokens=5, temperature=0.0, seed=None)
    assert again == rand_be.generate(["5 +5\n"], max_tokens=5, temperature=0.0, seed=None)


def test_bad_input(rand_be):
    with pytest.raises(ValueError, match=r"prompts\[1\] is an empty string"):
        rand_be.generate(["a", ""])
    with pytest.raises(TypeError, match="single str"):
        rand_be.generate("abc")
    with pytest.raises(ValueError, match="n must be"):
        rand_be.generate(["a"], n=0)
    with pytest.raises(ValueError, match="temperature"):
        rand_be.generate(["a"], temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        rand_be.generate(["a"], top_p=0.0)
    with pytest.raises(ValueError, match="max_tokens"):
        rand_be.generate(["a"], max_tokens=0)
    with pytest.raises(ValueError, match="stop"):
        rand_be.generate(["a"], stop=[""])
    with pytest.raises(ValueError, match="context"):
        rand_be.generate(["x" * 600])
    with pytest.raises(ValueError, match="same length"):
        rand_be.score(["a"], ["b", "c"])
    with pytest.raises(ValueError, match="outside"):
        rand_be.score_ids([[1, 2]], [[10_000]])
    with pytest.raises(ValueError, match="chat_template"):
        rand_be.chat_prompt([{"role": "user", "content": "hi"}])
    assert rand_be.score(["a"], [""]) == [0.0]


# --------------------------------------------------------------------------- the shipped toy policy
def test_toy_policy_stop_strings_eos_and_scoring(toy_backend):
    p = ToyProblem(12, (("+", 5), ("-", 3)))
    prompt = format_prompt(p)
    steps = canonical_steps(p)  # ['12+5=17', '17-3=14', 'A: 14']
    [[g]] = toy_backend.generate([prompt], max_tokens=30, temperature=0.0, stop=["\n"])
    assert g.finish_reason == "stop" and g.meta["stop"] == "\n"
    assert g.text == steps[0]
    assert toy_backend.tokenizer.decode(g.token_ids) == steps[0] + "\n"  # stop token counted, not in text
    # score(prompt, text + stop) is exactly the generation's logprob (char tokenizer: unique tokenization)
    assert toy_backend.score([prompt], [g.text + "\n"])[0] == pytest.approx(g.logprob, abs=1e-4)
    # a multi-token stop string is cut from the text
    [[h]] = toy_backend.generate([prompt], max_tokens=30, temperature=0.0, stop=["=1", "+5="])
    assert h.text == "12" and h.meta["stop"] == "+5="
    # the full answer ends with EOS (text excludes it, token_ids end with it)
    [[full]] = toy_backend.generate([prompt], max_tokens=60, temperature=0.0)
    assert full.finish_reason == "eos" and full.token_ids[-1] == toy_backend.tokenizer.eos_token_id
    assert full.text == "\n".join(steps)
    # length
    [[short]] = toy_backend.generate([prompt], max_tokens=3, temperature=0.0)
    assert short.finish_reason == "length" and short.text == "12+" and short.num_tokens == 3


def test_toy_policy_continues_partial_answers_batched(toy_backend):
    """Particles at different steps (different prompt lengths) in one batch: greedy steps are right."""
    probs = make_problems(6, seed=7, num_ops=3)
    prompts, want = [], []
    for k, p in enumerate(probs):
        steps = canonical_steps(p)
        j = k % 3
        prompts.append(format_prompt(p) + "".join(s + "\n" for s in steps[:j]))
        want.append(steps[j])
    out = toy_backend.generate(prompts, max_tokens=20, temperature=0.0, stop=["\n"])
    got = [r[0].text for r in out]
    assert sum(g == w for g, w in zip(got, want, strict=True)) >= 5, (got, want)


# --------------------------------------------------------------------------- a real pretrained model
@pytest.fixture(scope="module")
def smol_be(smollm_dir):
    return TransformersBackend.from_pretrained(smollm_dir, device="cpu", batch_size=8)


@pytest.mark.llm
@pytest.mark.slow
def test_smollm_chat_template_generation_stop_and_score(smol_be):
    messages = [{"role": "user", "content": "List three colours, one per line."}]
    prompt = smol_be.chat_prompt(messages)
    assert "<|im_start|>assistant" in prompt
    # the template already writes no BOS text for this model: encode must not double anything
    assert smol_be.encode(prompt)[:1] == smol_be.tokenizer(prompt, add_special_tokens=False)["input_ids"][:1]
    out = smol_be.generate([prompt, prompt + "Sure"], n=2, max_tokens=24, temperature=0.8, stop=["\n"], seed=0)
    assert len(out) == 2 and all(len(r) == 2 for r in out)
    pids, cids, ref = [], [], []
    for p, row in zip([prompt, prompt + "Sure"], out, strict=True):
        for g in row:
            assert "\n" not in g.text
            assert g.finish_reason in ("stop", "eos", "length")
            if g.finish_reason == "stop":
                assert g.meta["stop"] == "\n"
            pids.append(smol_be.encode(p))
            cids.append(list(g.token_ids))
            ref.append(g.logprob)
    scored = [float(s.sum()) for s in smol_be.score_ids(pids, cids)]
    np.testing.assert_allclose(scored, ref, atol=1e-3 * max(1, max(abs(r) for r in ref)))
    # score() on text: equals the generation logprob whenever the text re-tokenizes to the same ids
    for p, row in zip([prompt], out[:1], strict=True):
        for g in row:
            body = g.text + ("\n" if g.finish_reason == "stop" else "")
            if smol_be.tokenizer(body, add_special_tokens=False)["input_ids"] == list(g.token_ids):
                assert smol_be.score([p], [body])[0] == pytest.approx(g.logprob, abs=1e-3)


@pytest.mark.llm
@pytest.mark.slow
def test_smollm_continue_final_message_and_eos(smol_be):
    messages = [
        {"role": "user", "content": "What is 2+2? Answer with a number."},
        {"role": "assistant", "content": "The answer is"},
    ]
    prompt = smol_be.chat_prompt(messages, continue_final_message=True)
    assert prompt.rstrip().endswith("The answer is")
    [[g]] = smol_be.generate([prompt], max_tokens=40, temperature=0.0)
    assert g.finish_reason in ("eos", "length")
    if g.finish_reason == "eos":
        assert g.token_ids[-1] in smol_be.eos_token_ids and "<|im_end|>" not in g.text
    lp = smol_be.score([prompt], [" 4"])[0]
    assert math.isfinite(lp) and lp < 0
