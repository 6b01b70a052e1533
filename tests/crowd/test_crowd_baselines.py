"""MajorityVote, DawidSkene, simulate_top_two: exact toy values, EM properties, simulator frequencies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from crowd import DawidSkene, MajorityVote, simulate_top_two

TOY = pd.DataFrame({"task": ["a", "a", "a", "b", "b", "c"], "worker": [1, 2, 3, 1, 2, 3],
                    "label": ["x", "x", "y", "y", "x", "z"]})


def test_majority_vote_exact_and_ties():
    mv = MajorityVote().fit(TOY)
    assert mv.labels_.to_dict() == {"a": "x", "b": "x", "c": "z"}  # b tied: first label "x" wins
    np.testing.assert_allclose(mv.probas_.loc["a"].to_numpy(), [2 / 3, 1 / 3, 0])
    assert mv.skills_.to_dict() == {1: 0.5, 2: 1.0, 3: 0.5}
    # random tie-breaking: both tied labels occur, each about half the time, reproducibly
    wins = [MajorityVote(tie_break="random", random_state=s).fit_predict(TOY)["b"] for s in range(200)]
    k = sum(w == "x" for w in wins)
    assert stats.binomtest(k, 200, 0.5).pvalue > 1e-3
    assert [MajorityVote(tie_break="random", random_state=5).fit_predict(TOY)["b"] for _ in range(3)].count(
        wins[5]) == 3
    # skills (vote weights)
    w = MajorityVote().fit_predict(TOY, skills=pd.Series({1: 3.0, 2: 1.0, 3: 1.0}))
    assert w["b"] == "y"
    with pytest.raises(ValueError, match="tie_break"):
        MajorityVote(tie_break="last").fit(TOY)


def test_dawid_skene_recovers_confusions_and_elbo_monotone():
    """Class-conditional workers with known confusion matrices; EM recovers them (n=20, m=1500)."""
    rng = np.random.default_rng(0)
    K, n, m = 3, 20, 1500
    truth = rng.integers(0, K, m)
    pi = np.stack([np.full((K, K), (1 - acc) / (K - 1)) + np.eye(K) * (acc - (1 - acc) / (K - 1))
                   for acc in rng.uniform(0.5, 0.9, n)])
    rows = [(j, i, rng.choice(K, p=pi[i, truth[j]])) for j in range(m) for i in range(n) if rng.random() < 0.3]
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    ds = DawidSkene().fit(df)
    # oracle: Bayes rule with the true confusion matrices and uniform prior
    logpost = np.zeros((m, K))
    np.add.at(logpost, df.task.to_numpy(), np.log(pi[df.worker.to_numpy(), :, df.label.to_numpy()]))
    oracle_acc = (logpost.argmax(1) == truth).mean()
    acc = (ds.labels_.reindex(range(m)).to_numpy() == truth).mean()
    assert acc >= oracle_acc - 0.015, (acc, oracle_acc)  # paired gap; SE of the gap ~0.004
    diag = np.array([ds.errors_.xs(i, level="worker").to_numpy().diagonal() for i in range(n)])
    true_diag = pi[:, np.arange(K), np.arange(K)]
    # each diagonal entry estimated from ~150 answers: sd <= 0.04; max over 60 entries < 0.15
    assert np.abs(diag - true_diag).max() < 0.15
    h = np.array(ds.loss_history_)
    assert np.all(np.diff(h) >= -1e-9)  # EM never decreases the ELBO
    np.testing.assert_allclose(ds.errors_.groupby(level="worker").sum().to_numpy(), 1.0, atol=1e-9)


def test_dawid_skene_gold_and_spectral_init():
    a, tr, _ = simulate_top_two(20, 200, 4, 0.5, confusion=(0.9, 1.0), seed=2)
    gold = tr["first"].iloc[:50]
    ds = DawidSkene(labels=range(4)).fit(a, true_labels=gold)
    assert (ds.labels_.loc[gold.index] == gold).all()
    np.testing.assert_allclose(ds.probas_.loc[gold.index].max(axis=1), 1.0)
    sp = DawidSkene(labels=range(4), init="spectral").fit(a)
    assert (sp.labels_.reindex(tr.index) == tr["first"]).mean() > 0.9
    with pytest.raises(ValueError, match="init"):
        DawidSkene(init="random").fit(a)
    with pytest.raises(ValueError, match="true_labels has labels outside"):
        DawidSkene(labels=range(4)).fit(a, true_labels=pd.Series({0: 7}))


@settings(max_examples=15)
@given(st.integers(0, 1000), st.permutations(range(4)))
def test_dawid_skene_label_permutation_equivariance(seed, perm):
    a, _, _ = simulate_top_two(6, 12, 4, 0.8, seed=seed)
    b = a.assign(label=a.label.map(lambda k: perm[k]))
    p1 = DawidSkene(labels=range(4), n_iter=30, tol=0).fit(a).probas_
    p2 = DawidSkene(labels=range(4), n_iter=30, tol=0).fit(b).probas_
    np.testing.assert_allclose(p1.to_numpy()[:, np.argsort(perm)], p2.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(p2.sum(axis=1), 1.0, atol=1e-9)


def test_dawid_skene_iteration_cap_warns():
    a, _, _ = simulate_top_two(6, 12, 4, 0.8, seed=0)
    from crowd import CrowdWarning

    with pytest.warns(CrowdWarning, match="did not reach"):
        DawidSkene(n_iter=1, tol=1e-12).fit(a)


def test_simulator_frequencies():
    """Answer frequencies match the model's probabilities (chi-square, one worker/task pair type)."""
    K, p, q = 4, 0.6, 0.7
    s = simulate_top_two(200, 500, K, 1.0, skills=np.full(200, p), confusions=np.full(500, q), seed=0)
    a = s.answers.join(s.truth, on="task")
    cat = np.where(a.label == a["first"], 0, np.where(a.label == a["second"], 1, 2))
    obs = np.bincount(cat, minlength=3)
    exp = np.array([p * q + (1 - p) / K, p * (1 - q) + (1 - p) / K, (K - 2) * (1 - p) / K]) * len(a)
    assert stats.chisquare(obs, exp).pvalue > 1e-3
    assert (s.truth["first"] != s.truth["second"]).all()
    # observe_prob: number of answers ~ Binomial(n m, s)
    s2 = simulate_top_two(50, 400, 5, 0.3, seed=1)
    assert abs(len(s2.answers) - 0.3 * 20000) < 4 * np.sqrt(20000 * 0.3 * 0.7)
    assert not s2.answers.duplicated(["task", "worker"]).any()
    pd.testing.assert_frame_equal(s2.answers, simulate_top_two(50, 400, 5, 0.3, seed=1).answers)
    for bad in (dict(observe_prob=0.0), dict(n_labels=1), dict(reliability=(0.5, 1.2))):
        kw = dict(n_workers=3, n_tasks=3, n_labels=3, observe_prob=1.0) | bad
        with pytest.raises(ValueError):
            simulate_top_two(**kw)


def test_majority_vote_random_ties_follow_random_state():
    """tie_break="random": None is fresh entropy, an int or a Generator in the same state give the same labels."""
    df = pd.DataFrame({"task": np.repeat(np.arange(40), 2), "worker": np.tile([0, 1], 40),
                       "label": np.tile(["a", "b"], 40)})
    draws = [MajorityVote(tie_break="random", random_state=None).fit(df).labels_.tolist() for _ in range(2)]
    assert draws[0] != draws[1]  # 40 fair ties: equal by chance with probability 2**-40
    same = [MajorityVote(tie_break="random", random_state=rs).fit(df).labels_.tolist()
            for rs in (5, np.random.default_rng(5))]
    assert same[0] == same[1]
