"""Backends, reward models, graders and methods of ``probinf tts run``, by their command-line names."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

__all__ = ["BACKENDS", "PRMS", "build_backend", "build_prm", "grader", "make_algorithm", "normalize_base_url",
           "check_server", "describe_failure"]

BACKENDS = ("fake", "transformers", "openai", "vllm")
PRMS = ("none", "fake", "toy-checker", "self-certainty")
#: methods that rank or weight candidates with a reward model
_NO_PRM = ("majority", "self-consistency")


def _import(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"expected 'module:attribute', got {spec!r}")
    return getattr(importlib.import_module(module), attr)


def normalize_base_url(url: str) -> str:
    """The server root(s): a trailing ``/`` or ``/v1`` is dropped from each comma-separated replica URL
    (the backend adds ``/v1`` itself).

    >>> normalize_base_url("http://127.0.0.1:8000/v1/")
    'http://127.0.0.1:8000'
    >>> normalize_base_url("http://127.0.0.1:8000/v1, http://127.0.0.1:8001")
    'http://127.0.0.1:8000,http://127.0.0.1:8001'
    """
    roots = []
    for part in url.split(","):
        part = part.strip().rstrip("/")
        roots.append(part[: -len("/v1")] if part.endswith("/v1") else part)
    return ",".join(r for r in roots if r)


def _answers(url: str, timeout: float) -> str | None:
    """None if a server answers at ``url``, else the reason."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - the user's own server
            json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError:
        return None  # the server answered (some do not serve /v1/models)
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))
    return None


def check_server(base_url: str | None, timeout: float = 5.0) -> None:
    """Raise ConnectionError (one line: the URLs and the fix) if no replica answers at ``base_url``.

    A fleet (comma-separated replicas) runs while one replica answers: the backend routes around the others.
    """
    urls = [f"{u}/v1/models" for u in (base_url or "").split(",") if u]
    reasons = {u: _answers(u, timeout) for u in urls}
    if urls and all(r is not None for r in reasons.values()):
        tried = "; ".join(f"{u} ({r})" for u, r in reasons.items())
        raise ConnectionError(f"no OpenAI-compatible server answered at {tried}; start one (e.g. "
                              "`python -m llama_cpp.server --model MODEL.gguf --port 8000`) or pass the right "
                              "--base-url")


def describe_failure(exc: BaseException, *, backend: str, base_url: str | None) -> str:
    """One line for a failure during a run: what failed, where, and what to try."""
    where = f" at {base_url}" if base_url else ""
    hint = " (rerun with --verbose for the traceback; finished problems are kept and resume)"
    return f"{backend} backend failed{where}: {type(exc).__name__}: {exc}".replace("\n", " ")[:500] + hint


def build_backend(name: str, model: str | None, *, base_url: str | None = None, seed: int = 0,
                  device: str | None = None, threads: int | None = None) -> Any:
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
            raise ValueError("--base-url is required for the 'openai' backend (e.g. http://127.0.0.1:8000)")
        return backends.OpenAICompatibleBackend(base_url=normalize_base_url(base_url), model=model)
    return backends.VLLMBackend(model)


def build_prm(name: str, backend: Any, *, false_positive_rate: float = 0.0, seed: int = 0,
              joiner: str = "\n\n") -> Any:
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


def grader(task: str) -> tuple[Callable[[str], Any], Callable[[dict, str], bool | None]]:
    """``(answer_fn, grade(problem_dict, text) -> bool | None)`` for a task family."""
    if task == "toy":
        from llm_bridge.toy.task import ToyProblem, grade, parse_answer

        def grade_toy(d: dict, text: str) -> bool | None:
            if "ops" in d:
                return bool(grade(ToyProblem.from_dict(d), text))
            if "answer" in d:
                return parse_answer(text) == int(d["answer"])
            return None

        return parse_answer, grade_toy
    if task == "generic":
        from llm_bridge.algorithms import default_answer_fn

        def grade_generic(d: dict, text: str) -> bool | None:
            if d.get("answer") is None:
                return None
            a = default_answer_fn(text)
            return a is not None and str(a).strip() == str(d["answer"]).strip()

        return default_answer_fn, grade_generic
    if task == "fake":
        from llm_bridge.testing import answer_of

        return answer_of, lambda d, text: (answer_of(text) == d["answer"]) if "answer" in d else None
    raise ValueError(f"unknown task {task!r}; expected 'generic', 'toy' or 'fake'")


def make_algorithm(method: str, *, prm: str, aggregation: str | None, tau: float | None,
                   answer_fn: Callable[[str], Any], delimiter: str, **step_kwargs: Any) -> tuple[Any, str]:
    """The method instance and the step joiner; ValueError (with the fix) for a bad combination."""
    from llm_bridge.algorithms import METHODS, StepConfig, get_method

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    if prm == "none" and method not in _NO_PRM:
        raise ValueError(f"--method {method} needs a reward model, but --prm is 'none'; pass --prm (one of "
                         f"{PRMS[1:]} or module:factory), or use --method majority, which needs none")
    step = StepConfig(delimiter=delimiter, **step_kwargs).validate()
    kwargs: dict[str, Any] = dict(step=step, answer_fn=answer_fn)
    if method not in _NO_PRM:
        from llm_bridge.aggregation import get_aggregation

        kwargs["aggregation"] = get_aggregation(aggregation or ("last" if prm == "toy-checker" else "model"))
    if tau is not None:
        kwargs["tau"] = tau
    return get_method(method, **kwargs), step.joiner
