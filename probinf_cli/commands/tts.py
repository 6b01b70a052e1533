r"""``probinf tts``: run test-time-scaling methods over a JSONL file of problems.

::

    probinf tts run problems.jsonl --backend transformers --model llm_bridge/toy/assets/toy_policy \
        --prm toy-checker --method pf --budget 8 --task toy --out results.jsonl

Each input line is a JSON object with ``prompt`` (or ``question``), optionally ``id``
(default: the line number) and ``answer`` (the reference, for grading).  Results are
appended to ``--out`` one JSON line per problem as soon as it is done (flushed and
fsynced), so an interrupted run RESUMES where it stopped: problems already in the output
for the same method, budget and seed are skipped, and a torn last line is dropped.

Backends: ``fake`` (the test process of :mod:`llm_bridge.testing`), ``transformers``,
``openai`` (``--base-url``), ``vllm``.  Reward models: ``none``, ``fake``,
``toy-checker``, ``self-certainty``, or ``module:attr`` (a factory called with no
arguments).  ``probinf tts methods`` lists the methods.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from pathlib import Path
from typing import Optional

import typer

__all__ = ["app", "read_problems", "load_done", "build_backend", "build_prm"]

app = typer.Typer(help="LLM test-time scaling: particle filtering and baselines over any backend.",
                  no_args_is_help=True)


def read_problems(path: Path) -> list[dict]:
    """Problems from a JSONL file (``prompt``/``question``, optional ``id`` and ``answer``)."""
    out = []
    with Path(path).open() as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(d, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(d).__name__}")
            prompt = d.get("prompt", d.get("question"))
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"{path}:{lineno}: needs a non-empty string 'prompt' (or 'question'), got {prompt!r}")
            d = dict(d, prompt=prompt, id=str(d.get("id", lineno)))
            out.append(d)
    ids = [d["id"] for d in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: problem ids must be unique")
    return out


def _key(rec: dict) -> tuple:
    return (str(rec.get("id")), rec.get("method"), int(rec.get("budget", -1)), int(rec.get("seed", -1)))


def load_done(out: Path) -> set[tuple]:
    """Keys ``(id, method, budget, seed)`` already in ``out``; a torn (unparsable) tail is removed."""
    out = Path(out)
    if not out.exists():
        return set()
    good, torn = [], False
    for line in out.read_text().splitlines(keepends=True):
        try:
            rec = json.loads(line)
            if not line.endswith("\n"):
                raise ValueError("torn line")
            good.append((line, rec))
        except ValueError:
            torn = True
    if torn:  # rewrite without the partial line left by a crash mid-write
        out.write_text("".join(line for line, _ in good))
    return {_key(rec) for _, rec in good}


def _import(spec: str):
    module, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"expected 'module:attribute', got {spec!r}")
    return getattr(importlib.import_module(module), attr)


BACKENDS = ("fake", "transformers", "openai", "vllm")
PRMS = ("none", "fake", "toy-checker", "self-certainty")


def build_backend(name: str, model: Optional[str], *, base_url: Optional[str] = None, seed: int = 0,
                  device: Optional[str] = None, threads: Optional[int] = None):
    """A backend by CLI name (imports its library lazily)."""
    if name == "fake":
        from llm_bridge.testing import FakeBackend, MarkovStepProcess

        return FakeBackend(MarkovStepProcess.default(), seed=seed)
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
    if not model:
        raise ValueError(f"--model is required for the {name!r} backend")
    from llm_bridge import backends

    if name == "transformers":
        return backends.TransformersBackend.from_pretrained(model, device=device, num_threads=threads)
    if name == "openai":
        if not base_url:
            raise ValueError("--base-url is required for the 'openai' backend (e.g. http://127.0.0.1:8000/v1)")
        return backends.OpenAICompatibleBackend(base_url=base_url, model=model)
    return backends.VLLMBackend(model)


def build_prm(name: str, backend, *, false_positive_rate: float = 0.0, seed: int = 0, joiner: str = "\n\n"):
    """A reward model by CLI name (``none`` gives ``None``), or ``module:attr`` factory."""
    if name == "none":
        return None
    if name == "fake":
        from llm_bridge.testing import FakePRM

        if not hasattr(backend, "process"):
            raise ValueError("--prm fake needs --backend fake")
        return FakePRM(backend.process)
    if name == "toy-checker":
        from llm_bridge.rewards import ToyStepVerifier

        return ToyStepVerifier(false_positive_rate=false_positive_rate, seed=seed)
    if name == "self-certainty":
        from llm_bridge.rewards import SelfCertaintyPRM

        return SelfCertaintyPRM(backend, joiner=joiner)
    if ":" in name:
        return _import(name)()
    raise ValueError(f"unknown reward model {name!r}; expected one of {PRMS} or 'module:factory'")


def _grader(task: str):
    """``(answer_fn, grade(problem_dict, text) -> bool | None)`` for a task family."""
    if task == "toy":
        from llm_bridge.toy.task import ToyProblem, grade, parse_answer

        def grade_toy(d, text):
            if "ops" in d:
                return bool(grade(ToyProblem.from_dict(d), text))
            if "answer" in d:
                return parse_answer(text) == int(d["answer"])
            return None

        return parse_answer, grade_toy
    if task == "generic":
        from llm_bridge.algorithms import default_answer_fn

        def grade_generic(d, text):
            if d.get("answer") is None:
                return None
            a = default_answer_fn(text)
            return a is not None and str(a).strip() == str(d["answer"]).strip()

        return default_answer_fn, grade_generic
    if task == "fake":
        from llm_bridge.testing import answer_of

        return answer_of, lambda d, text: (answer_of(text) == d["answer"]) if "answer" in d else None
    raise ValueError(f"unknown task {task!r}; expected 'generic', 'toy' or 'fake'")


@app.command()
def methods():
    """List the method names accepted by ``--method``."""
    from llm_bridge.algorithms import METHODS

    for name, cls in METHODS.items():
        typer.echo(f"{name}\t{cls.__name__}")


@app.command()
def run(
    problems: Path = typer.Argument(..., help="JSONL file: one {'prompt', 'id'?, 'answer'?} per line."),
    backend: str = typer.Option("transformers", help=f"One of {BACKENDS}."),
    model: Optional[str] = typer.Option(None, help="Model path or served model name."),
    prm: str = typer.Option("none", help=f"Reward model: {PRMS} or module:factory."),
    method: str = typer.Option("pf", help="Method (see `probinf tts methods`)."),
    budget: int = typer.Option(8, help="Budget: particles / samples (PG: particles x iterations)."),
    out: Path = typer.Option(Path("tts_results.jsonl"), help="Output JSONL (appended; resumed)."),
    seed: int = typer.Option(0, help="Seed (per problem: seed + index)."),
    task: str = typer.Option("generic", help="Grading: generic (\\boxed / last line), toy, fake."),
    delimiter: str = typer.Option("\\n\\n", help="Step delimiter (escape sequences allowed)."),
    tokens_per_step: Optional[int] = typer.Option(None, help="Fixed-size steps of this many tokens instead."),
    max_steps: int = typer.Option(32, help="Maximum steps per answer."),
    max_step_tokens: int = typer.Option(512, help="max_tokens of one step."),
    temperature: float = typer.Option(0.8, help="Policy sampling temperature."),
    aggregation: Optional[str] = typer.Option(
        None, help="PRM aggregation: model, prod, min, last, mean (default: model; last for toy-checker)."),
    tau: Optional[float] = typer.Option(None, help="PF/PG softmax temperature (default 1)."),
    base_url: Optional[str] = typer.Option(None, help="Server URL for --backend openai."),
    device: Optional[str] = typer.Option(None, help="transformers: cpu / cuda (default: cuda if available)."),
    threads: Optional[int] = typer.Option(
        None, help="transformers on CPU: torch threads (1 is much faster on a busy machine)."),
    false_positive_rate: float = typer.Option(0.0, help="toy-checker: probability a wrong step is accepted."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Skip problems already in --out."),
    limit: Optional[int] = typer.Option(None, help="Only the first LIMIT problems."),
):
    """Run METHOD with BUDGET on every problem; write one JSON line per problem as it goes."""
    from llm_bridge.algorithms import StepConfig, get_method
    from probinf.progress import progress

    try:
        probs = read_problems(problems)[:limit]
        if budget < 1:
            raise ValueError(f"--budget must be >= 1, got {budget}")
        answer_fn, grade = _grader(task)
        delim = delimiter.encode().decode("unicode_escape")
        step = StepConfig(delimiter=delim, tokens_per_step=tokens_per_step, max_steps=max_steps,
                          max_step_tokens=max_step_tokens, temperature=temperature).validate()
        kwargs = dict(step=step, answer_fn=answer_fn)
        if method not in ("majority", "self-consistency"):
            from llm_bridge.aggregation import get_aggregation

            agg = aggregation or ("last" if prm == "toy-checker" else "model")
            kwargs["aggregation"] = get_aggregation(agg)
        if tau is not None:
            kwargs["tau"] = tau
        algo = get_method(method, **kwargs)
    except (ValueError, TypeError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2)
    done = load_done(out) if resume else set()
    if not resume and out.exists():
        out.unlink()
    todo = [(i, d) for i, d in enumerate(probs) if (d["id"], method, budget, seed) not in done]
    if not todo:
        typer.echo(f"nothing to do: all {len(probs)} problems are in {out}")
        return
    try:
        be = build_backend(backend, model, base_url=base_url, seed=seed, device=device, threads=threads)
        rm = build_prm(prm, be, false_positive_rate=false_positive_rate, seed=seed, joiner=step.joiner)
    except (ValueError, TypeError, ImportError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2)
    n_correct = n_graded = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        bar = progress(todo, desc=f"tts {method}@{budget}", total=len(todo))
        for i, d in bar:
            t0 = time.perf_counter()
            try:
                res = algo.infer(be, rm, d["prompt"], budget=budget, seed=seed + i)
            except (ValueError, TypeError) as exc:
                typer.echo(f"error on problem {d['id']}: {exc}", err=True)
                raise typer.Exit(code=1)
            ok = grade(d, res.text)
            rec = {"id": d["id"], "method": method, "budget": budget, "seed": seed, **res.to_dict(),
                   "reference": d.get("answer"), "correct": ok, "seconds": time.perf_counter() - t0}
            f.write(json.dumps(rec, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
            if ok is not None:
                n_graded += 1
                n_correct += int(ok)
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(acc=f"{n_correct / n_graded:.3f}")
    msg = f"wrote {len(todo)} results to {out}"
    if n_graded:
        msg += f"; accuracy on this run {n_correct}/{n_graded} = {n_correct / n_graded:.3f}"
    typer.echo(msg)
