"""probinf.kernels.conformal_bayes_scores: fused JAX path against the NumPy float64 oracle.

Tolerance (documented in the kernel): the fast path runs in float32; each log-score is a
difference of two log-sum-exps of magnitude up to ``S = max|input|`` (a sum of two inputs),
so its absolute error is bounded by about ``1e-4 + 4 * eps32 * 2S``.  P-values are counts of
comparisons; they must agree exactly except for training points whose score lies within that
tolerance of the test score (a numerical tie), so the fast count is checked to lie in the
band [#(clearly below), #(below or tied)].
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from probinf._compat import enable_x64
from probinf.kernels import conformal_bayes_scores

EPS32 = float(np.finfo(np.float32).eps)


def _tol(*arrays):
    scale = max([float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0)) for a in arrays])
    return 1e-4 + 8 * EPS32 * scale


def _check_close(ref, fast, lt, lg, lw=None):
    tol = _tol(lt, lg, *( [] if lw is None else [lw]))
    np.testing.assert_allclose(fast.log_score_test, ref.log_score_test, atol=tol, rtol=0)
    np.testing.assert_allclose(fast.ess, ref.ess, rtol=1e-3)
    a, b = ref.log_scores_train, fast.log_scores_train
    assert a.shape == b.shape
    fin = np.isfinite(a)
    assert np.array_equal(fin, np.isfinite(b)), "the fast path lost or invented -inf scores"
    np.testing.assert_allclose(b[fin], a[fin], atol=tol, rtol=0)
    n = lt.shape[1]
    test = ref.log_score_test[:, None]
    lo = 1 + np.sum(a < test - 2 * tol, axis=1)
    hi = 1 + np.sum(a <= test + 2 * tol, axis=1)
    counts = np.rint(fast.pvalues * (n + 1))
    assert np.all((counts >= lo) & (counts <= hi))


# Extreme values the issue asks for: -1e30, +-700, plus ordinary ones and -inf (zero density).
_values = st.one_of(
    st.floats(-50, 50, allow_nan=False, width=32),
    st.sampled_from([-1e30, -700.0, 700.0, -np.inf, 0.0]),
)


@st.composite
def _problem(draw):
    # A few fixed shapes (incl. T = 1, n = 0, G = 1) so that jit compiles a handful of times.
    T, n, G = draw(st.sampled_from([(1, 1, 1), (1, 0, 3), (12, 9, 8), (5, 1, 4), (12, 3, 1)]))
    lt = draw(hnp.arrays(np.float64, (T, n), elements=_values))
    lg = draw(hnp.arrays(np.float64, (T, G), elements=_values))
    # A grid column with zero likelihood under every draw is an error (tested separately).
    lg[0, np.all(np.isneginf(lg), axis=0)] = -3.0
    chunk = draw(st.sampled_from([1, G]))
    weighted = draw(st.booleans())
    lw = draw(hnp.arrays(np.float64, (T,), elements=st.floats(-30, 30, width=32))) if weighted else None
    return lt, lg, lw, chunk


@settings(max_examples=60)
@given(_problem())
def test_fast_matches_reference(problem):
    lt, lg, lw, chunk = problem
    ref = conformal_bayes_scores(lt, lg, lw, backend="reference")
    fast = conformal_bayes_scores(lt, lg, lw, backend="cpu", chunk_size=chunk)
    _check_close(ref, fast, lt, lg, lw)
    assert np.all((ref.pvalues >= 1 / (lt.shape[1] + 1) - 1e-12) & (ref.pvalues <= 1 + 1e-12))
    assert np.all((fast.ess >= 1 - 1e-3) & (fast.ess <= lt.shape[0] * (1 + 1e-3)))


@settings(max_examples=15)
@given(_problem(), st.floats(-1e4, 1e4))
def test_shift_invariance_of_draw_weights(problem, c):
    """Adding a constant to every posterior log-weight changes nothing."""
    lt, lg, lw, chunk = problem
    lw = np.zeros(lt.shape[0]) if lw is None else lw
    a = conformal_bayes_scores(lt, lg, lw, backend="reference")
    b = conformal_bayes_scores(lt, lg, lw + c, backend="reference")
    np.testing.assert_allclose(a.ess, b.ess, rtol=1e-9)
    np.testing.assert_array_equal(a.pvalues, b.pvalues)


def test_larger_random_problem_and_without_train_scores():
    rng = np.random.default_rng(1)
    T, n, G = 200, 300, 40
    lt = rng.normal(-2, 3, size=(T, n))
    lg = rng.normal(-2, 3, size=(T, G))
    ref = conformal_bayes_scores(lt, lg, backend="reference")
    fast = conformal_bayes_scores(lt, lg, chunk_size=16)
    _check_close(ref, fast, lt, lg)
    lean = conformal_bayes_scores(lt, lg, return_train_scores=False, chunk_size=9)
    assert lean.log_scores_train is None
    np.testing.assert_array_equal(lean.pvalues, fast.pvalues)


def test_underflow_fallback_is_exact():
    """Draws whose likelihoods live on disjoint scales: the BLAS product underflows in float32."""
    T, n = 4, 3
    lt = np.full((T, n), -200.0)
    lt[0] = 0.0  # train points only likely under draw 0
    lg = np.full((T, 2), -200.0)
    lg[1] = 0.0  # the candidate only likely under draw 1
    ref = conformal_bayes_scores(lt, lg, backend="reference")
    fast = conformal_bayes_scores(lt, lg)
    assert np.all(np.isfinite(fast.log_scores_train))
    np.testing.assert_allclose(fast.log_scores_train, ref.log_scores_train, atol=1e-3)


def test_uniform_weights_equal_one_draw_repeated():
    """T identical draws behave as one draw, and the ESS equals T."""
    rng = np.random.default_rng(2)
    lt1, lg1 = rng.normal(size=(1, 5)), rng.normal(size=(1, 3))
    one = conformal_bayes_scores(lt1, lg1, backend="reference")
    many = conformal_bayes_scores(np.repeat(lt1, 7, 0), np.repeat(lg1, 7, 0))
    np.testing.assert_allclose(many.ess, 7, rtol=1e-5)
    np.testing.assert_allclose(many.log_scores_train, one.log_scores_train, atol=1e-5)
    np.testing.assert_allclose(one.log_scores_train, np.broadcast_to(lt1, (3, 5)), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(loglik_train=np.zeros((3, 2)), loglik_grid=np.zeros((4, 2))), "draws"),
        (dict(loglik_train=np.zeros(3), loglik_grid=np.zeros((3, 2))), "2-D"),
        (dict(loglik_train=np.zeros((0, 2)), loglik_grid=np.zeros((0, 2))), "at least one"),
        (dict(loglik_train=np.array([[np.nan]]), loglik_grid=np.zeros((1, 2))), "NaN"),
        (dict(loglik_train=np.zeros((1, 1)), loglik_grid=np.array([[np.inf]])), r"\+inf"),
        (dict(loglik_train=np.zeros((1, 1)), loglik_grid=np.array([[-np.inf, 0.0]])), "zero"),
        (dict(loglik_train=np.zeros((2, 1)), loglik_grid=np.zeros((2, 1)), log_weights=np.zeros(3)), "log_weights"),
        (dict(loglik_train=np.zeros((1, 1)), loglik_grid=np.zeros((1, 1)), backend="gpu"), "backend"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conformal_bayes_scores(**kwargs)


def test_empty_training_set_gives_pvalue_one():
    out = conformal_bayes_scores(np.zeros((3, 0)), np.zeros((3, 4)))
    np.testing.assert_array_equal(out.pvalues, 1.0)


def test_no_retrace_for_same_shapes():
    from probinf.kernels.conformal_bayes import _fast

    rng = np.random.default_rng(3)
    lt, lg = rng.normal(size=(6, 5)), rng.normal(size=(6, 4))
    conformal_bayes_scores(lt, lg, chunk_size=2)
    before = _fast._cache_size()
    conformal_bayes_scores(lt + 1.0, lg - 2.0, chunk_size=2)
    assert _fast._cache_size() == before


def test_float64_path_matches_reference_tightly():

    rng = np.random.default_rng(4)
    lt, lg = rng.normal(-5, 20, size=(50, 30)), rng.normal(-5, 20, size=(50, 12))
    ref = conformal_bayes_scores(lt, lg, backend="reference")
    with enable_x64(True):
        fast = conformal_bayes_scores(lt, lg, chunk_size=5)
    assert fast.log_scores_train.dtype == np.float64
    np.testing.assert_allclose(fast.log_scores_train, ref.log_scores_train, atol=1e-10)
    np.testing.assert_allclose(fast.pvalues, ref.pvalues, rtol=0, atol=1e-12)  # same counts


# ----------------------------------------------------------------------------- pallas backend
# The GPU kernels run here in interpreter mode (interpret=True).  Same dtype (float32 unless
# x64) and same tolerance as the "cpu" path: log-scores within 1e-4 + 8 eps32 * max|input|
# absolute of the float64 reference, ESS within rel 1e-3, p-value counts inside the tie band.
# Every new shape is a new (slow, ~1 s) interpreter trace, so the shapes come from a fixed set.


@settings(max_examples=20, deadline=None)
@given(_problem(), st.booleans())
def test_pallas_interpret_matches_reference(problem, return_train):
    lt, lg, lw, _ = problem
    ref = conformal_bayes_scores(lt, lg, lw, backend="reference")
    pal = conformal_bayes_scores(lt, lg, lw, backend="pallas", interpret=True, return_train_scores=return_train)
    if return_train:
        _check_close(ref, pal, lt, lg, lw)
    else:
        assert pal.log_scores_train is None
        _check_close(ref, pal._replace(log_scores_train=ref.log_scores_train), lt, lg, lw)
    assert pal.pvalues.shape == pal.ess.shape == pal.log_score_test.shape == (lg.shape[1],)
    assert np.all((pal.ess >= 1 - 1e-3) & (pal.ess <= lt.shape[0] * (1 + 1e-3)))


@pytest.mark.parametrize("T, n, G", [(1, 1, 1), (40, 70, 35), (17, 1, 33)])
def test_pallas_interpret_several_blocks_and_extremes(T, n, G):
    """Shapes past one block along T (8), G (32) and n (32), with -1e30, +-700 and -inf mixed in."""
    rng = np.random.default_rng(T * 1000 + n)
    lt = rng.normal(-2, 3, size=(T, n))
    lg = rng.normal(-2, 3, size=(T, G))
    for a in (lt, lg):
        mask = rng.random(a.shape)
        a[mask < 0.05] = -1e30
        a[(mask >= 0.05) & (mask < 0.1)] = 700.0
        a[(mask >= 0.1) & (mask < 0.15)] = -700.0
        a[(mask >= 0.15) & (mask < 0.2)] = -np.inf
    lt[:, 0] = -np.inf  # a train point impossible under every draw: score -inf, always counted
    lg[0, np.all(np.isneginf(lg), axis=0)] = -3.0
    lw = rng.normal(0, 5, size=T)
    ref = conformal_bayes_scores(lt, lg, lw, backend="reference")
    pal = conformal_bayes_scores(lt, lg, lw, backend="pallas", interpret=True)
    _check_close(ref, pal, lt, lg, lw)
    assert np.all(np.isneginf(pal.log_scores_train[:, 0]))


def test_pallas_interpret_small_blocks_match_cpu():
    """Tiny blocks (many programs, padding on every axis) give the same answer as the default ones."""
    import jax.numpy as jnp

    from probinf.kernels.conformal_bayes import _pallas

    rng = np.random.default_rng(5)
    lt, lg, lw = rng.normal(size=(11, 13)), rng.normal(size=(11, 7)), rng.normal(size=11)
    args = [jnp.asarray(a, jnp.float32) for a in (lt, lg, lw)]
    small = _pallas(*args, return_train=True, interpret=True, block_t=4, block_g=2, block_n=4)
    ref = conformal_bayes_scores(lt, lg, lw, backend="reference")
    _check_close(ref, type(ref)(*map(np.asarray, small)), lt, lg, lw)


def test_pallas_interpret_underflow_case_and_empty_inputs():
    T, n = 4, 3
    lt = np.full((T, n), -200.0)
    lt[0] = 0.0
    lg = np.full((T, 2), -200.0)
    lg[1] = 0.0
    ref = conformal_bayes_scores(lt, lg, backend="reference")
    pal = conformal_bayes_scores(lt, lg, backend="pallas", interpret=True)
    np.testing.assert_allclose(pal.log_scores_train, ref.log_scores_train, atol=1e-3)
    out = conformal_bayes_scores(np.zeros((3, 0)), np.zeros((3, 4)), backend="pallas", interpret=True)
    np.testing.assert_array_equal(out.pvalues, 1.0)
    assert out.log_scores_train.shape == (4, 0)
    empty = conformal_bayes_scores(np.zeros((3, 2)), np.zeros((3, 0)), backend="pallas", interpret=True)
    assert empty.pvalues.shape == (0,) and empty.log_scores_train.shape == (0, 2)


def test_pallas_float64_interpret_matches_reference_tightly():
    rng = np.random.default_rng(6)
    lt, lg = rng.normal(-5, 20, size=(20, 9)), rng.normal(-5, 20, size=(20, 6))
    ref = conformal_bayes_scores(lt, lg, backend="reference")
    with enable_x64(True):
        pal = conformal_bayes_scores(lt, lg, backend="pallas", interpret=True)
    assert pal.log_scores_train.dtype == np.float64
    np.testing.assert_allclose(pal.log_scores_train, ref.log_scores_train, atol=1e-10)
    np.testing.assert_allclose(pal.ess, ref.ess, rtol=1e-10)
    np.testing.assert_array_equal(pal.pvalues, ref.pvalues)


def test_pallas_without_gpu_is_a_clear_error_and_auto_routing(monkeypatch):
    import jax

    import probinf.kernels.conformal_bayes as cb
    from probinf.kernels import BackendUnavailableError

    lt, lg = np.zeros((2, 3)), np.zeros((2, 4))
    if not any(d.platform == "gpu" for d in jax.devices()):
        with pytest.raises(BackendUnavailableError, match="interpret=True"):
            conformal_bayes_scores(lt, lg, backend="pallas")
        # without a GPU, auto is the cpu path
        np.testing.assert_array_equal(conformal_bayes_scores(lt, lg).pvalues,
                                      conformal_bayes_scores(lt, lg, backend="cpu").pvalues)

    class Routed(Exception):
        pass

    def fake_pallas(*args, **kwargs):
        raise Routed

    monkeypatch.setattr(cb, "_has_gpu", lambda: True)
    monkeypatch.setattr(cb, "_pallas", fake_pallas)
    # auto on a GPU runs the XLA path (measured faster than Pallas); Pallas stays opt-in
    np.testing.assert_array_equal(conformal_bayes_scores(lt, lg).pvalues,
                                  conformal_bayes_scores(lt, lg, backend="cpu").pvalues)
    with pytest.raises(Routed):
        conformal_bayes_scores(lt, lg, backend="pallas")
