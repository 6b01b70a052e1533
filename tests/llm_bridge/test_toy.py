"""Tests of the toy chained-arithmetic task (exact grading) and the shipped toy policy."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_bridge.toy.task import (
    ToyProblem,
    canonical_steps,
    check_step,
    format_prompt,
    grade,
    load_problems,
    make_problems,
    parse_answer,
    parse_steps,
    save_problems,
    solution_text,
    step_labels,
)

seeds = st.integers(0, 2**31 - 1)


def _eval_chain(prompt: str) -> int:
    """An independent evaluator of the prompt (left to right), the oracle for ``answer``."""
    tokens = prompt.split()
    v = int(tokens[0])
    for t in tokens[1:]:
        op, a = t[0], int(t[1:])
        v = {"+": v + a, "-": v - a, "*": v * a}[op]
    return v


@given(seeds, st.integers(1, 8), st.integers(2, 200))
def test_problems_stay_in_range_and_answer_matches_independent_evaluator(seed, k, max_value):
    for p in make_problems(5, seed, num_ops=k, max_value=max_value):
        assert p.num_ops == k
        assert all(0 <= v <= max_value for v in p.values)
        assert _eval_chain(format_prompt(p)) == p.answer
        assert grade(p, solution_text(p))
        assert step_labels(p, solution_text(p)) == [True] * p.num_steps


def test_same_seed_same_problems_and_different_seed_differs():
    a = make_problems(20, seed=3)
    assert a == make_problems(20, seed=3)
    assert a != make_problems(20, seed=4)
    lens = {p.num_ops for p in a}
    assert lens <= set(range(3, 7)) and len(lens) > 1


def test_format_is_one_step_per_line():
    p = ToyProblem(23, (("+", 45), ("-", 27), ("*", 2)))
    assert format_prompt(p) == "23 +45 -27 *2\n"
    assert solution_text(p) == "23+45=68\n68-27=41\n41*2=82\nA: 82"
    assert canonical_steps(p)[-1] == "A: 82"
    assert p.answer == 82 and p.num_steps == 4


@given(seeds, st.data())
def test_a_single_wrong_digit_is_caught_by_grade_and_check_step(seed, data):
    p = make_problems(1, seed, num_ops=(2, 5))[0]
    steps = canonical_steps(p)
    i = data.draw(st.integers(0, len(steps) - 1))
    wrong = steps[i][:-1] + str((int(steps[i][-1]) + data.draw(st.integers(1, 9))) % 10)
    assert not check_step(p, steps[:i], wrong)
    assert check_step(p, steps[:i], steps[i])
    bad = steps[:i] + [wrong] + steps[i + 1 :]
    labels = step_labels(p, bad)
    # Math-Shepherd "on track" labels: True before the error, False from it on.
    assert labels == [True] * i + [False] * (len(steps) - i)
    if i == len(steps) - 1:
        assert not grade(p, "\n".join(bad))
    # a later step after an error is never "correct", even if it equals the canonical one
    if i + 1 < len(steps):
        assert not check_step(p, bad[: i + 1], steps[i + 1])


def test_grading_edge_cases():
    p = ToyProblem(5, (("+", 3),))
    assert grade(p, "5+3=8\nA: 8")
    assert grade(p, "garbage\nA:8")  # outcome grading only reads the answer line
    assert not grade(p, "5+3=8")  # no answer line
    assert not grade(p, "")
    assert parse_answer("x\nA: 12\nA: 13") == 12
    assert parse_answer("nothing") is None
    assert check_step(p, [], " 5 + 3 = 08 ")  # spacing / leading zeros ignored
    assert not check_step(p, [], "")
    assert not check_step(p, [], "5+3=8\nA: 8")  # two steps are not one step
    assert not check_step(p, "5+3=8\nA: 8", "A: 8")  # steps beyond the answer are wrong
    assert parse_steps(["5+3=8\n", "", "A: 8"]) == parse_steps("5+3=8\n\nA: 8") == ["5+3=8", "A: 8"]


def test_bad_input_errors():
    with pytest.raises(ValueError, match="n must be"):
        make_problems(-1)
    with pytest.raises(ValueError, match="num_ops"):
        make_problems(2, num_ops=(3, 1))
    with pytest.raises(ValueError, match="ops must"):
        ToyProblem(1, (("/", 2),))
    with pytest.raises(ValueError, match="at least one"):
        ToyProblem(1, ())
    with pytest.raises(TypeError, match="ToyProblem"):
        grade("not a problem", "A: 1")
    with pytest.raises(ValueError, match="needs 'start'"):
        ToyProblem.from_dict({"ops": []})


def test_jsonl_round_trip(tmp_path):
    ps = make_problems(7, seed=1)
    path = save_problems(ps, tmp_path / "p.jsonl")
    assert load_problems(path) == ps
    rec = json.loads(path.read_text().splitlines()[0])
    assert rec["prompt"] == format_prompt(ps[0]) and rec["answer"] == ps[0].answer
    (tmp_path / "bad.jsonl").write_text('{"start": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_problems(tmp_path / "bad.jsonl")


# --------------------------------------------------------------------------- the shipped toy policy and its script
torch = pytest.importorskip("torch")


def test_char_tokenizer_round_trips_and_adds_bos():
    from hypothesis import given as _given  # local: keep the module importable without torch above

    from llm_bridge.toy.train import build_tokenizer

    tok = build_tokenizer()

    @_given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("\n\t"), max_size=40))
    def check(s):
        ids = tok(s)["input_ids"]
        assert ids[0] == tok.bos_token_id and len(ids) == len(s) + 1  # one token per character
        assert tok.decode(ids, skip_special_tokens=True) == s

    check()


def test_shipped_policy_files_and_record():
    from llm_bridge.toy import toy_model_path

    d = toy_model_path()
    info = json.loads((d / "training_info.json").read_text())
    assert info["seed"] == 0 and 0.9e6 < info["num_parameters"] < 1.2e6
    assert (d / "model.safetensors").stat().st_size < 8 * 2**20  # a few MB, shippable


def test_shipped_policy_solves_held_out_problems(toy_backend):
    """Greedy accuracy on 120 problems never used in training (the training stream uses seeds >= 1e6).

    Measured 84.5% on 200 other problems at release.  Threshold 87/120: a policy at that accuracy
    fails it with probability 2.5e-4, a policy at 60% passes it with probability 2.9e-3 (binomial)."""
    probs = make_problems(120, seed=123, num_ops=(3, 6))
    out = toy_backend.generate([format_prompt(p) for p in probs], max_tokens=80, temperature=0.0)
    correct = sum(grade(p, r[0].text) for p, r in zip(probs, out, strict=True))
    assert correct >= 87, correct


def test_training_script_is_reproducible(tmp_path):
    from llm_bridge.toy.train import train

    kw = dict(steps=2, batch_size=8, d_model=32, num_layers=1, eval_problems=2, log_every=0)
    r1 = train(tmp_path / "a", seed=3, **kw)
    r2 = train(tmp_path / "b", seed=3, **kw)
    assert r1["loss_every_100"] == r2["loss_every_100"]
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
