"""Case grids of the applications: each scalar argument of a cheap entry point crossed with every class of bad
value, the concrete counterpart of the hypothesis suites' strategies (so that the counts of every package come
from concrete rows).  Values that are valid for an argument are left out where the row is built, with a reason.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from _cases import Case
from sklearn.linear_model import LinearRegression

#: bad scalars for a number in a range: NaN, +-inf, negative, text, None, a list, an object, complex
BAD_NUMBERS = {"NaN": math.nan, "+inf": math.inf, "-inf": -math.inf, "-1": -1.0, "text '0.5'": "0.5",
               "None": None, "empty list": [], "object()": object(), "complex": 1e300j}
#: bad counts: negative, fractional, NaN, inf, text, None, list, bool, complex
BAD_COUNTS = {"-1": -1, "1.5": 1.5, "NaN": math.nan, "inf": math.inf, "text '3'": "3", "None": None,
              "empty list": [], "True": True, "complex": 1 + 1j}
#: bad coverage levels in (0, 1)
BAD_LEVELS = {"0": 0.0, "1": 1.0, "-0.1": -0.1, "1.5": 1.5, "NaN": math.nan, "inf": math.inf, "text": "0.9",
              "None": None, "list [0.5, 1.2]": [0.5, 1.2]}

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 3))
Y = X @ np.array([1.0, -1.0, 0.5]) + RNG.normal(size=30)
LIN = LinearRegression().fit(X, Y)


def _grid(package: str, target: str, make, values: dict, arg: str, handled: dict | None = None) -> list[Case]:
    """One case per bad value; ``handled`` maps a label to ``(check, note)`` where the value is accepted."""
    handled = handled or {}
    cases = []
    for label, v in values.items():
        if label in handled:
            check, note = handled[label]
            cases.append(Case(package, target, f"{arg} {label}", lambda v=v: make(v), expect="handled", check=check,
                              note=note))
        else:
            cases.append(Case(package, target, f"{arg} {label}", lambda v=v: make(v)))
    return cases


def _privacy() -> list[Case]:
    import privacy
    from privacy.audit import accountant_epsilon

    counts = privacy.AttackCounts(tp=60, fn=40, tn=70, fp=30)
    cases: list[Case] = []
    for field in ("tp", "fn", "tn", "fp"):
        cases += _grid("privacy", "AttackCounts", lambda v, f=field: privacy.AttackCounts(
            **({"tp": 5, "fn": 5, "tn": 5, "fp": 5} | {f: v})), BAD_COUNTS, field)
    acc = {"noise_multiplier": 1.0, "sample_rate": 0.01, "steps": 100, "delta": 1e-5}
    for arg in acc:
        cases += _grid("privacy", "accountant_epsilon", lambda v, a=arg: accountant_epsilon(**(acc | {a: v})),
                       BAD_COUNTS if arg == "steps" else BAD_NUMBERS, arg)
    for fn in (privacy.clopper_pearson_interval, privacy.jeffreys_interval):
        cases += _grid("privacy", fn.__name__, lambda v, f=fn: f(counts, 1e-5, v), BAD_LEVELS, "level")

        def by_delta(v, f=fn):
            return f(counts, v)

        cases += _grid("privacy", fn.__name__, by_delta, BAD_NUMBERS, "delta")
    for i, arg in enumerate(("fpr", "fnr")):
        def eps(v, i=i):
            return privacy.empirical_epsilon(*([0.1, 0.2][:i] + [v] + [0.1, 0.2][i + 1:]), 1e-5)

        cases += _grid("privacy", "empirical_epsilon", eps, BAD_NUMBERS, arg, handled={
            "empty list": ((lambda out: np.shape(out) == (0,)), "vectorised: an empty array gives an empty array")})
    return cases


def _conformal() -> list[Case]:
    import conformal

    regs = {
        "SplitConformalRegressor": lambda **kw: conformal.SplitConformalRegressor(LIN, prefit=True, **kw),
        "WeightedConformalRegressor": lambda **kw: conformal.WeightedConformalRegressor(
            LIN, likelihood_ratio=lambda Z: np.ones(len(Z)), prefit=True, **kw),
    }
    bad_x = {"None": None, "text": "X", "a number": 3.0, "1-D": np.zeros(30), "3-D": np.zeros((30, 3, 2)),
             "no rows": np.zeros((0, 3)), "no columns": np.zeros((30, 0)),
             "NaN entry": np.where(np.eye(30, 3) > 0, np.nan, 0.0), "strings": np.full((30, 3), "a"),
             "wrong feature count": np.zeros((30, 2))}
    bad_y = {"None": None, "one too many": np.zeros(31), "one too few": np.zeros(29), "2-D": np.zeros((30, 2)),
             "NaN entry": np.r_[np.nan, np.zeros(29)], "-inf entry": np.r_[np.zeros(29), -np.inf],
             "strings": np.array(["a"] * 30)}
    cases: list[Case] = []
    for name, make in regs.items():
        cases += _grid("conformal", name, lambda v, m=make: m(confidence_level=v).conformalize(X, Y), BAD_LEVELS,
                       "confidence_level")
        cases += _grid("conformal", name, lambda v, m=make: m().conformalize(v, Y), bad_x, "X")
        cases += _grid("conformal", name, lambda v, m=make: m().conformalize(X, v), bad_y, "y")
    return cases


def _crowd() -> list[Case]:
    import crowd

    good = pd.DataFrame({"task": [0, 0, 1, 1], "worker": [0, 1, 0, 1], "label": [1, 2, 1, 1]})
    tables = {
        "no rows": good.iloc[:0], "column 'label' missing": good.drop(columns="label"),
        "NaN label": good.assign(label=[1.0, np.nan, 1.0, 1.0]), "None worker": good.assign(worker=[0, None, 0, 1]),
        "duplicate answers": pd.concat([good, good.iloc[:1]]), "not a DataFrame": good.to_numpy(),
        "labels mixing 1 and '1'": good.assign(label=[1, "1", 2, 2]), "bool labels": good.assign(label=[True] * 4),
    }
    cases: list[Case] = []
    empty = ((lambda est: len(est.labels_) == 0), "no tasks: empty labels_")
    for name in ("MajorityVote", "DawidSkene", "TopTwo"):
        handled = {"no rows": empty} if name != "TopTwo" else {}
        if name == "MajorityVote":
            handled["bool labels"] = ((lambda est: bool((est.labels_ == True).all())), "one label, True")  # noqa: E712
        cases += _grid("crowd", name, lambda v, n=name: getattr(crowd, n)().fit(v), tables, "data", handled)
    cases += _grid("crowd", "simulate_top_two", lambda v: crowd.simulate_top_two(v, 10, 3), BAD_COUNTS, "n_workers")
    return cases


def _llm_bridge() -> list[Case]:
    import llm_bridge as lb

    cases = _grid("llm_bridge", "pass_at_k", lambda v: lb.pass_at_k(5, 2, v), BAD_COUNTS, "k", handled={
        "empty list": ((lambda out: np.shape(out) == (0,)), "vectorised: an empty array gives an empty array")})
    cases += _grid("llm_bridge", "majority_vote", lambda v: lb.majority_vote(v), {
        "empty": [], "None": None, "a number": 3, "a dict": {"a": 1}}, "answers")
    cases += _grid("llm_bridge", "weighted_majority_vote", lambda v: lb.weighted_majority_vote(["a", "b"], v), {
        "NaN weight": [math.nan, 1.0], "inf weight": [math.inf, 1.0], "negative weight": [-1.0, 1.0],
        "wrong length": [1.0], "None": None}, "weights")
    cases += _grid("llm_bridge", "get_method", lb.get_method, {"unknown": "nope", "None": None, "a number": 3,
                                                               "empty": ""}, "name")
    return cases


GRID_CASES: list[Case] = [*_privacy(), *_conformal(), *_crowd(), *_llm_bridge()]
