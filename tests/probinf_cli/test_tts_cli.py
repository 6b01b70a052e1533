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


def test_no_resume_never_deletes_results_without_overwrite(tmp_path):
    problems, out = _problems(tmp_path), tmp_path / "out.jsonl"
    assert _run(tmp_path, problems, out).exit_code == 0
    before = out.read_bytes()
    r = _run(tmp_path, problems, out, "--no-resume", "--limit", "1")
    assert r.exit_code == 2 and "--overwrite" in r.output and "5 results" in r.output
    assert out.read_bytes() == before  # untouched
    r = _run(tmp_path, problems, out, "--no-resume", "--overwrite", "--limit", "1")
    assert r.exit_code == 0, r.output
    assert len(out.read_text().splitlines()) == 1


def test_damaged_middle_line_is_an_error_not_dropped(tmp_path):
    problems, out = _problems(tmp_path), tmp_path / "out.jsonl"
    assert _run(tmp_path, problems, out, "--limit", "2").exit_code == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text(lines[0] + "garbage\n" + lines[1])
    before = out.read_bytes()
    r = _run(tmp_path, problems, out)
    assert r.exit_code == 2 and "out.jsonl:2" in r.output
    assert out.read_bytes() == before


@pytest.mark.parametrize("cut", [1, 17, 60, -2, -1])
def test_kill_at_any_point_of_a_write_resumes_with_nothing_lost(tmp_path, cut):
    problems, out = _problems(tmp_path, 3), tmp_path / "out.jsonl"
    assert _run(tmp_path, problems, out).exit_code == 0
    full = out.read_bytes()
    lines = full.splitlines(keepends=True)
    # the file as a kill left it: two complete records and part of the third
    out.write_bytes(b"".join(lines[:2]) + lines[2][:cut])
    assert _run(tmp_path, problems, out).exit_code == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in recs] == ["q0", "q1", "q2"]
    assert out.read_bytes().splitlines()[:2] == full.splitlines()[:2]


def test_default_method_without_prm_fails_before_any_model_loads(tmp_path, monkeypatch):
    import probinf_cli.commands.tts as tts

    def boom(*a, **k):
        raise AssertionError("a backend was built before the flags were checked")

    monkeypatch.setattr(tts, "build_backend", boom)
    r = runner.invoke(app, ["run", str(_problems(tmp_path)), "--model", "toy", "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "needs a reward model" in r.output and "--method majority" in r.output
    r = runner.invoke(app, ["run", str(_problems(tmp_path)), "--backend", "openai", "--model", "m",
                            "--prm", "toy-checker", "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "--base-url is required" in r.output


def test_model_toy_shortcut_resolves_the_shipped_policy(tmp_path, monkeypatch):
    import probinf_cli.commands.tts as tts
    from llm_bridge.toy import toy_model_path

    seen = {}

    def fake_backend(name, model, **kw):
        seen.update(name=name, model=model)
        raise RuntimeError("stop here")

    monkeypatch.setattr(tts, "build_backend", fake_backend)
    r = runner.invoke(app, ["run", str(_problems(tmp_path)), "--model", "toy", "--prm", "toy-checker",
                            "--out", str(tmp_path / "o.jsonl")])
    assert seen == {"name": "transformers", "model": str(toy_model_path())}
    assert r.exit_code == 1 and "stop here" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["run", str(_problems(tmp_path)), "--backend", "fake", "--model", "toy",
                            "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "--model toy" in r.output


def test_make_problems_writes_runnable_toy_problems(tmp_path):
    out = tmp_path / "p.jsonl"
    r = runner.invoke(app, ["make-problems", str(out), "--n", "4", "--seed", "3"])
    assert r.exit_code == 0, r.output
    probs = read_problems(out)
    assert len(probs) == 4 and all("answer" in p and p["prompt"] for p in probs)
    again = tmp_path / "q.jsonl"
    runner.invoke(app, ["make-problems", str(again), "--n", "4", "--seed", "3"])
    assert again.read_text() == out.read_text()  # same seed, same problems
    r = runner.invoke(app, ["make-problems", str(out), "--n", "2"])
    assert r.exit_code == 2 and "--overwrite" in r.output and len(read_problems(out)) == 4


def test_dead_server_is_one_line_with_the_url_and_the_fix(tmp_path):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = runner.invoke(app, ["run", str(_problems(tmp_path)), "--backend", "openai", "--model", "m",
                            "--base-url", f"http://127.0.0.1:{port}/v1", "--prm", "toy-checker",
                            "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2
    assert f"http://127.0.0.1:{port}/v1/models" in r.output and "--base-url" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_failure_during_a_run_is_one_line_unless_verbose(tmp_path, monkeypatch):
    import probinf_cli.commands.tts as tts

    class Broken:
        def infer(self, *a, **k):
            raise ConnectionError("connection refused")

    real = tts.make_algorithm
    monkeypatch.setattr(tts, "make_algorithm", lambda *a, **k: (Broken(), real(*a, **k)[1]))
    r = _run(tmp_path, _problems(tmp_path), tmp_path / "o.jsonl")
    assert r.exit_code == 1 and "connection refused" in r.output and "--verbose" in r.output
    assert "Traceback" not in r.output
    r = _run(tmp_path, _problems(tmp_path), tmp_path / "o.jsonl", "--verbose")
    assert isinstance(r.exception, ConnectionError)


def test_methods_help_has_no_rst_markup():
    r = runner.invoke(app, ["methods", "--help"])
    assert r.exit_code == 0 and "``" not in r.output
    r = runner.invoke(app, ["--help"])
    assert "``" not in r.output
