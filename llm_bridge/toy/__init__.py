"""A toy reasoning task with exact grading and a tiny trained policy (see :mod:`llm_bridge.toy.task`).

``llm_bridge.toy.task`` generates and grades chained-arithmetic problems;
``llm_bridge.toy.train`` trains the small causal LM shipped in ``assets/``;
:func:`toy_model_path` returns that folder (loadable by any HF-compatible backend).
"""

from __future__ import annotations

from pathlib import Path

from llm_bridge.toy.task import (
    ANSWER_PREFIX,
    STEP_DELIMITER,
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

__all__ = [
    "ANSWER_PREFIX",
    "STEP_DELIMITER",
    "ToyProblem",
    "canonical_steps",
    "check_step",
    "format_prompt",
    "grade",
    "load_problems",
    "make_problems",
    "parse_answer",
    "parse_steps",
    "save_problems",
    "solution_text",
    "step_labels",
    "toy_model_path",
]

_ASSETS = Path(__file__).resolve().parent / "assets"


def toy_model_path() -> Path:
    """The folder of the shipped toy policy (``save_pretrained`` format: config, safetensors, tokenizer).

    Raises
    ------
    FileNotFoundError
        If the weights are not there (re-create them with ``python -m llm_bridge.toy.train``).
    """
    d = _ASSETS / "toy_policy"
    if not (d / "config.json").is_file():
        raise FileNotFoundError(
            f"the toy policy is missing at {d}; train it with `python -m llm_bridge.toy.train --out {d}`"
        )
    return d
