"""``probinf tts run``: results written as it goes, resume after interruption, clear errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from probinf_cli.commands.tts import app, load_done, read_problems

runner = CliRunner()


def _problems(tmp_path, n=5):
    p = tmp_path / "problems.jsonl"
    p.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"Q{i}:\n", "answer": "a"}) + "\n" for i in range(n)))
    return p


def _run(tmp_path, problems, out, *extra):
    return runner.invoke(app, ["run", str(problems), "--backend", "fake", "--prm", "fake", "--task", "fake",
                               "--method", "pf", "--budget", "4", "--out", str(out), *extra])


def test_run_writes_one_line_per_problem_and_resumes(tmp_path):
    problems, out = _problems(tmp_path), tmp_path / "out.jsonl"
    r = _run(tmp_path, problems, out, "--limit", "2")
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in recs] == ["q0", "q1"]
    assert all(set(x) >= {"text", "answer", "correct", "usage", "method", "budget", "seed"} for x in recs)
    # simulate a crash mid-write: a torn last line
    with out.open("a") as f:
        f.write('{"id": "q2", "meth')
    r = _run(tmp_path, problems, out)
    assert r.exit_code == 0, r.output
    recs2 = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in recs2] == ["q0", "q1", "q2", "q3", "q4"]
    assert recs2[:2] == recs  # finished problems were not redone
    r = _run(tmp_path, problems, out)
    assert "nothing to do" in r.output


def test_resumed_results_equal_a_fresh_run(tmp_path):
    problems = _problems(tmp_path)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _run(tmp_path, problems, a)
    _run(tmp_path, problems, b, "--limit", "3")
    _run(tmp_path, problems, b)
    strip = lambda p: [{k: v for k, v in json.loads(x).items() if k not in ("seconds", "usage")}  # noqa: E731
                       for x in p.read_text().splitlines()]
    assert strip(a) == strip(b)  # same seed, same result, whether or not interrupted


def test_methods_lists_pf():
    r = runner.invoke(app, ["methods"])
    assert r.exit_code == 0 and "pf" in r.output and "bon" in r.output


@pytest.mark.parametrize("args, msg", [
    (["--method", "nope"], "unknown method"),
    (["--budget", "0"], "budget"),
    (["--aggregation", "median"], "unknown aggregation"),
    (["--task", "weird"], "unknown task"),
])
def test_bad_options_give_clear_errors(tmp_path, args, msg):
    r = _run(tmp_path, _problems(tmp_path), tmp_path / "o.jsonl", *args)
    assert r.exit_code == 2
    assert msg in r.output


def test_bad_backend_and_problem_files(tmp_path):
    problems = _problems(tmp_path)
    r = runner.invoke(app, ["run", str(problems), "--backend", "nope", "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "unknown backend" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": ""}\n')
    with pytest.raises(ValueError, match="non-empty string 'prompt'"):
        read_problems(bad)
    bad.write_text("not json\n")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_problems(bad)
    assert load_done(tmp_path / "missing.jsonl") == set()


def test_registered_in_probinf_cli():
    from probinf_cli.main import app as root

    r = runner.invoke(root, ["tts", "methods"])
    assert r.exit_code == 0 and "pf" in r.output
