"""Fuzz every public entry point of :mod:`crowd` with bad inputs (hypothesis).

Each call must either raise a clear exception of ours (a ValueError/TypeError/KeyError subclass
with a message that names the argument) or return a valid result (finite probabilities that sum
to one, no NaN where a number is promised). A dependency's exception (pandas, numpy, scipy,
JAX), a NaN result or a hang (pytest-timeout) fails.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import crowd
from crowd import (
    AnswersFormatError,
    BayesianTopTwo,
    CrowdDeprecationWarning,
    CrowdWarning,
    DatasetNotFoundError,
    DawidSkene,
    DegenerateModelError,
    DuplicateAnswersError,
    MajorityVote,
    MissingColumnError,
    NotFittedError,
    OracleTopTwo,
    TopTwo,
    TopTwoSample,
    datasets,
    simulate_top_two,
)

pytestmark = pytest.mark.timeout(300)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

# ---------------------------------------------------------------- strategies
ids = st.one_of(st.integers(-3, 6), st.sampled_from(["a", "b", "3", "x"]), st.floats(allow_nan=True),
                st.none(), st.booleans())
# every class of bad scalar, listed so each is drawn, plus random floats and short strings
bad_scalars = st.one_of(st.sampled_from([None, True, False, math.nan, math.inf, -math.inf, -1, 0, 0.5, 1.5, "", "ab",
                                         [1], (1, 2, 3), 10**30]),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3))
HYPER = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@st.composite
def answer_tables(draw):
    """Long tables with arbitrary (often bad) ids: mixed types, NaN, None, duplicates, few rows."""
    n = draw(st.integers(0, 12))
    cols = {c: draw(st.lists(ids, min_size=n, max_size=n)) for c in ("task", "worker", "label")}
    df = pd.DataFrame(cols)
    drop = draw(st.sets(st.sampled_from(["task", "worker", "label"]), max_size=1))
    return df.drop(columns=list(drop))


def good_answers(K=4, seed=0):
    return simulate_top_two(8, 30, K, 0.7, confusion=(0.7, 0.9), seed=seed).answers


OURS = (AnswersFormatError, DegenerateModelError, NotFittedError, DatasetNotFoundError, MissingColumnError)


def _assert_clear(exc: BaseException, mention: str | None = None):
    """Ours, or a builtin ValueError/TypeError raised by our own checks with a message naming the problem
    (and naming ``mention``, the argument at fault, when given)."""
    assert isinstance(exc, (ValueError, TypeError, KeyError)), f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    mod = type(exc).__module__
    assert mod in ("builtins", "crowd.exceptions"), f"dependency exception {mod}.{type(exc).__name__}: {exc}"
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    origin = tb.tb_frame.f_code.co_filename
    assert "/crowd/" in origin, f"raised from {origin}, not by our checks: {type(exc).__name__}: {exc}"
    assert len(str(exc)) > 20, f"terse message: {exc!r}"
    if mention is not None:
        assert mention in str(exc), f"message does not name {mention!r}: {exc}"


def _assert_valid_probas(p: pd.DataFrame):
    a = p.to_numpy(float)
    assert np.isfinite(a).all() and (a >= -1e-12).all()
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-9)


def _fit(est, df, *args, mention=None):
    try:
        return est.fit(df, *args)
    except Exception as e:  # noqa: BLE001 - what was raised is the point of the test
        _assert_clear(e, mention)
        return None


# ---------------------------------------------------------------- answers tables, every estimator
@FUZZ
@given(df=answer_tables())
def test_majority_vote_and_dawid_skene_on_any_table(df):
    for est in (MajorityVote(), DawidSkene(n_iter=5, tol=0)):
        fitted = _fit(est, df)
        if fitted is not None and len(fitted.probas_):
            _assert_valid_probas(fitted.probas_)


@FUZZ
@given(df=answer_tables())
def test_top_two_estimators_on_any_table(df):
    for est in (TopTwo(), BayesianTopTwo(num_samples=5, num_warmup=2, num_chains=1, random_state=0)):
        with np.errstate(all="ignore"):
            fitted = _fit(est, df)
        if fitted is not None:
            _assert_valid_probas(fitted.probas_)
    fitted = _fit(OracleTopTwo(), df, pd.Series(0.5, index=pd.Index(df.get("worker", pd.Series([])).dropna())),
                  pd.Series(0.7, index=pd.Index(df.get("task", pd.Series([])).dropna())))
    if fitted is not None:
        _assert_valid_probas(fitted.probas_)


def test_non_dataframes_and_missing_columns():
    for bad in (None, [1, 2], np.zeros((3, 3)), {"task": [0]}, "answers"):
        for est in (MajorityVote(), DawidSkene(), TopTwo(), OracleTopTwo(), BayesianTopTwo()):
            with pytest.raises(TypeError, match="DataFrame"):
                est.fit(bad) if not isinstance(est, OracleTopTwo) else est.fit(bad, {}, {})
    with pytest.raises(KeyError, match="missing column"):
        TopTwo().fit(good_answers().rename(columns={"label": "answer"}))


# ---------------------------------------------------------------- hyperparameters
def _huge_valid_count(name, value) -> bool:
    """A count that is valid but large (e.g. num_warmup=1e9, drawn by st.floats) runs for hours by design:
    not a bad input, so not drawn."""
    counts = ("num_samples", "num_warmup", "num_chains", "thin", "n_iter")
    return (name in counts and isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 1000 < value < 2**31)


@HYPER
@given(name=st.sampled_from(["num_samples", "num_warmup", "num_chains", "thin", "confidence_level",
                             "reliability_prior", "method", "init", "random_state"]), value=bad_scalars)
def test_bayesian_top_two_hyperparameters(name, value):
    assume(not _huge_valid_count(name, value))
    est = BayesianTopTwo(**{"num_samples": 5, "num_warmup": 2, "num_chains": 1, name: value})
    fitted = _fit(est, good_answers(), mention=name)
    if fitted is not None:
        _assert_valid_probas(fitted.probas_)
        assert np.isfinite(fitted.skills_.to_numpy()).all()


@HYPER
@given(name=st.sampled_from(["n_iter", "tol", "init", "duplicates", "initial_error_strategy", "labels"]),
       value=bad_scalars)
def test_dawid_skene_hyperparameters(name, value):
    assume(not _huge_valid_count(name, value))
    fitted = _fit(DawidSkene(**{name: value}), good_answers(), mention=name.rstrip("s"))
    if fitted is not None:
        _assert_valid_probas(fitted.probas_)


@HYPER
@given(name=st.sampled_from(["tie_break", "duplicates", "random_state", "on_missing_skill", "default_skill",
                             "labels"]), value=bad_scalars)
def test_majority_vote_hyperparameters(name, value):
    fitted = _fit(MajorityVote(**{name: value}), good_answers(), mention=name.rstrip("s"))
    if fitted is not None:
        _assert_valid_probas(fitted.probas_)


@FUZZ
@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=2), st.none()),
                       min_size=8, max_size=8))
def test_majority_vote_skills(values):
    skills = pd.Series(values, index=range(8), dtype=object)
    fitted = _fit(MajorityVote(), good_answers(), skills)
    if fitted is not None:
        _assert_valid_probas(fitted.probas_.loc[fitted.probas_.sum(axis=1) > 0])
        assert all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values)


@FUZZ
@given(scale=st.sampled_from([-1.0, 0.0, 0.5, np.nan, np.inf, 10.0]), strategy=st.sampled_from(["assign", "addition"]),
       drop=st.integers(0, 3))
def test_dawid_skene_initial_error(scale, strategy, drop):
    df = good_answers()
    base = DawidSkene(n_iter=0).fit(df).errors_
    ie = (base * scale).iloc[drop * 4:]
    fitted = _fit(DawidSkene(n_iter=3, tol=0, initial_error_strategy=strategy), df, None, ie)
    if fitted is not None:
        _assert_valid_probas(fitted.probas_)
        np.testing.assert_allclose(fitted.errors_.groupby(level="worker").sum().to_numpy(), 1.0, atol=1e-9)


@FUZZ
@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=2)),
                       min_size=2, max_size=2))
def test_oracle_parameters(values):
    df = good_answers()
    p = pd.Series(values[0], index=range(8), dtype=object)
    q = pd.Series(values[1], index=range(30), dtype=object)
    fitted = _fit(OracleTopTwo(), df, p, q)
    if fitted is not None:
        _assert_valid_probas(fitted.probas_)


# ---------------------------------------------------------------- simulate_top_two, TopTwoSample
@HYPER
@given(arg=st.sampled_from(["n_workers", "n_tasks", "n_labels", "observe_prob", "reliability", "confusion",
                            "skills", "confusions", "seed"]), value=bad_scalars)
def test_simulate_top_two_bad_arguments(arg, value):
    kwargs = dict(n_workers=4, n_tasks=5, n_labels=3, observe_prob=0.8, seed=0)
    kwargs[arg] = value
    try:
        out = simulate_top_two(**kwargs)
    except Exception as e:  # noqa: BLE001
        _assert_clear(e, arg.rstrip("s") if arg != "seed" else "seed")
        return
    assert isinstance(out, TopTwoSample)
    answers, truth, skills = out
    assert (truth["first"] != truth["second"]).all() and np.isfinite(skills.to_numpy()).all()
    assert answers.label.between(0, kwargs["n_labels"] - 1).all()


# ---------------------------------------------------------------- datasets
@FUZZ
@given(name=st.one_of(st.text(max_size=8), st.sampled_from(datasets.available()), st.integers(), st.none()),
       duplicates=st.one_of(st.sampled_from(["last", "first", "keep", "error"]), st.text(max_size=4)))
def test_datasets_load_bad_names_and_policies(name, duplicates, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    try:
        ds = datasets.load(name, empty, duplicates=duplicates)
    except Exception as e:  # noqa: BLE001
        _assert_clear(e) if not isinstance(e, DatasetNotFoundError) else None
        assert isinstance(e, (ValueError, DatasetNotFoundError, DuplicateAnswersError)), repr(e)
        return
    raise AssertionError(f"loaded {ds.name} from an empty directory")


def test_datasets_helpers_without_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("PROBINF_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="not redistributable.*PROBINF_DATA"):
        datasets.resolve_data_dir()
    with pytest.raises(DatasetNotFoundError, match="PROBINF_DATA"):
        datasets.load("bluebird")
    with pytest.raises(DatasetNotFoundError):
        datasets.resolve_data_dir(tmp_path)


# ---------------------------------------------------------------- fitted-state use, warnings, exceptions
def test_predict_before_fit_and_exception_hierarchy():
    for est in (MajorityVote(), DawidSkene(), TopTwo(), OracleTopTwo(), BayesianTopTwo()):
        with pytest.raises(NotFittedError, match="not fitted"):
            est.predict()
    assert issubclass(MissingColumnError, KeyError) and issubclass(MissingColumnError, AnswersFormatError)
    assert issubclass(DuplicateAnswersError, AnswersFormatError) and issubclass(AnswersFormatError, ValueError)
    assert issubclass(DegenerateModelError, ValueError) and issubclass(DatasetNotFoundError, FileNotFoundError)
    assert issubclass(CrowdWarning, UserWarning)
    assert issubclass(CrowdDeprecationWarning, CrowdWarning) and issubclass(CrowdDeprecationWarning, FutureWarning)
    # the former names warn at fit: tests/crowd/test_crowd_bayes.py::test_former_credible_level_warns_...
    with pytest.warns(CrowdWarning, match="did not reach"):
        DawidSkene(n_iter=1, tol=1e-12).fit(good_answers())


def test_every_export_is_fuzzed():
    """A new public name must be added to this file's fuzz targets."""
    covered = {"TopTwo", "BayesianTopTwo", "OracleTopTwo", "DawidSkene", "MajorityVote", "simulate_top_two",
               "TopTwoSample", "datasets", "AnswersFormatError", "CrowdWarning", "DatasetNotFoundError",
               "DegenerateModelError", "DuplicateAnswersError", "MissingColumnError", "NotFittedError",
               "CrowdDeprecationWarning"}
    assert set(crowd.__all__) == covered
    assert set(datasets.__all__) == {"CrowdDataset", "DATASETS", "load", "available", "resolve_data_dir"}
