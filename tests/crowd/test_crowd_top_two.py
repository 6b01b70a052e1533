"""TopTwo and OracleTopTwo: paper-default validation against the oracle, exactness, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from crowd import DegenerateModelError, MajorityVote, OracleTopTwo, TopTwo, simulate_top_two
from crowd._answers import encode
from crowd.top_two import best_pairs, pair_scores, skills_from_pairs, spectral_stage

K5 = list(range(5))


def _errors(a, tr, sk, skills_override=None):
    tt = TopTwo(labels=K5).fit(a)
    o = OracleTopTwo(labels=K5).fit(a, sk, tr.confusion)
    tp, op = tt.top_two_.reindex(tr.index), o.top_two_.reindex(tr.index)
    eg = (tp["first"] != tr["first"]).to_numpy(float)
    eh = (tp["second"] != tr["second"]).to_numpy(float)
    og = (op["first"] != tr["first"]).to_numpy(float)
    oh = (op["second"] != tr["second"]).to_numpy(float)
    return tt, eg, eh, og, oh


@pytest.mark.slow
def test_paper_defaults_near_oracle_and_improving_with_s():
    """n=50, m=500, K=5, p~U[.001,.999], q~U[.501,.599]; 3 repetitions per s.

    Bound: mean(TopTwo error - oracle error) <= 0.01 + 3 SE, SE the paired standard
    error over the 1,500 tasks (the paper's "within about one point").
    """
    err_g = {}
    for s in (0.2, 0.5, 1.0):
        dg, dh, eg_all, corr = [], [], [], []
        for rep in range(3):
            a, tr, sk = simulate_top_two(50, 500, 5, s, seed=100 * rep + int(10 * s))
            tt, eg, eh, og, oh = _errors(a, tr, sk)
            dg.append(eg - og)
            dh.append(eh - oh)
            eg_all.append(eg)
            corr.append(np.corrcoef(tt.skills_.reindex(sk.index), sk)[0, 1])
        for d in (np.concatenate(dg), np.concatenate(dh)):
            assert d.mean() <= 0.01 + 3 * d.std(ddof=1) / np.sqrt(len(d)), (s, d.mean())
        assert min(corr) > 0.85, (s, corr)
        err_g[s] = np.concatenate(eg_all)
    # error falls as s grows: s=0.2 vs s=1.0 differ by > 3 SE (independent samples)
    diff = err_g[0.2].mean() - err_g[1.0].mean()
    se = np.sqrt(err_g[0.2].var() / 1500 + err_g[1.0].var() / 1500)
    assert diff > 3 * se


def test_beats_majority_vote_and_negative_control():
    """At s=0.2 (m=2000) TopTwo beats MV on g by > 2 paired SE.

    A broken plug-in (reliabilities shuffled across workers) does not.
    """
    a, tr, sk = simulate_top_two(50, 2000, 5, 0.2, seed=7)
    tt, eg, eh, og, oh = _errors(a, tr, sk)
    mv = (MajorityVote(labels=K5, tie_break="random", random_state=0).fit_predict(a).reindex(tr.index)
          != tr["first"]).to_numpy(float)
    d = mv - eg
    assert d.mean() > 2 * d.std(ddof=1) / np.sqrt(len(d))
    enc = encode(a, K5)
    st1 = spectral_stage(enc)
    bad = np.random.default_rng(0).permutation(st1.skills)
    fb, sb, _ = best_pairs(pair_scores(enc, bad, st1.confusion))
    eb = (enc.labels[fb][np.argsort(enc.tasks)] != tr["first"].to_numpy()).astype(float)
    d = eb - og
    assert d.mean() > 0.01 + 3 * d.std(ddof=1) / np.sqrt(len(d))  # the gap bound above rejects it


def test_noiseless_recovery_and_confusion():
    """Reliable workers (p=0.95), q=0.75: pairs recovered exactly, q close to truth."""
    a, tr, sk = simulate_top_two(60, 200, 4, 1.0, skills=np.full(60, 0.95), confusions=np.full(200, 0.75), seed=1)
    tt = TopTwo(labels=range(4)).fit(a)
    top = tt.top_two_.reindex(tr.index)
    assert (top["first"] == tr["first"]).mean() > 0.97
    assert (top["second"] == tr["second"]).mean() > 0.97
    # q-hat MLE from 60 answers: sd ~ sqrt(q(1-q)/ (60*0.95)) ~ 0.06; mean over 200 tasks within 0.02
    assert abs(top["confusion"].mean() - 0.75) < 0.02
    assert np.abs(tt.skills_ - 0.95).max() < 0.1


def test_skill_moment_estimate_is_unbiased_given_the_true_pairs():
    """Given the true pairs, a worker's answer falls in {g, h} with probability s = p + (1 - p) 2/K, so
    (share - 2/K) / (1 - 2/K) is unbiased for p.  Every worker answers m = 2000 tasks, so its estimate has
    sd sqrt(s (1 - s) / m) / (1 - 2/K) (<= 0.019 at K = 5); max |z| over 30 workers, two-sided,
    false-failure rate 1e-6 (Bonferroni).  The single-label chance rate 1/K would be off by ~0.2 at p = 0.2."""
    K, m = 5, 2000
    p = np.repeat([0.2, 0.5, 0.8], 10)
    a, tr, _ = simulate_top_two(len(p), m, K, 1.0, skills=p, seed=11)
    enc = encode(a, K5)
    first = tr["first"].reindex(enc.tasks).to_numpy()  # labels 0..K-1 are their own codes
    second = tr["second"].reindex(enc.tasks).to_numpy()
    p_hat = skills_from_pairs(enc, first, second)
    p_w = p[enc.workers.to_numpy()]
    s_w = p_w + (1 - p_w) * 2 / K
    z = (p_hat - p_w) / (np.sqrt(s_w * (1 - s_w) / m) / (1 - 2 / K))
    assert np.abs(z).max() < stats.norm.isf(1e-6 / (2 * len(p))), z


def test_oracle_is_exact_argmax():
    """OracleTopTwo's pair is the brute-force argmax of the exact log-likelihood."""
    a, tr, sk = simulate_top_two(7, 5, 3, 1.0, seed=3)
    o = OracleTopTwo(labels=range(3)).fit(a, sk, tr.confusion)
    for j in range(5):
        sub = a[a.task == j]
        best, arg = -np.inf, None
        for g in range(3):
            for h in range(3):
                if g == h:
                    continue
                p, q = sk.to_numpy()[sub.worker], tr.confusion[j]
                prob = np.where(sub.label == g, p * q + (1 - p) / 3,
                                np.where(sub.label == h, p * (1 - q) + (1 - p) / 3, (1 - p) / 3))
                ll = np.log(prob).sum()
                if ll > best:
                    best, arg = ll, (g, h)
        assert tuple(o.top_two_.loc[j, ["first", "second"]]) == arg


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 10_000))
    K = draw(st.integers(3, 6))
    # big enough that the leading eigenvalue of each Gram matrix is simple (with a handful of
    # answers the singular vector is not unique and no invariance can hold)
    a, tr, sk = simulate_top_two(draw(st.integers(8, 15)), draw(st.integers(5, 15)), K,
                                 draw(st.sampled_from([0.7, 1.0])), seed=seed)
    return a, K, seed


@given(problems())
def test_worker_and_task_relabelling_invariance(prob):
    a, K, seed = prob
    rng = np.random.default_rng(seed)
    wmap = {w: f"w{v}" for w, v in zip(sorted(a.worker.unique()), rng.permutation(a.worker.nunique()), strict=True)}
    tmap = {t: f"t{v}" for t, v in zip(sorted(a.task.unique()), rng.permutation(a.task.nunique()), strict=True)}
    b = a.assign(worker=a.worker.map(wmap), task=a.task.map(tmap)).sample(frac=1.0, random_state=seed)
    r1 = TopTwo(labels=range(K)).fit(a)
    r2 = TopTwo(labels=range(K)).fit(b)
    np.testing.assert_allclose(r1.skills_.rename(index=wmap).sort_index(), r2.skills_.sort_index(), atol=1e-6)
    # pairs agree wherever the best pair is unique (exact ties, e.g. two workers with equal p-hat
    # answering different labels, are broken by floating-point summation order)
    S = pair_scores(encode(a, range(K)), r1.skills_.to_numpy(), r1.spectral_.confusion)
    top2 = np.sort(S.reshape(len(S), -1), axis=1)[:, -2:]
    unique = pd.Series(top2[:, 1] - top2[:, 0] > 1e-8, index=r1.top_two_.index).rename(index=tmap)
    t1 = r1.top_two_.rename(index=tmap).sort_index()[unique.sort_index()]
    t2 = r2.top_two_.sort_index()[unique.sort_index()]
    pd.testing.assert_frame_equal(t1, t2, check_exact=False, atol=1e-6, check_names=False)


@given(problems())
def test_label_reversal_equivariance_and_probas(prob):
    """The ordinal binarisation is symmetric under reversing the label order: the stage-1 label
    scores mu are reversed exactly (final pairs may differ only through ties); probabilities sum to 1."""
    a, K, seed = prob
    names = [f"L{k}" for k in range(K)]
    b = a.assign(label=a.label.map(lambda k: names[K - 1 - k]))
    r1 = TopTwo(labels=range(K)).fit(a)
    r2 = TopTwo(labels=names).fit(b)
    np.testing.assert_allclose(r1.spectral_.mu[:, ::-1], r2.spectral_.mu, atol=1e-8)
    for r in (r1, r2):
        np.testing.assert_allclose(r.probas_.sum(axis=1), 1.0, atol=1e-9)
        assert ((r.top_two_.confusion >= 0.5) & (r.top_two_.confusion <= 1)).all()
        assert (r.top_two_["first"] != r.top_two_["second"]).all()
        assert ((r.skills_ >= 0) & (r.skills_ <= 1)).all()


@given(problems(), st.permutations(range(6)))
def test_oracle_label_permutation_equivariance(prob, perm):
    a, K, seed = prob
    sk = pd.Series(np.random.default_rng(seed).uniform(0.1, 0.9, a.worker.nunique()), index=sorted(a.worker.unique()))
    q = pd.Series(0.7, index=sorted(a.task.unique()))
    perm = [p for p in perm if p < K]
    b = a.assign(label=a.label.map(lambda k: perm[k]))
    o1 = OracleTopTwo(labels=range(K)).fit(a, sk, q)
    o2 = OracleTopTwo(labels=range(K)).fit(b, sk, q)
    P1 = o1.probas_.to_numpy()
    np.testing.assert_allclose(P1[:, np.argsort(perm)], o2.probas_.to_numpy(), atol=1e-9)


def test_bad_input():
    a, tr, sk = simulate_top_two(5, 6, 4, 1.0, seed=0)
    with pytest.raises(DegenerateModelError, match="K >= 3"):
        TopTwo().fit(a.assign(label=a.label % 2))
    with pytest.raises(ValueError, match="outside the declared set"):
        TopTwo(labels=[0, 1, 2]).fit(a.assign(label=a.label.where(a.label < 3, 9)))
    with pytest.raises(ValueError, match="missing column"):
        TopTwo().fit(a.drop(columns="worker"))
    with pytest.raises(ValueError, match="empty"):
        TopTwo().fit(a.iloc[:0])
    with pytest.raises(ValueError, match="repeat a \\(task, worker\\) pair"):
        TopTwo().fit(pd.concat([a, a.iloc[:2]]))
    TopTwo(duplicates="last").fit(pd.concat([a, a.iloc[:2]]))
    with pytest.raises(TypeError, match="DataFrame"):
        TopTwo().fit(a.to_numpy())
    with pytest.raises(ValueError, match="missing values"):
        TopTwo().fit(a.assign(label=a.label.astype(float).where(a.index > 0)))
    with pytest.raises(ValueError, match="skills must give a number p"):
        OracleTopTwo().fit(a, sk.iloc[:-1], tr.confusion)
    with pytest.raises(AttributeError, match="not fitted"):
        TopTwo().predict()
