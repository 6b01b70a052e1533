"""Fuzz the public entry points of the probinf core with bad inputs (hypothesis).

Every generated input is invalid.  The entry point must raise a ``TypeError`` or
``ValueError`` (the probinf exceptions subclass them) *raised by probinf's own code*
(the last traceback frame lies in the ``probinf`` package, not in JAX or NumPy), with a
message, or emit the documented :class:`probinf.ProbinfWarning`.  A NaN, a silent
result, an exception from inside a dependency or a hang (``pytest-timeout``) fails.
The input classes are listed in ``docs/fuzz_inputs.md``.
"""

from __future__ import annotations

import os
import traceback
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.scipy.stats import norm

import probinf
from probinf import (
    HMC,
    MALA,
    LinearGaussian,
    ProbinfWarning,
    RandomWalk,
    StateSpaceModel,
    backward_sample,
    check_log_weights,
    init_population,
    kalman_filter,
    maybe_resample,
    particle_filter,
    particle_gibbs,
    pmmh,
    resample,
    resample_population,
    stochastic_volatility,
    tempered_smc,
    trace_genealogy,
)

pytestmark = pytest.mark.timeout(300)
FUZZ = settings(max_examples=15, deadline=None, derandomize=True)
PKG = os.sep + "probinf" + os.sep

LG = LinearGaussian.ar1()
SSM = LG.to_ssm()
Y = np.asarray(LG.simulate(jax.random.key(0), 8)[1])
SV = stochastic_volatility()
LP_SV = lambda th: jnp.where(jnp.abs(th[1]) < 1, 0.0, -jnp.inf)  # noqa: E731
LP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
LL = lambda x: -0.5 * jnp.sum((x - 1.0) ** 2)  # noqa: E731
PRIOR = lambda k, n: jax.random.normal(k, (n, 2))  # noqa: E731


def assert_clear_error(fn, *args, **kwargs):
    """``fn`` raises a TypeError/ValueError from probinf's own code, with a message."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProbinfWarning)
        try:
            out = fn(*args, **kwargs)
        except (TypeError, ValueError) as err:
            frame = traceback.extract_tb(err.__traceback__)[-1]
            assert PKG in frame.filename, f"raised outside probinf ({frame.filename}:{frame.lineno}): {err!r}"
            assert len(str(err)) > 20, f"message too short: {err!r}"
            return err
    raise AssertionError(f"no error; returned {type(out).__name__}")


BAD_KEYS = st.sampled_from([None, 1.5, "0", [0, 1], (0,), True, np.zeros(3, np.float32), np.zeros((2, 2), np.uint32),
                            jnp.zeros(2, jnp.int32), {"seed": 0}])
BAD_COUNTS = st.one_of(st.integers(-5, 0), st.sampled_from([1.5, 2.0, "3", None, True, np.float32(4.0)]))
BAD_FRACTIONS = st.sampled_from([-0.1, 1.5, float("nan"), float("inf"), "half", None, True])
BAD_METHODS = st.sampled_from(["System", "", "killitagawa", None, 3])


def bad_log_weights():
    finite = st.lists(st.floats(-5, 5), min_size=1, max_size=6)
    return st.one_of(
        finite.map(lambda v: np.asarray(v + [np.nan])),
        finite.map(lambda v: np.asarray(v + [np.inf])),
        st.integers(1, 6).map(lambda n: np.full(n, -np.inf)),
        st.just(np.zeros(0)),
        st.just(np.float64(1.0)),
        st.integers(1, 6).map(lambda n: np.arange(n)),  # integer dtype
    )


def bad_observations():
    return st.one_of(
        st.just(np.zeros(0)),
        st.just(np.float64(1.0)),
        st.integers(1, 6).map(lambda t: np.where(np.arange(t) == 0, np.nan, 1.0)),
        st.integers(1, 6).map(lambda t: np.where(np.arange(t) == 0, np.inf, 1.0)),
        st.integers(2, 5).map(lambda p: np.zeros((6, p))),  # wrong shape for a scalar model
        st.just([[1.0, 2.0], [3.0]]),  # ragged list
        st.just(["a", "b"]),
        st.just({"y": np.zeros(3), "z": np.zeros(4)}),  # leaves of different lengths
    )


# ------------------------------------------------------------------------------------------- weights, resampling


@FUZZ
@given(bad_log_weights())
def test_check_log_weights(lw):
    assert_clear_error(check_log_weights, lw)


@FUZZ
@given(st.one_of(BAD_KEYS.map(lambda k: ("key", k)), bad_log_weights().map(lambda v: ("lw", v)),
                 BAD_COUNTS.map(lambda v: ("num_samples", v)), BAD_METHODS.map(lambda v: ("method", v))))
def test_resample(case):
    kw = dict(key=0, lw=np.zeros(4), num_samples=None, method="systematic")
    kw[case[0]] = case[1]
    assert_clear_error(resample, kw["key"], kw["lw"], kw["num_samples"], kw["method"])


@FUZZ
@given(st.one_of(BAD_KEYS.map(lambda k: ("key", k)), BAD_METHODS.map(lambda v: ("method", v)),
                 BAD_FRACTIONS.map(lambda v: ("threshold", v))))
def test_population_blocks(case):
    pop = init_population(jnp.arange(4.0))
    kw = dict(key=0, method="systematic", threshold=0.5)
    kw[case[0]] = case[1]
    if case[0] != "threshold":
        assert_clear_error(resample_population, kw["key"], pop, kw["method"])
    assert_clear_error(maybe_resample, kw["key"], pop, kw["threshold"], kw["method"])


@FUZZ
@given(st.sampled_from(["empty", "scalar", "ragged", "lw_shape", "lw_nan"]))
def test_init_population(case):
    args = {"empty": ({},), "scalar": (jnp.float32(1.0),), "ragged": ((jnp.zeros(3), jnp.zeros(4)),),
            "lw_shape": (jnp.zeros(3), jnp.zeros(4)), "lw_nan": (jnp.zeros(3), jnp.array([0.0, jnp.nan, 0.0]))}[case]
    assert_clear_error(init_population, *args)


# ------------------------------------------------------------------------------------------- filtering, smoothing


@FUZZ
@given(st.one_of(BAD_KEYS.map(lambda k: ("key", k)), BAD_COUNTS.map(lambda v: ("num_particles", v)),
                 bad_observations().map(lambda v: ("observations", v)), BAD_METHODS.map(lambda v: ("resampling", v)),
                 BAD_FRACTIONS.map(lambda v: ("ess_threshold", v)),
                 st.sampled_from(["guided", 3, SSM]).map(lambda v: ("proposal", v)),
                 st.sampled_from([None, "model", LG]).map(lambda v: ("model", v))))
def test_particle_filter(case):
    kw = dict(key=0, model=SSM, observations=Y, num_particles=16, resampling="systematic", ess_threshold=0.5,
              proposal=None)
    kw[case[0]] = case[1]
    assert_clear_error(particle_filter, kw.pop("key"), kw.pop("model"), kw.pop("observations"),
                       kw.pop("num_particles"), **kw)


def test_particle_filter_one_particle_warns_and_list_observations_work():
    with pytest.warns(ProbinfWarning, match="num_particles=1"):
        particle_filter(0, SSM, Y, 1)
    a = particle_filter(0, SSM, Y.tolist(), 16).log_evidence
    b = particle_filter(jax.random.key(0), SSM, Y, 16).log_evidence
    assert float(a) == float(b) and np.isfinite(float(a))


@FUZZ
@given(st.one_of(BAD_KEYS.map(lambda k: ("key", k)), BAD_COUNTS.map(lambda v: ("num_draws", v)),
                 st.sampled_from(["no_history", "not_a_result"]).map(lambda v: ("result", v))))
def test_smoothing(case):
    res = particle_filter(0, SSM, Y, 16, return_history=True)
    kw = dict(key=0, num_draws=3, result=res)
    if case[0] == "result":
        kw["result"] = particle_filter(0, SSM, Y, 16) if case[1] == "no_history" else Y
    else:
        kw[case[0]] = case[1]
    assert_clear_error(trace_genealogy, kw["key"], kw["result"], kw["num_draws"])
    assert_clear_error(backward_sample, kw["key"], SSM, kw["result"], kw["num_draws"])


@FUZZ
@given(st.one_of(
    bad_observations().filter(lambda v: not isinstance(v, dict) and np.ndim(np.asarray(v, dtype=object)) != 2)
    .map(lambda v: ("observations", v)),
    st.just(np.zeros((3, 2, 2))).map(lambda v: ("observations", v)),
    st.sampled_from([np.zeros((2, 2)), np.nan, -1.0, "a"]).map(lambda v: ("transition_cov", v)),
    st.sampled_from([np.eye(3), np.inf]).map(lambda v: ("transition_matrix", v)),
    st.sampled_from([-0.5, np.array([[1.0, 2.0], [0.0, 1.0]])]).map(lambda v: ("initial_cov", v))))
def test_kalman_filter(case):
    kw = dict(observations=Y, transition_matrix=0.9, transition_cov=1.0, observation_matrix=1.0,
              observation_cov=0.04, initial_mean=0.0, initial_cov=1.0)
    kw[case[0]] = case[1]
    assert_clear_error(kalman_filter, **kw)


def test_linear_gaussian_simulate():
    assert_clear_error(LG.simulate, None, 5)
    assert_clear_error(LG.simulate, 0, 0)


# ------------------------------------------------------------------------------------------- particle MCMC


@FUZZ
@given(st.one_of(
    BAD_KEYS.map(lambda k: ("key", k)),
    st.sampled_from([np.array([-1.0, 0.9]), np.array([np.nan, 0.9, 0.2]), None, "theta", np.zeros((3, 3)),
                     np.zeros(0)]).map(lambda v: ("initial_theta", v)),
    BAD_COUNTS.map(lambda v: ("num_samples", v)), BAD_COUNTS.map(lambda v: ("num_chains", v)),
    st.sampled_from([-1, 1.5]).map(lambda v: ("num_warmup", v)),
    st.sampled_from([-0.1, 0.0, np.nan, np.ones(2)]).map(lambda v: ("step_size", v)),
    st.sampled_from([None, 3.0]).map(lambda v: ("log_prior", v))))
def test_pmmh(case):
    kw = dict(key=0, initial_theta=np.array([-1.0, 0.9, 0.2]), num_samples=2, num_chains=1, num_warmup=0,
              step_size=0.1, log_prior=LP_SV)
    kw[case[0]] = case[1]
    assert_clear_error(pmmh, kw.pop("key"), SV, Y, kw.pop("log_prior"), kw.pop("initial_theta"),
                       kw.pop("num_samples"), num_particles=8, **kw)


@FUZZ
@given(st.one_of(
    BAD_KEYS.map(lambda k: ("key", k)), st.sampled_from([1, 0, -2]).map(lambda v: ("num_particles", v)),
    BAD_COUNTS.map(lambda v: ("num_samples", v)), BAD_COUNTS.map(lambda v: ("num_theta_steps", v)),
    st.sampled_from([-1, 2.5]).map(lambda v: ("num_warmup", v)),
    st.sampled_from(["prior", 1.0]).map(lambda v: ("log_prior", v))))
def test_particle_gibbs(case):
    kw = dict(key=0, num_particles=8, num_samples=2, num_theta_steps=2, num_warmup=0, log_prior=None)
    kw[case[0]] = case[1]
    assert_clear_error(particle_gibbs, kw.pop("key"), SSM, Y, kw.pop("num_samples"), num_chains=1, **kw)


# ------------------------------------------------------------------------------------------- tempered SMC, kernels


@FUZZ
@given(st.one_of(
    BAD_KEYS.filter(lambda k: not (isinstance(k, np.ndarray) and k.dtype == np.uint32)).map(lambda k: ("key", k)),
    st.sampled_from([np.zeros((50, 2)), np.ones((30, 1)), np.zeros((1, 2)), np.zeros((0, 2)), np.zeros(5)])
    .map(lambda v: ("init_particles", v)),
    BAD_FRACTIONS.map(lambda v: ("target_ess", v)), BAD_COUNTS.map(lambda v: ("num_mcmc_steps", v)),
    BAD_COUNTS.map(lambda v: ("max_steps", v)), BAD_METHODS.map(lambda v: ("resampling", v)),
    st.sampled_from([[0.5, 0.9], [0.0, 1.0], [1.0, 0.5, 1.0], [np.nan, 1.0]]).map(lambda v: ("schedule", v)),
    st.sampled_from([RandomWalk(scale=-1.0), RandomWalk(target_accept=1.5), MALA(step_size=0.0),
                     HMC(num_leapfrog=0), HMC(step_size=np.nan), "rw"]).map(lambda v: ("kernel", v))))
def test_tempered_smc(case):
    kw = dict(key=0, init_particles=PRIOR, num_particles=64, target_ess=0.5, num_mcmc_steps=2, max_steps=50,
              resampling="systematic", schedule=None, kernel=None)
    kw[case[0]] = case[1]
    if case[0] == "init_particles":
        kw["num_particles"] = None
    assert_clear_error(tempered_smc, kw.pop("key"), LP, LL, kw.pop("init_particles"), kw.pop("num_particles"), **kw)


def test_tempered_smc_improper_target_is_reported():
    """An unbounded log density (log L = |x|^2 under a N(0, 1) prior) gives an error or a ProbinfWarning."""
    ll = lambda x: jnp.sum(x**2)  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tempered_smc(0, LP, ll, PRIOR, 128, num_mcmc_steps=3, max_steps=60)
        except probinf.SMCFailedError as err:
            assert "improper" in str(err)
            return
    assert any(issubclass(c.category, ProbinfWarning) and "improper" in str(c.message) for c in caught)


def test_tempered_smc_proper_target_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProbinfWarning)
        res = tempered_smc(0, LP, LL, PRIOR, 128, num_mcmc_steps=3)
    assert np.isfinite(res.log_evidence)


def test_model_evaluation_errors_are_named():
    """A model function that fails is reported as a ModelSpecificationError before any filter is traced."""
    bad = StateSpaceModel(lambda k, n, th: jax.random.normal(k, (n,)),
                          lambda k, x, t, th: x + jax.random.normal(k, x.shape),
                          lambda y, x, t, th: norm.logpdf(y, x[:, None], 1.0).sum(1) + jnp.zeros((3,)))
    err = assert_clear_error(particle_filter, 0, bad, Y, 8)
    assert isinstance(err, probinf.ModelSpecificationError)
