"""Tests of probinf/validate: the exact enumeration harness and the statistical checks."""

import numpy as np
import pytest

from probinf.resampling import RESAMPLING_FROM_UNIFORMS
from probinf.validate import (
    check_evidence_unbiased,
    check_filtering_means,
    enumerate_particle_filter,
    exact_hmm_posterior,
    resampling_breakpoints,
)

P0 = [0.3, 0.7]
P = [[0.9, 0.1], [0.2, 0.8]]
LL = np.log([[0.8, 0.3], [0.1, 0.7], [0.5, 0.9]])
METHODS = sorted(RESAMPLING_FROM_UNIFORMS)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("threshold", [0.5, 1.0])
def test_particle_filter_collapses_to_exact_posterior(method, threshold):
    """E[Z_hat_t] = Z_t and E[Z_hat_t sum_i W_i 1{X_i = k}] = Z_t p(X_t = k | y) exactly (N = 2)."""
    res = enumerate_particle_filter(P0, P, LL, 2, method=method, ess_threshold=threshold)
    np.testing.assert_allclose(res.total_probability, 1.0, atol=1e-12)
    assert res.max_evidence_rel_error < 1e-12
    assert res.max_filtering_error < 1e-12


def test_guided_proposal_n3():
    """A guided proposal (q != f) with N = 3 and ESS-triggered systematic resampling."""
    q0 = [0.5, 0.5]
    Q = [[0.6, 0.4], [0.5, 0.5]]
    res = enumerate_particle_filter(P0, P, LL[:2], 3, proposal=(q0, Q), ess_threshold=0.7)
    assert res.max_evidence_rel_error < 1e-12 and res.max_filtering_error < 1e-12
    assert res.num_branches > 50  # resampling and proposals were really enumerated


def test_negative_control_broken_resampler():
    """A systematic resampler that only uses u in [0, 0.5) is biased: the harness must say so."""
    broken = lambda lw, m, u: RESAMPLING_FROM_UNIFORMS["systematic"](lw, m, 0.5 * u)  # noqa: E731
    # Breakpoints of the broken scheme are those of the true one halved... plus the
    # originals: the union keeps every cell constant.
    def bps(w, m):
        b = resampling_breakpoints(w, m, "systematic")[0]
        return [np.unique(np.concatenate([b, b / 2, (b + 1) / 2]))]

    res = enumerate_particle_filter(P0, P, LL, 2, ess_threshold=1.0, resampler=broken, breakpoints=bps)
    assert res.max_evidence_rel_error > 1e-3 or res.max_filtering_error > 1e-3


def test_exact_hmm_posterior_brute_force():
    """Forward algorithm against summing the joint over all 2^3 paths."""
    import itertools

    p0, Pm = np.array(P0), np.array(P)
    joint = {}
    for path in itertools.product([0, 1], repeat=3):
        lp = np.log(p0[path[0]]) + sum(np.log(Pm[a, b]) for a, b in zip(path, path[1:], strict=False))
        joint[path] = np.exp(lp + sum(LL[t, s] for t, s in enumerate(path)))
    z = sum(joint.values())
    log_z, filt = exact_hmm_posterior(P0, P, LL)
    assert log_z[-1] == pytest.approx(np.log(z), abs=1e-13)
    p_last1 = sum(v for k, v in joint.items() if k[-1] == 1) / z
    assert filt[-1, 1] == pytest.approx(p_last1, abs=1e-13)


def test_statistical_checks_accept_and_reject():
    rng = np.random.default_rng(0)
    good = np.log(rng.gamma(20.0, 1 / 20.0, size=2000))  # E[Z_hat] = 1
    assert check_evidence_unbiased(good, 0.0).passed
    assert not check_evidence_unbiased(good + 0.05, 0.0).passed  # 5% biased: rejected
    means = rng.normal(0.0, 0.1, size=(200, 10)) + np.arange(10)
    assert check_filtering_means(means, np.arange(10.0)).passed
    assert not check_filtering_means(means, np.arange(10.0) + 0.05).passed


def test_custom_resampler_without_breakpoints_is_named():
    def resampler(lw, m, u):
        return RESAMPLING_FROM_UNIFORMS["systematic"](lw, m, u)

    with pytest.raises(TypeError, match="breakpoints"):
        enumerate_particle_filter(P0, P, LL[:2], 2, ess_threshold=1.0, resampler=resampler)
