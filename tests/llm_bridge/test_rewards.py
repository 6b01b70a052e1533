"""Reward models: exactness against hand computations, set verifier error rates, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from llm_bridge.exceptions import InvalidRewardError, MalformedOutputError
from llm_bridge.protocols import RewardModel
from llm_bridge.rewards import (
    EndpointPRM,
    LLMJudgePRM,
    SelfCertaintyPRM,
    ToyStepVerifier,
    TransformersPRM,
    VerifierPRM,
    check_step_scores,
)
from llm_bridge.toy.task import canonical_steps, format_prompt, make_problems, step_labels


# --------------------------------------------------------------------------- validation
def test_check_step_scores_rejects_bad_values():
    steps = [["a", "b"], ["c"]]
    assert check_step_scores([[0.1, 1.0], [0.0]], steps) == [[0.1, 1.0], [0.0]]
    with pytest.raises(InvalidRewardError, match="nan"):
        check_step_scores([[0.1, float("nan")], [0.2]], steps)
    with pytest.raises(InvalidRewardError, match=r"1\.5 for step 0 of answer 1"):
        check_step_scores([[0.1, 0.2], [1.5]], steps)
    with pytest.raises(InvalidRewardError, match="2 scores for an answer of 1 steps"):
        check_step_scores([[0.1, 0.2], [0.1, 0.1]], steps)
    with pytest.raises(InvalidRewardError, match="1 score lists for 2"):
        check_step_scores([[0.1, 0.2]], steps)
    with pytest.raises(InvalidRewardError, match="non-numeric"):
        check_step_scores([["x", 0.2], [0.1]], steps)


# --------------------------------------------------------------------------- verifiers
def _answers(seed, n=60):
    """Partial answers with errors injected at random steps (so about half the steps are wrong)."""
    rng = np.random.default_rng(seed)
    qs, sts = [], []
    for p in make_problems(n, seed=seed, num_ops=(2, 5)):
        steps = canonical_steps(p)
        k = int(rng.integers(0, len(steps)))
        if rng.random() < 0.7:
            s = steps[k]
            steps[k] = s[:-1] + str((int(s[-1]) + 1) % 10)
        qs.append(format_prompt(p))
        sts.append(steps)
    return qs, sts


def test_toy_verifier_exact_when_rates_are_zero():
    v = ToyStepVerifier(pass_score=0.9, fail_score=0.2)
    assert isinstance(v, RewardModel)
    qs, sts = _answers(0)
    out = v.score_steps(qs, sts)
    for q, s, o in zip(qs, sts, out, strict=True):
        from llm_bridge.toy.task import parse_prompt

        labels = step_labels(parse_prompt(q), s)
        assert o == [0.9 if lab else 0.2 for lab in labels]


@pytest.mark.parametrize("fpr,fnr", [(0.2, 0.0), (0.05, 0.1)])
def test_toy_verifier_error_rates_match_the_set_rates(fpr, fnr):
    """Empirical FPR / FNR over ~1000 steps each lie within a two-sided 99.9% binomial interval
    of the set rates (a test that a wrong rate, e.g. 2x, would fail)."""
    from llm_bridge.toy.task import parse_prompt

    v = ToyStepVerifier(false_positive_rate=fpr, false_negative_rate=fnr, seed=1)
    qs, sts = _answers(5, n=500)
    out = v.score_steps(qs, sts)
    wrong_pass = wrong = right_fail = right = 0
    for q, s, o in zip(qs, sts, out, strict=True):
        for lab, sc in zip(step_labels(parse_prompt(q), s), o, strict=True):
            if lab:
                right += 1
                right_fail += sc == v.fail_score
            else:
                wrong += 1
                wrong_pass += sc == v.pass_score
    assert wrong > 500 and right > 500
    for k, n, rate in ((wrong_pass, wrong, fpr), (right_fail, right, fnr)):
        if rate == 0:
            assert k == 0
        else:
            assert stats.binomtest(k, n, rate).pvalue > 1e-3, (k, n, rate)
            assert stats.binomtest(k, n, 2 * rate).pvalue < 1e-3  # negative control: twice the rate is rejected


def test_toy_verifier_is_a_deterministic_function_of_seed_and_input():
    qs, sts = _answers(2)
    a = ToyStepVerifier(false_positive_rate=0.5, seed=3).score_steps(qs, sts)
    b = ToyStepVerifier(false_positive_rate=0.5, seed=3).score_steps(qs, sts)
    c = ToyStepVerifier(false_positive_rate=0.5, seed=4).score_steps(qs, sts)
    assert a == b and a != c
    v = ToyStepVerifier(false_positive_rate=0.5, seed=3)
    # scoring prefixes one at a time (as particle filtering does) gives the same verdicts
    for q, s, full in zip(qs[:10], sts[:10], a[:10], strict=True):
        for t in range(1, len(s) + 1):
            assert v.score_steps([q], [s[:t]])[0] == full[:t]
    assert v._memo.hits > 0


def test_verifier_prm_errors_and_empty_answers():
    v = VerifierPRM(lambda q, prev, step: step == "ok")
    assert v.score_steps(["q", "q"], [["ok", "no"], []]) == [[0.95, 0.05], []]
    with pytest.raises(InvalidRewardError, match="expected a probability"):
        VerifierPRM(lambda q, p, s: 1.5).score_steps(["q"], [["a"]])
    with pytest.raises(InvalidRewardError, match="nan"):
        VerifierPRM(lambda q, p, s: float("nan")).score_steps(["q"], [["a"]])
    with pytest.raises(InvalidRewardError, match="bool or a probability"):
        VerifierPRM(lambda q, p, s: "yes").score_steps(["q"], [["a"]])
    with pytest.raises(ValueError, match="same length"):
        v.score_steps(["q"], [["a"], ["b"]])
    with pytest.raises(TypeError, match="single str"):
        v.score_steps("q", [["a"]])
    with pytest.raises(TypeError, match="lists of step strings"):
        v.score_steps(["q"], ["a"])
    with pytest.raises(ValueError, match="false_positive_rate"):
        ToyStepVerifier(false_positive_rate=1.2)
    with pytest.raises(ValueError, match="not a toy-task prompt"):
        ToyStepVerifier().score_steps(["what is 2+2?"], [["4"]])


# --------------------------------------------------------------------------- transformers PRM
@pytest.fixture(scope="module")
def tiny_prm_parts():
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForTokenClassification

    from llm_bridge.toy.train import build_tokenizer

    tok = build_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<extra_0>"]})
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=256, pad_token_id=tok.pad_token_id, num_labels=2,
    )
    torch.manual_seed(0)
    clf = LlamaForTokenClassification(cfg).eval()
    lm = LlamaForCausalLM(cfg).eval()
    return tok, clf, lm


def _manual_scores(model, tok, text, head, label_ids=None):
    """Unbatched, unpadded reference: positive probability at every separator."""
    import torch

    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    sep = tok.convert_tokens_to_ids("<extra_0>")
    pos = (ids[0] == sep).nonzero().flatten()
    if head == "classifier":
        return torch.softmax(logits[pos], -1)[:, 1].tolist()
    return torch.softmax(logits[pos][:, list(label_ids)], -1)[:, 1].tolist()


@pytest.mark.parametrize("head", ["classifier", "lm"])
def test_transformers_prm_matches_unbatched_reference(tiny_prm_parts, head):
    tok, clf, lm = tiny_prm_parts
    label_ids = (tok.convert_tokens_to_ids("-"), tok.convert_tokens_to_ids("+"))
    prm = TransformersPRM(
        clf if head == "classifier" else lm, tok, head=head, use_chat_template=False, batch_size=3,
        label_token_ids=label_ids if head == "lm" else None,
    )
    qs = ["12 +5\n", "3 *4 -2 +1\n", "7 -7\n", "1 +1\n"]
    sts = [["12+5=17", "A: 17"], ["3*4=12"], [], ["1+1=2", "A: 2", "extra step"]]
    out = prm.score_steps(qs, sts)
    assert [len(o) for o in out] == [2, 1, 0, 3]
    for q, s, o in zip(qs, sts, out, strict=True):
        if s:
            ref = _manual_scores(prm.model, tok, prm.render(q, s), head, label_ids)
            np.testing.assert_allclose(o, ref, atol=1e-5)
    # the model-aggregation call shape: the whole answer as ONE step
    one = prm.score_steps([qs[0]], [["\n".join(sts[0])]])
    assert len(one[0]) == 1


def test_transformers_prm_errors(tiny_prm_parts):
    tok, clf, _ = tiny_prm_parts
    with pytest.raises(ValueError, match="one token"):
        TransformersPRM(clf, tok, step_token="ab", use_chat_template=False)
    with pytest.raises(ValueError, match="chat_template"):
        TransformersPRM(clf, tok)
    with pytest.raises(ValueError, match="label_token_ids"):
        TransformersPRM(clf, tok, head="lm", use_chat_template=False)
    prm = TransformersPRM(clf, tok, use_chat_template=False)
    with pytest.raises(MalformedOutputError, match="separator"):
        prm.score_steps(["q"], [["a<extra_0>b"]])


# --------------------------------------------------------------------------- served PRM
def _pooling_route(payload):
    data = []
    for text in payload["input"]:
        steps = text.split("\n", 1)[1].split("<extra_0>")[:-1]
        data.append({"index": len(data), "object": "pooling",
                     "data": [[1 - 1 / (1 + len(s)), 1 / (1 + len(s))] for s in steps]})
    return {"object": "list", "data": data}


def test_endpoint_prm_batches_retries_and_parses(fake_server):
    fake_server.routes["/pooling"] = _pooling_route
    prm = EndpointPRM(fake_server.url, "prm", backoff=0.01, batch_size=2)
    fake_server.fail_plan = [503, None]
    qs = ["q1", "q2", "q3", "q4"]
    sts = [["ab", "c"], ["abcd"], [], ["x"]]
    out = prm.score_steps(qs, sts)
    assert out == [[1 / 3, 1 / 2], [1 / 5], [], [1 / 2]]
    # two batches (answers 0, 1 and answer 3; the empty answer is not sent) plus one retried 503
    assert [p for p, _ in fake_server.log] == ["/pooling"] * 3
    # the two batches run concurrently, so the scripted 503 may hit either of them
    assert sorted(len(x["input"]) for _, x in fake_server.log) in ([1, 2, 2], [1, 1, 2])


def test_endpoint_prm_malformed_output(fake_server):
    fake_server.routes["/pooling"] = lambda p: {"data": [{"data": [[0.5, 0.5]]}]}
    prm = EndpointPRM(fake_server.url, "prm", backoff=0.01)
    with pytest.raises(MalformedOutputError, match="1 step entries for 2 steps"):
        prm.score_steps(["q"], [["a", "b"]])
    fake_server.routes["/pooling"] = lambda p: {"data": [{"data": [[0.5, 1.7]]}]}
    with pytest.raises(InvalidRewardError, match="1.7"):
        prm.score_steps(["q"], [["a"]])
    fake_server.routes["/pooling"] = lambda p: {"oops": 1}
    with pytest.raises(MalformedOutputError, match="'data'"):
        prm.score_steps(["q"], [["a"]])
    fake_server.routes["/pooling"] = lambda p: (200, "not json")
    with pytest.raises(MalformedOutputError, match="non-JSON"):
        prm.score_steps(["q"], [["a"]])


# --------------------------------------------------------------------------- judge and self-certainty
@pytest.fixture(scope="module")
def rand_backend(random_char_model_dir):
    pytest.importorskip("torch")
    from llm_bridge.backends import TransformersBackend

    return TransformersBackend.from_pretrained(random_char_model_dir, device="cpu")


def test_llm_judge_is_normalised_yes_probability_and_memoised(rand_backend):
    judge = LLMJudgePRM(rand_backend, yes=" Y", no=" N")
    qs, sts = ["2 +2\n", "5 -1\n"], [["2+2=4", "A: 4"], ["5-1=4"]]
    out = judge.score_steps(qs, sts)
    for q, s, o in zip(qs, sts, out, strict=True):
        for t in range(len(s)):
            prompt = judge.judge_prompt(q, s[: t + 1])
            ly, ln = rand_backend.score([prompt, prompt], [" Y", " N"])
            assert o[t] == pytest.approx(math.exp(ly) / (math.exp(ly) + math.exp(ln)), abs=1e-6)
    calls = rand_backend.stats["forward_calls"]
    assert judge.score_steps(qs, sts) == out
    assert rand_backend.stats["forward_calls"] == calls  # all from the memo


class _BadScoreBackend:
    def score(self, prompts, conts):
        return [float("nan")] * len(prompts)


def test_llm_judge_rejects_invalid_backend_scores():
    with pytest.raises(MalformedOutputError, match="invalid log-probabilities"):
        LLMJudgePRM(_BadScoreBackend()).score_steps(["q"], [["a"]])
    with pytest.raises(ValueError, match="{step}"):
        LLMJudgePRM(_BadScoreBackend(), template="{question}")


def test_self_certainty_is_geometric_mean_token_probability(rand_backend):
    sc = SelfCertaintyPRM(rand_backend, joiner="\n")
    qs, sts = ["2 +2\n"], [["2+2=4", "A: 4"]]
    out = sc.score_steps(qs, sts)[0]
    t0 = rand_backend.score_tokens(["2 +2\n"], ["2+2=4"])[0]
    t1 = rand_backend.score_tokens(["2 +2\n2+2=4\n"], ["A: 4"])[0]
    # rel 1e-5: the PRM scores both steps in one left-padded batch, the reference one at a time (float32)
    assert isinstance(t0, list) and all(isinstance(v, float) for v in t0)  # one return type: list[list[float]]
    assert out == pytest.approx([math.exp(np.mean(t0)), math.exp(np.mean(t1))], rel=1e-5)
    assert all(0 < v <= 1 for v in out)
    with pytest.raises(TypeError, match="score_tokens"):
        SelfCertaintyPRM(_BadScoreBackend())


def test_self_certainty_min_reduction(rand_backend):
    sc = SelfCertaintyPRM(rand_backend, joiner="\n", reduce="min")
    out = sc.score_steps(["2 +2\n"], [["2+2=4"]])[0]
    t0 = rand_backend.score_tokens(["2 +2\n"], ["2+2=4"])[0]
    assert out == pytest.approx([math.exp(min(t0))], rel=1e-5)
    with pytest.raises(ValueError, match="reduce"):
        SelfCertaintyPRM(rand_backend, reduce="max")


# --------------------------------------------------------------------------- PRM evaluation on the toy task
def test_auroc_matches_sklearn_and_evaluate_prm_separates_good_from_useless():
    from sklearn.metrics import roc_auc_score

    from llm_bridge.toy.prm import auroc, evaluate_prm

    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    s = rng.normal(size=200) + y + np.round(rng.random(200), 1)  # with ties
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    exact = evaluate_prm(ToyStepVerifier(), n=80)
    assert exact["auroc"] == 1.0 and exact["false_positive_rate_at_0.5"] == 0.0
    const = evaluate_prm(VerifierPRM(lambda q, p, s: 0.7), n=80)  # negative control: no information
    assert const["auroc"] == 0.5
    noisy = evaluate_prm(ToyStepVerifier(false_positive_rate=0.3, seed=2), n=200)
    assert 0.5 < noisy["auroc"] < 1.0 and noisy["false_negative_rate_at_0.5"] == 0.0
    with pytest.raises(ValueError, match="both classes"):
        auroc([0.1, 0.2], [True, True])
