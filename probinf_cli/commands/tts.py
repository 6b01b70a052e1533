r"""``probinf tts``: run test-time-scaling methods over a JSONL file of problems.

::

    probinf tts make-problems problems.jsonl --n 10
    probinf tts run problems.jsonl --model toy --prm toy-checker --method pf --budget 8 --out results.jsonl

Each input line is a JSON object with ``prompt`` (or ``question``), optionally ``id``
(default: the line number) and ``answer`` (the reference, for grading).  Results are
appended to ``--out`` one JSON line per problem as soon as it is done (flushed and
fsynced), so an interrupted run RESUMES where it stopped: problems already in the output
for the same method, budget and seed are skipped, and a torn last line (a record cut by a
kill) is cut off.  An existing results file is never deleted or truncated unless
``--overwrite`` is given.

Backends: ``fake`` (the test process of :mod:`llm_bridge.testing`), ``transformers``
(``--model toy`` is the shipped toy policy), ``openai`` (``--base-url``), ``vllm``.
Reward models: ``none``, ``fake``, ``toy-checker``, ``self-certainty``, or ``module:attr``
(a factory called with no arguments).  ``probinf tts methods`` lists the methods.
Every flag is checked before a model loads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from probinf_cli.commands._tts_io import count_records, load_done, read_problems
from probinf_cli.commands._tts_setup import (
    BACKENDS,
    PRMS,
    build_backend,
    build_prm,
    check_server,
    grader,
    make_algorithm,
    normalize_base_url,
)

__all__ = ["app", "read_problems", "load_done", "build_backend", "build_prm"]

app = typer.Typer(help="LLM test-time scaling: particle filtering and baselines over any backend.",
                  no_args_is_help=True)


def _fail(msg: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(code=code)


@app.command()
def methods() -> None:
    """List the method names accepted by --method."""
    from llm_bridge.algorithms import METHODS

    for name, cls in METHODS.items():
        typer.echo(f"{name}\t{cls.__name__}")


@app.command("make-problems")
def make_problems(
    out: Path = typer.Argument(..., help="JSONL file to write (one toy problem per line)."),
    n: int = typer.Option(10, "--n", help="Number of problems."),
    seed: int = typer.Option(0, help="Seed: same seed, same problems."),
    min_ops: int = typer.Option(3, help="Fewest operations per problem."),
    max_ops: int = typer.Option(6, help="Most operations per problem."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Write N toy chained-arithmetic problems (prompt, answer) for `probinf tts run --model toy`."""
    from llm_bridge.toy import make_problems as draw
    from llm_bridge.toy import save_problems

    if out.exists() and not overwrite:
        raise _fail(f"{out} exists; pass --overwrite to replace it or choose another path")
    try:
        problems = draw(n, seed=seed, num_ops=(min_ops, max_ops))
        out.parent.mkdir(parents=True, exist_ok=True)
        save_problems(problems, out)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"wrote {len(problems)} problems to {out}")


@dataclass(frozen=True)
class _Plan:
    """Everything `run` checked before loading a model."""

    problems: list[dict]
    todo: list[tuple[int, dict]]
    algo: Any
    grade: Any
    joiner: str
    model: str | None
    base_url: str | None


def _plan(problems: Path, *, backend: str, model: str | None, prm: str, method: str, budget: int, out: Path,
          seed: int, task: str | None, delimiter: str | None, step_kwargs: dict, aggregation: str | None,
          tau: float | None, base_url: str | None, resume: bool, overwrite: bool, limit: int | None) -> _Plan:
    """Validate every flag and the files (no model is loaded); raise ValueError/OSError with the fix."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if budget < 1:
        raise ValueError(f"--budget must be >= 1, got {budget}")
    if limit is not None and limit < 0:
        raise ValueError(f"--limit must be >= 0, got {limit}")
    toy = model == "toy"
    if toy and backend != "transformers":
        raise ValueError(f"--model toy is the shipped toy policy for --backend transformers, got --backend {backend}")
    if toy:
        from llm_bridge.toy import toy_model_path

        model = str(toy_model_path())
    if backend not in ("fake",) and not model:
        raise ValueError(f"--model is required for the {backend!r} backend (--model toy: the shipped toy policy)")
    if backend == "openai":
        if not base_url:
            raise ValueError("--base-url is required for the 'openai' backend (e.g. http://127.0.0.1:8000)")
        base_url = normalize_base_url(base_url)
    if prm not in PRMS and ":" not in prm:
        raise ValueError(f"unknown reward model {prm!r}; expected one of {PRMS} or 'module:factory'")
    if prm == "fake" and backend != "fake":
        raise ValueError("--prm fake needs --backend fake")
    task = task or ("toy" if toy else "fake" if backend == "fake" else "generic")
    delim = delimiter if delimiter is not None else ("\\n" if toy or task == "toy" else "\\n\\n")
    answer_fn, grade = grader(task)
    algo, joiner = make_algorithm(method, prm=prm, aggregation=aggregation, tau=tau, answer_fn=answer_fn,
                                  delimiter=delim.encode().decode("unicode_escape"), **step_kwargs)
    probs = read_problems(problems)[:limit]
    n_existing = count_records(out)
    if n_existing and not resume and not overwrite:
        raise ValueError(f"{out} already holds {n_existing} results and --no-resume was given; pass --overwrite to "
                         "replace them, or drop --no-resume to continue where the run stopped")
    done = set() if overwrite else load_done(out)  # also cuts a torn last line before appending
    todo = [(i, d) for i, d in enumerate(probs) if (d["id"], method, budget, seed) not in done]
    return _Plan(probs, todo, algo, grade, joiner, model, base_url)


def _execute(plan: _Plan, be: Any, rm: Any, *, method: str, budget: int, seed: int, out: Path,
             overwrite: bool) -> tuple[int, int]:
    """Run the plan, appending one fsynced JSON line per problem; returns (correct, graded)."""
    import time

    from probinf.progress import progress

    n_correct = n_graded = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w" if overwrite else "a") as f:
        bar = progress(plan.todo, desc=f"tts {method}@{budget}", total=len(plan.todo))
        for i, d in bar:
            t0 = time.perf_counter()
            res = plan.algo.infer(be, rm, d["prompt"], budget=budget, seed=seed + i)
            ok = plan.grade(d, res.text)
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
    return n_correct, n_graded


@app.command()
def run(
    problems: Path = typer.Argument(..., help="JSONL file: one {'prompt', 'id'?, 'answer'?} per line."),
    backend: str = typer.Option("transformers", help=f"One of {BACKENDS}."),
    model: str | None = typer.Option(None, help="Model path or served model name; 'toy': the shipped toy policy."),
    prm: str = typer.Option("none", help=f"Reward model: {PRMS} or module:factory."),
    method: str = typer.Option("pf", help="Method (see `probinf tts methods`); pf, pg, beam, bon need a --prm."),
    budget: int = typer.Option(8, help="Budget: particles / samples (PG: particles x iterations)."),
    out: Path = typer.Option(Path("tts_results.jsonl"), help="Output JSONL (appended; resumed)."),
    seed: int = typer.Option(0, help="Seed (per problem: seed + index)."),
    task: str | None = typer.Option(None, help="Grading: generic (\\boxed / last line), toy, fake "
                                               "(default: toy with --model toy, fake with --backend fake)."),
    delimiter: str | None = typer.Option(None, help="Step delimiter, escapes allowed (default \\n\\n; \\n for toy)."),
    tokens_per_step: int | None = typer.Option(None, help="Fixed-size steps of this many tokens instead."),
    max_steps: int = typer.Option(32, help="Maximum steps per answer."),
    max_step_tokens: int = typer.Option(512, help="max_tokens of one step."),
    temperature: float = typer.Option(0.8, help="Policy sampling temperature."),
    aggregation: str | None = typer.Option(
        None, help="PRM aggregation: model, prod, min, last, mean (default: model; last for toy-checker)."),
    tau: float | None = typer.Option(None, help="PF/PG softmax temperature (default 1)."),
    base_url: str | None = typer.Option(None, help="Server URL for --backend openai (e.g. http://127.0.0.1:8000)."),
    device: str | None = typer.Option(None, help="transformers: cpu / cuda (default: cuda if available)."),
    threads: int | None = typer.Option(
        None, help="transformers on CPU: torch threads (1 is much faster on a busy machine)."),
    false_positive_rate: float = typer.Option(0.0, help="toy-checker: probability a wrong step is accepted."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Skip problems already in --out."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results already in --out."),
    limit: int | None = typer.Option(None, help="Only the first LIMIT problems."),
    verbose: bool = typer.Option(False, "--verbose", help="Show the full traceback of a backend failure."),
) -> None:
    """Run METHOD with BUDGET on every problem; write one JSON line per problem as it goes."""
    step_kwargs = dict(tokens_per_step=tokens_per_step, max_steps=max_steps, max_step_tokens=max_step_tokens,
                       temperature=temperature)
    try:
        plan = _plan(problems, backend=backend, model=model, prm=prm, method=method, budget=budget, out=out,
                     seed=seed, task=task, delimiter=delimiter, step_kwargs=step_kwargs, aggregation=aggregation,
                     tau=tau, base_url=base_url, resume=resume, overwrite=overwrite, limit=limit)
        if plan.todo and backend == "openai":
            check_server(plan.base_url)
    except (ValueError, TypeError, OSError) as exc:
        raise _fail(str(exc)) from None
    if not plan.todo:
        typer.echo(f"nothing to do: all {len(plan.problems)} problems are in {out}")
        return
    try:
        be = build_backend(backend, plan.model, base_url=plan.base_url, seed=seed, device=device, threads=threads)
        rm = build_prm(prm, be, false_positive_rate=false_positive_rate, seed=seed, joiner=plan.joiner)
        n_correct, n_graded = _execute(plan, be, rm, method=method, budget=budget, seed=seed, out=out,
                                       overwrite=overwrite)
    except Exception as exc:  # one line (with the server URL and the fix); the traceback only on --verbose
        from probinf_cli.commands._tts_setup import describe_failure

        if verbose:
            raise
        raise _fail(describe_failure(exc, backend=backend, base_url=plan.base_url), code=1) from None
    msg = f"wrote {len(plan.todo)} results to {out}"
    if n_graded:
        msg += f"; accuracy on this run {n_correct}/{n_graded} = {n_correct / n_graded:.3f}"
    typer.echo(msg)
