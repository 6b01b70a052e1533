"""crowd-kit users' code runs with only the import changed (MajorityVote, DawidSkene).

Each ``*_usage(agg)`` function is crowd-kit-style user code written against a module ``agg``
(``crowdkit.aggregation`` or ``crowd``); the peer tests run it on both and compare. The
non-peer tests pin the same behaviour without crowd-kit installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import crowd
from crowd import DawidSkene, MajorityVote, MissingColumnError, simulate_top_two

ANSWERS = simulate_top_two(12, 60, 4, 0.6, confusion=(0.7, 0.9), seed=3).answers


def mv_usage(agg, df):
    out = {"plain": agg.MajorityVote().fit_predict_proba(df)}
    skills = pd.Series(np.linspace(0.2, 1.0, df.worker.nunique()), index=sorted(df.worker.unique()))
    out["skills"] = agg.MajorityVote().fit_predict_proba(df, skills)
    out["default"] = agg.MajorityVote(on_missing_skill="value", default_skill=0.5).fit_predict_proba(
        df, skills.iloc[: len(skills) // 2])
    try:
        agg.MajorityVote().fit_predict(df, skills.iloc[:3])  # on_missing_skill="error" is the default
        out["error"] = None
    except ValueError:
        out["error"] = "ValueError"
    return out


def ds_usage(agg, df):
    out = {"init": agg.DawidSkene(n_iter=0).fit(df)}
    init = out["init"].errors_
    out["addition"] = agg.DawidSkene(n_iter=0, initial_error_strategy="addition").fit(df, initial_error=init * 50)
    out["assign"] = agg.DawidSkene(n_iter=0, initial_error_strategy="assign").fit(df, initial_error=init)
    out["em"] = agg.DawidSkene(100).fit_predict(df)  # crowd-kit's docstring example
    empty = agg.DawidSkene().fit(df.iloc[:0])
    out["empty"] = (len(empty.probas_), len(empty.labels_))
    try:
        agg.DawidSkene().fit(df.drop(columns=["label"]))
        out["missing"] = None
    except KeyError:
        out["missing"] = "KeyError"
    return out


def _same_frame(ours, theirs, atol):
    theirs = theirs.reindex(index=ours.index, columns=ours.columns)
    np.testing.assert_allclose(ours.to_numpy(float), theirs.to_numpy(float), atol=atol)


@pytest.mark.peers
def test_majority_vote_usage_matches_crowd_kit():
    ck = pytest.importorskip("crowdkit.aggregation")
    ours, theirs = mv_usage(crowd, ANSWERS), mv_usage(ck, ANSWERS)
    assert ours["error"] == theirs["error"] == "ValueError"
    for k in ("plain", "skills", "default"):
        _same_frame(ours[k], theirs[k], 1e-12)


@pytest.mark.peers
@pytest.mark.filterwarnings("ignore::crowd.CrowdWarning")  # EM may stop on n_iter here: not under test
def test_dawid_skene_usage_matches_crowd_kit():
    ck = pytest.importorskip("crowdkit.aggregation")
    ours, theirs = ds_usage(crowd, ANSWERS), ds_usage(ck, ANSWERS)
    assert ours["missing"] == theirs["missing"] == "KeyError"
    assert ours["empty"] == theirs["empty"] == (0, 0)
    for k in ("init", "addition", "assign"):  # n_iter=0: the initial state, identical up to the 1e-10 floor
        _same_frame(ours[k].probas_, theirs[k].probas_, 1e-9)
        _same_frame(ours[k].errors_, theirs[k].errors_.reindex(ours[k].errors_.index).fillna(1e-10), 1e-8)
        np.testing.assert_allclose(ours[k].priors_.to_numpy(), theirs[k].priors_.reindex(ours[k].priors_.index),
                                   atol=1e-9)
    # EM itself: the stopping rules differ (see docs/crowd.md), the answers agree on nearly every task
    assert (ours["em"] == theirs["em"].reindex(ours["em"].index)).mean() >= 0.95


def test_skills_semantics_and_bad_skills():
    df = pd.DataFrame({"task": ["a", "a", "a", "b", "b"], "worker": [1, 2, 3, 1, 2],
                       "label": ["x", "x", "y", "y", "x"]})
    assert MajorityVote().fit_predict(df, pd.Series({1: 1.0, 2: 1.0, 3: 5.0}))["a"] == "y"
    with pytest.raises(ValueError, match="no value for 1 worker"):
        MajorityVote().fit(df, pd.Series({1: 1.0, 2: 1.0}))
    mv = MajorityVote(on_missing_skill="ignore").fit(df, pd.Series({1: 1.0, 2: 3.0}))
    assert mv.labels_.to_dict() == {"a": "x", "b": "x"} and np.isnan(mv.skills_[3])
    with pytest.raises(ValueError, match="leaves 1 task"):
        MajorityVote(on_missing_skill="ignore").fit(df, pd.Series({3: 1.0}))
    assert MajorityVote(on_missing_skill="value", default_skill=10.0).fit_predict(df, pd.Series({1: 1.0}))["a"] == "x"
    for bad in (-1.0, np.inf, np.nan, "high"):
        with pytest.raises(ValueError, match="skills must be finite non-negative"):
            MajorityVote().fit(df, pd.Series({1: bad, 2: 1.0, 3: 1.0}))
    with pytest.raises(ValueError, match="default_skill"):
        MajorityVote(default_skill=1.0).fit(df)
    with pytest.raises(ValueError, match="on_missing_skill"):
        MajorityVote(on_missing_skill="drop").fit(df)


def test_mixed_type_ids_are_refused():
    df = pd.DataFrame({"task": [0, 0, 1, 1], "worker": [0, 1, 0, 1], "label": [3, "3", 4, 5]})
    for est in (MajorityVote(), DawidSkene()):
        with pytest.raises(crowd.AnswersFormatError, match="mixes types"):
            est.fit(df)
    with pytest.raises(crowd.AnswersFormatError, match="column 'worker' mixes types"):
        MajorityVote().fit(df.assign(worker=[0, "0", 0, 1], label=[3, 3, 4, 5]))
    with pytest.raises(crowd.AnswersFormatError, match="labels"):
        MajorityVote(labels=[3, "3"]).fit(df.assign(label=3))


def test_missing_column_is_a_key_error_and_a_value_error():
    with pytest.raises(KeyError) as ki:
        DawidSkene().fit(ANSWERS.drop(columns=["worker"]))
    assert isinstance(ki.value, ValueError) and isinstance(ki.value, MissingColumnError)
    assert str(ki.value).startswith("data is missing column(s) ['worker']")  # no KeyError quoting


def test_n_iter_zero_is_the_initial_state_and_empty_data_gives_empty_results():
    ds = DawidSkene(n_iter=0).fit(ANSWERS)
    mv = MajorityVote().fit(ANSWERS)
    pd.testing.assert_frame_equal(ds.probas_, mv.probas_)
    assert ds.n_iter_ == 0 and ds.loss_history_ == []
    # one EM step from that state is what n_iter=1 does
    assert DawidSkene(n_iter=1, tol=0).fit(ANSWERS).n_iter_ == 1
    for est in (DawidSkene(), MajorityVote()):
        est.fit(ANSWERS.iloc[:0])
        assert est.probas_.shape[0] == 0 and est.labels_.shape == (0,)
    with pytest.raises(ValueError, match="n_iter"):
        DawidSkene(n_iter=-1).fit(ANSWERS)


def test_initial_error_strategies():
    base = DawidSkene(n_iter=0).fit(ANSWERS)
    # "assign" with the M-step's own probabilities is a fixed point of the initial M-step
    same = DawidSkene(n_iter=0, initial_error_strategy="assign").fit(ANSWERS, initial_error=base.errors_)
    pd.testing.assert_frame_equal(same.errors_, base.errors_)
    # "addition" of a huge diagonal prior makes every worker near-perfect
    K = 4
    eye = pd.DataFrame(np.tile(np.eye(K) * 1e6, (ANSWERS.worker.nunique(), 1)), index=base.errors_.index,
                       columns=base.errors_.columns)
    strong = DawidSkene(n_iter=0, initial_error_strategy="addition").fit(ANSWERS, initial_error=eye)
    assert (strong.skills_ > 0.99).all()
    with pytest.raises(ValueError, match="initial_error_strategy is None"):
        DawidSkene().fit(ANSWERS, initial_error=base.errors_)
    with pytest.raises(ValueError, match="every worker"):
        DawidSkene(initial_error_strategy="assign").fit(ANSWERS, initial_error=base.errors_.iloc[:K])
    with pytest.raises(ValueError, match="sum to 1"):
        DawidSkene(initial_error_strategy="assign").fit(ANSWERS, initial_error=base.errors_ * 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        DawidSkene(initial_error_strategy="addition").fit(ANSWERS, initial_error=-base.errors_)
    with pytest.raises(ValueError, match="initial_error_strategy must be"):
        DawidSkene(initial_error_strategy="replace").fit(ANSWERS)


def test_fitted_results_share_no_index_objects():
    ds = DawidSkene(n_iter=3, tol=0).fit(ANSWERS)
    idx = [ds.probas_.columns, ds.errors_.columns, ds.priors_.index]
    assert len({id(i) for i in idx}) == 3
    ds.probas_.columns.name = "renamed"
    assert ds.errors_.columns.name == "label" and ds.priors_.index.name == "label"
    assert ds.probas_.index is not ds.labels_.index
    mv = MajorityVote().fit(ANSWERS)
    assert mv.probas_.index is not mv.labels_.index
