"""BayesianTopTwo: exact quadrature reference, simulation-based calibration, API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.integrate import quad

from crowd import BayesianTopTwo, DegenerateModelError, simulate_top_two
from crowd._gibbs import GibbsState, run_gibbs


def _exact_pair_posterior(y, K):
    """P(ordered pair) and E[q] for one task, p_i ~ U(0,1) integrated out in closed form.

    For one task P(y_i | p_i, pair, q) = p_i t_i + (1 - p_i)/K with t_i in {q, 1-q, 0}, so
    integrating p_i ~ U(0, 1) gives (t_i + 1/K)/2; the remaining 1-D integral over
    q ~ U(1/2, 1) is done by adaptive quadrature (error ~1e-10).
    """
    def lik(q, a, b):
        return np.prod([((q if yi == a else (1 - q) if yi == b else 0.0) + 1.0 / K) / 2 for yi in y])

    P = np.zeros((K, K))
    Eq = 0.0
    for a in range(K):
        for b in range(K):
            if a != b:
                P[a, b] = quad(lik, 0.5, 1, args=(a, b))[0]
                Eq += quad(lambda q, a=a, b=b: q * lik(q, a, b), 0.5, 1)[0]
    Z = P.sum()
    return P / Z, Eq / Z


def test_gibbs_matches_exact_posterior():
    K, y = 3, np.array([0, 0, 1, 2, 0, 1])
    n = len(y)
    P_exact, Eq_exact = _exact_pair_posterior(y, K)
    C, S = 8, 2000
    init = GibbsState(np.full((C, n), 0.5), np.full((C, 1), 0.7), np.zeros((C, 1), int), np.ones((C, 1), int))
    dr = run_gibbs(np.random.default_rng(0), init, np.arange(n), np.zeros(n, int), y, n=n, m=1, K=K,
                   num_warmup=100, num_samples=S)
    P_chain = dr.pair_probs[:, 0]  # (C, K, K) per-chain Rao-Blackwell estimates
    P_hat, se = P_chain.mean(0), P_chain.std(0, ddof=1) / np.sqrt(C)
    # between-chain standard error (chains independent); 5 SE + 2e-3 floor for the diagonal zeros
    assert np.all(np.abs(P_hat - P_exact) <= 5 * se + 2e-3), (P_hat, P_exact)
    q_chain = dr.q[:, :, 0].mean(axis=1)
    assert abs(q_chain.mean() - Eq_exact) <= 5 * q_chain.std(ddof=1) / np.sqrt(C) + 1e-3
    # negative control: the exact answer for different data is far outside the tolerance
    P_wrong, _ = _exact_pair_posterior(np.array([1, 1, 0, 2, 1, 0]), K)
    assert np.any(np.abs(P_hat - P_wrong) > 5 * se + 2e-3)


def _sbc(a_fit, b_fit, R=400, n=6, m=4, K=3, L=49, thin=10, seed=0):
    """SBC ranks of p_0 and q_0 over R replicates, stacked as one disjoint problem.

    Data from the prior p ~ U(0,1), q ~ U(1/2,1), pairs uniform; the sampler uses a
    Beta(a_fit, b_fit) prior for p (a_fit = b_fit = 1 is correct).
    """
    rng = np.random.default_rng(seed)
    W, T, Y, p_true, q_true, pair_true = [], [], [], [], [], []
    for r in range(R):
        s = simulate_top_two(n, m, K, 1.0, skills=rng.uniform(0, 1, n), confusions=rng.uniform(0.5, 1, m),
                             seed=rng.integers(2**32))
        a = s.answers
        W.append(a.worker.to_numpy() + r * n)
        T.append(a.task.to_numpy() + r * m)
        Y.append(a.label.to_numpy())
        p_true.append(s.skills.to_numpy()[0])
        q_true.append(s.truth.confusion.to_numpy()[0])
        pair_true.append((s.truth["first"].iloc[0], s.truth["second"].iloc[0]))
    W, T, Y = np.concatenate(W), np.concatenate(T), np.concatenate(Y)
    init = GibbsState(rng.uniform(0, 1, (1, R * n)), rng.uniform(0.5, 1, (1, R * m)),
                      np.zeros((1, R * m), int), np.ones((1, R * m), int))
    dr = run_gibbs(rng, init, W, T, Y, n=R * n, m=R * m, K=K, a_p=a_fit, b_p=b_fit, num_warmup=100,
                   num_samples=L, thin=thin)
    p_draws = dr.p[0][:, ::n]  # (L, R): worker 0 of each replicate
    q_draws = dr.q[0][:, ::m]
    rank_p = (p_draws < np.array(p_true)[None]).sum(0)
    rank_q = (q_draws < np.array(q_true)[None]).sum(0)
    P = dr.pair_probs[0][::m]  # (R, K, K) task 0 of each replicate
    pi_true = np.array([P[r][pt] for r, pt in enumerate(pair_true)])
    return rank_p, rank_q, pi_true, (P ** 2).sum(axis=(1, 2))


def _chi2_uniform(ranks, L, bins=10):
    counts = np.bincount(ranks * bins // (L + 1), minlength=bins)
    return stats.chisquare(counts).pvalue


@pytest.mark.slow
def test_sbc_calibrated_and_negative_control():
    L = 49
    rank_p, rank_q, pi_true, pi_sq = _sbc(1.0, 1.0, L=L)
    # ranks of independent replicates are uniform on 0..L iff calibrated; chi-square on 10 bins,
    # Bonferroni over the 2 statistics at family level 2e-3
    assert _chi2_uniform(rank_p, L) > 1e-3
    assert _chi2_uniform(rank_q, L) > 1e-3
    # discrete pair: calibration implies E[pi(true pair)] = E[sum_pairs pi^2]; 4 standard errors
    d = pi_true - pi_sq
    assert abs(d.mean()) <= 4 * d.std(ddof=1) / np.sqrt(len(d))
    # negative control: a sampler with the wrong reliability prior Beta(4, 1) must fail SBC
    rank_bad, _, _, _ = _sbc(4.0, 1.0, L=L)
    assert _chi2_uniform(rank_bad, L) < 1e-3


def _small(seed=0, K=4):
    return simulate_top_two(10, 30, K, 0.8, seed=seed)


def test_api_outputs_and_seed():
    ans, truth, skills = _small()
    est = BayesianTopTwo(num_samples=60, num_warmup=30, num_chains=2, random_state=3)
    est.fit(ans)
    assert list(est.top_two_.columns) == ["first", "second", "pair_prob", "confusion", "confusion_low",
                                          "confusion_high"]
    tt = est.top_two_
    assert (tt["first"] != tt["second"]).all()
    assert ((tt.confusion_low >= 0.5) & (tt.confusion_low <= tt.confusion) & (tt.confusion <= tt.confusion_high)
            & (tt.confusion_high <= 1)).all()
    np.testing.assert_allclose(est.probas_.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(est.pair_proba_array_.sum(axis=(1, 2)), 1.0, atol=1e-9)
    assert est.idata_.posterior["p"].shape == (2, 60, 10)
    assert ((est.skills_interval_.low <= est.skills_) & (est.skills_ <= est.skills_interval_.high)).all()
    again = BayesianTopTwo(num_samples=60, num_warmup=30, num_chains=2, random_state=3).fit(ans)
    pd.testing.assert_frame_equal(est.top_two_, again.top_two_)
    # pair_probas_ sorted per task, probabilities of the listed candidates <= 1
    assert est.pair_probas_.groupby("task")["prob"].sum().le(1 + 1e-9).all()


def test_prior_init_and_bad_input():
    ans, _, _ = _small(K=3)
    BayesianTopTwo(num_samples=10, num_warmup=5, init="prior", random_state=0).fit(ans)
    with pytest.raises(ValueError, match="num_samples"):
        BayesianTopTwo(num_samples=0).fit(ans)
    with pytest.raises(ValueError, match="reliability_prior"):
        BayesianTopTwo(reliability_prior=(0, 1)).fit(ans)
    with pytest.raises(ValueError, match="init"):
        BayesianTopTwo(init="mv").fit(ans)
    two = ans.assign(label=ans.label % 2)
    with pytest.raises(DegenerateModelError, match="K >= 3"):
        BayesianTopTwo().fit(two)


@pytest.mark.slow
def test_smc_backend_matches_exact_posterior_and_evidence():
    """method="smc" (probinf.tempered_smc, pairs summed out) against the exact reference.

    One run, N = 2000 particles. Tolerances: 0.03 on the Rao-Blackwellised pair probabilities and
    0.02 on E[q], about 3 Monte Carlo sd for an ESS of a few hundred: the per-particle conditional
    probabilities have sd < 0.25 and q has sd < 0.15. On log Z the tolerance is 0.15; the observed
    sd of adaptive tempered SMC on this 7-parameter problem is below 0.05. The exact evidence
    integrates p in closed form and q by quadrature.
    """
    K, y = 3, np.array([0, 0, 1, 2, 0, 1])
    df = pd.DataFrame({"task": 0, "worker": np.arange(len(y)), "label": y})
    est = BayesianTopTwo(method="smc", num_samples=2000, labels=range(K), random_state=0).fit(df)
    P_exact, Eq_exact = _exact_pair_posterior(y, K)
    assert np.abs(est.pair_proba_array_[0] - P_exact).max() < 0.03
    assert abs(est.top_two_.confusion.iloc[0] - Eq_exact) < 0.02

    def lik(q, a, b):
        return np.prod([((q if yi == a else (1 - q) if yi == b else 0.0) + 1.0 / K) / 2 for yi in y])

    Z = sum(2 * quad(lik, 0.5, 1, args=(a, b))[0] for a in range(K) for b in range(K) if a != b) / (K * (K - 1))
    assert abs(est.log_evidence_ - np.log(Z)) < 0.15
    # negative control: the exact posterior of different data is far outside the tolerance
    P_wrong, _ = _exact_pair_posterior(np.array([1, 1, 0, 2, 1, 0]), K)
    assert np.abs(est.pair_proba_array_[0] - P_wrong).max() > 0.1


def test_former_credible_level_warns_and_gives_the_same_fit():
    """``credible_level`` is the former name of ``confidence_level`` (docs/conventions.md): one more release."""
    from crowd import CrowdDeprecationWarning, CrowdWarning

    assert issubclass(CrowdDeprecationWarning, CrowdWarning) and issubclass(CrowdDeprecationWarning, FutureWarning)
    ans, _, _ = _small()
    kw = dict(num_samples=20, num_warmup=10, num_chains=1, random_state=1)
    new = BayesianTopTwo(confidence_level=0.6, **kw).fit(ans)
    with pytest.warns(CrowdDeprecationWarning, match="credible_level was renamed to confidence_level"):
        old = BayesianTopTwo(credible_level=0.6, **kw).fit(ans)
    pd.testing.assert_frame_equal(old.top_two_, new.top_two_)
    pd.testing.assert_frame_equal(old.skills_interval_, new.skills_interval_)
    wider = BayesianTopTwo(confidence_level=0.95, **kw).fit(ans)  # the level reaches the intervals
    assert (wider.skills_interval_.high - wider.skills_interval_.low > new.skills_interval_.high
            - new.skills_interval_.low).all()
    with pytest.raises(TypeError, match="both given"):
        BayesianTopTwo(confidence_level=0.8, credible_level=0.6, **kw).fit(ans)
    with pytest.raises(ValueError, match="credible_level"):  # a bad old value is named as given, before any warning
        BayesianTopTwo(credible_level=1.5, **kw).fit(ans)
    with pytest.raises(ValueError, match="confidence_level"):
        BayesianTopTwo(confidence_level=0.0, **kw).fit(ans)


def _fits(method, random_state, ans, **kw):
    return BayesianTopTwo(method=method, random_state=random_state, **kw).fit(ans).skills_.to_numpy()


def test_random_state_gibbs_none_is_fresh_and_generator_is_consumed():
    ans, _, _ = _small(K=3)
    kw = dict(num_samples=10, num_warmup=5, num_chains=1, init="prior")
    assert not np.array_equal(_fits("gibbs", None, ans, **kw), _fits("gibbs", None, ans, **kw))
    np.testing.assert_array_equal(_fits("gibbs", 7, ans, **kw), _fits("gibbs", np.random.default_rng(7), ans, **kw))
    with pytest.raises(TypeError, match="random_state must be None, a non-negative int seed"):
        BayesianTopTwo(random_state=-1).fit(ans)


def test_random_state_has_the_same_meaning_on_the_smc_path(monkeypatch):
    """method="smc" draws its JAX key from the fit's one Generator: None is fresh entropy (it was seed 0 there), an
    int or a Generator in the same state give the same key.  The key is caught on its way to the sampler (the
    sampler's own determinism given a key is tested with it)."""
    import jax

    import crowd.bayes

    class Caught(Exception):
        pass

    keys = []

    def spy(rng):
        keys.append(np.asarray(jax.random.key_data(real(rng))))
        raise Caught

    real = crowd.bayes.key_from_generator
    monkeypatch.setattr(crowd.bayes, "key_from_generator", spy)
    ans = simulate_top_two(6, 8, 3, 0.8, seed=0).answers
    for rs in (None, None, 3, np.random.default_rng(3)):
        with pytest.raises(Caught):
            BayesianTopTwo(method="smc", num_samples=8, random_state=rs).fit(ans)
    assert not np.array_equal(keys[0], keys[1])
    np.testing.assert_array_equal(keys[2], keys[3])
