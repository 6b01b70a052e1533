"""Case table of the probinf core and probinf.kernels: the traceable blocks and their public wrappers.

The pure blocks (``normalize``, ``ess``, ``log_mean_exp``, ``weights_valid``, ``resample_with_flag``,
``reweight``, ``particle_filter_core``, ``csmc_kernel``, the kernels) must not raise on bad *values* under
``jit``: their contract is a flag or a documented value.  What is known before tracing (type, dtype, rank,
sizes, a key given as an int) raises a clear error naming the argument.  Also :data:`COVERED_ELSEWHERE` (names
fuzzed by the hypothesis tests of ``test_fuzz_core.py``) and :data:`NOT_APPLICABLE` (names that take no input).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from _cases import Case

import probinf as pi
from probinf import kernels as K

LG = pi.LinearGaussian.ar1()
SSM = LG.to_ssm()
Y = LG.simulate(jax.random.key(0), 6)[1]
KEY = jax.random.key(0)
REF = np.zeros(6, np.float32)
POP = pi.init_population(jnp.arange(4.0))

BAD_LW = {  # bad log-weights: array and the documented ESS / normalize value
    "NaN entry": np.array([0.0, np.nan, 1.0]),
    "+inf entry": np.array([0.0, np.inf, 1.0]),
    "all -inf": np.full(3, -np.inf),
}
STATIC_BAD_LW = {  # known before tracing: clear error from the blocks
    "bool dtype": np.array([True, False]),
    "complex dtype": np.array([0j, 1j]),
    "a scalar": np.float64(1.0),
    "a str": "0.5",
    "None": None,
}


def _nan(x) -> bool:
    return bool(np.all(np.isnan(np.asarray(x))))


def _false(x) -> bool:
    return not bool(x)


def err(package: str, target: str, input_class: str, call, **kw) -> Case:
    return Case(package, target, input_class, call, **kw)


def ok(package: str, target: str, input_class: str, call, check, note: str) -> Case:
    return Case(package, target, input_class, call, expect="handled", check=check, note=note)


def gap(package: str, target: str, input_class: str, call, known: str, note: str) -> Case:
    return Case(package, target, input_class, call, known=known, note=note)


def _jit(fn):
    return jax.jit(fn)


def _weights_cases() -> list[Case]:
    cases: list[Case] = []
    for cls, lw in BAD_LW.items():
        cases += [
            ok("probinf", "weights_valid", cls, lambda lw=lw: _jit(pi.weights_valid)(lw), _false, "False"),
            ok("probinf", "ess", cls, lambda lw=lw: _jit(pi.ess)(lw), _nan, "NaN"),
            ok("probinf", "normalize", cls, lambda lw=lw: _jit(pi.normalize)(lw),
               lambda v: bool(np.isnan(np.asarray(v)).any()), "NaN entries"),
            err("probinf", "check_log_weights", cls, lambda lw=lw: pi.check_log_weights(lw)),
            ok("probinf", "resample_with_flag", cls, lambda lw=lw: pi.resample_with_flag(0, lw, 3),
               lambda out: not bool(out[1]), "flag False"),
        ]
    cases += [
        ok("probinf", "log_mean_exp", "NaN entry", lambda: _jit(pi.log_mean_exp)(BAD_LW["NaN entry"]), _nan, "NaN"),
        ok("probinf", "log_mean_exp", "+inf entry", lambda: _jit(pi.log_mean_exp)(BAD_LW["+inf entry"]),
           lambda v: float(v) == math.inf, "+inf"),
        ok("probinf", "log_mean_exp", "all -inf", lambda: _jit(pi.log_mean_exp)(BAD_LW["all -inf"]),
           lambda v: float(v) == -math.inf, "-inf (log of a zero mean)"),
        ok("probinf", "weights_valid", "integer dtype", lambda: _jit(pi.weights_valid)(np.arange(3)), _false,
           "False (check_log_weights rejects integer log-weights)"),
        ok("probinf", "weights_valid", "empty", lambda: _jit(pi.weights_valid)(np.zeros(0)), _false, "False"),
        ok("probinf", "weights_valid", "a scalar", lambda: _jit(pi.weights_valid)(np.float64(0.0)), _false, "False"),
        ok("probinf", "weights_valid", "2-D, one row all -inf",
           lambda: _jit(pi.weights_valid)(np.array([[0.0, 1.0], [-np.inf, -np.inf]])), _false, "False"),
        ok("probinf", "ess", "2-D, one row all -inf", lambda: _jit(pi.ess)(np.array([[0.0, 0.0], [-np.inf] * 2])),
           lambda v: np.asarray(v)[0] == 2.0 and np.isnan(np.asarray(v)[1]), "NaN in that row only"),
        ok("probinf", "ess", "extreme values 1e30", lambda: _jit(pi.ess)(np.array([1e30, 1e30, -1e30], np.float32)),
           lambda v: abs(float(v) - 2.0) < 1e-5, "2.0 (exact)"),
        ok("probinf", "normalize", "empty", lambda: _jit(pi.normalize)(np.zeros(0)), lambda v: np.shape(v) == (0,),
           "empty"),
        err("probinf", "ess", "empty", lambda: _jit(pi.ess)(np.zeros(0))),
        err("probinf", "log_mean_exp", "empty", lambda: _jit(pi.log_mean_exp)(np.zeros(0))),
        err("probinf", "normalize", "axis out of range", lambda: pi.normalize(np.zeros(3), axis=2)),
        err("probinf", "ess", "list of str", lambda: pi.ess(["a", "b"])),
    ]
    for cls, lw in STATIC_BAD_LW.items():
        for name in ("normalize", "ess", "log_mean_exp", "weights_valid"):
            if cls == "a scalar" and name in ("weights_valid", "log_mean_exp"):
                continue  # weights_valid: False (above); log_mean_exp of a scalar is that scalar
            fn = getattr(pi, name)
            cases.append(err("probinf", name, cls, lambda lw=lw, f=fn: _jit(f)(lw)
                             if not isinstance(lw, str) and lw is not None else f(lw)))
    return cases


def _resampling_cases() -> list[Case]:
    lw = np.zeros(4)
    rwf = pi.resample_with_flag
    return [
        err("probinf", "resample_with_flag", "bool dtype", lambda: rwf(0, np.array([True, False]), 2)),
        err("probinf", "resample_with_flag", "complex dtype", lambda: rwf(0, np.array([0j, 1j]), 2)),
        err("probinf", "resample_with_flag", "empty", lambda: rwf(0, np.zeros(0), 2)),
        err("probinf", "resample_with_flag", "2-D", lambda: rwf(0, np.zeros((2, 3)), 2)),
        ok("probinf", "resample_with_flag", "Python list", lambda: rwf(0, [0.0, 1.0], 2),
           lambda out: bool(out[1]) and np.array_equal(out[0], rwf(0, np.array([0.0, 1.0]), 2)[0]),
           "accepted as an array"),
        err("probinf", "resample_with_flag", "None", lambda: rwf(0, None, 2)),
        ok("probinf", "resample_with_flag", "integer dtype", lambda: pi.resample_with_flag(0, np.arange(3), 3),
           lambda out: not bool(out[1]), "flag False"),
        err("probinf", "resample_with_flag", "key None", lambda: pi.resample_with_flag(None, lw, 4)),
        err("probinf", "resample_with_flag", "num_samples 0", lambda: pi.resample_with_flag(0, lw, 0)),
        err("probinf", "resample_with_flag", "num_samples float", lambda: pi.resample_with_flag(0, lw, 2.5)),
        err("probinf", "resample_with_flag", "unknown method", lambda: pi.resample_with_flag(0, lw, 4, "foo")),
        ok("probinf", "resample_with_flag", "int seed as key", lambda: pi.resample_with_flag(0, lw, 4),
           lambda out: bool(out[1]) and np.array_equal(out[0], pi.resample_with_flag(KEY, lw, 4)[0]),
           "same draws as jax.random.key(0)"),
        err("probinf", "resample", "2-D", lambda: pi.resample(0, np.zeros((2, 3)))),
        err("probinf", "resample", "Python list with NaN", lambda: pi.resample(0, [0.0, float("nan")])),
    ]


def _population_cases() -> list[Case]:
    bad_pop = pi.Population(jnp.arange(4.0), jnp.zeros((2, 2)), jnp.zeros(()))
    idx = jnp.array
    return [
        ok("probinf", "reweight", "NaN increment", lambda: pi.reweight(POP, jnp.array([0, jnp.nan, 0, 0.0]))[1],
           lambda info: not bool(info.valid), "info.valid False"),
        ok("probinf", "reweight", "all -inf increment", lambda: pi.reweight(POP, jnp.full(4, -jnp.inf))[1],
           lambda info: not bool(info.valid), "info.valid False"),
        ok("probinf", "reweight", "+inf increment", lambda: pi.reweight(POP, jnp.array([0, jnp.inf, 0, 0.0]))[1],
           lambda info: not bool(info.valid), "info.valid False"),
        ok("probinf", "reweight", "NaN increment under jit",
           lambda: _jit(pi.reweight)(POP, jnp.array([0, jnp.nan, 0, 0.0]))[1],
           lambda info: not bool(info.valid), "info.valid False"),
        err("probinf", "reweight", "increment of wrong length", lambda: pi.reweight(POP, jnp.zeros(3))),
        err("probinf", "reweight", "2-D increment (would broadcast)",
            lambda: _jit(pi.reweight)(POP, jnp.zeros((4, 4)))),
        err("probinf", "reweight", "not a Population", lambda: pi.reweight(jnp.zeros(4), jnp.zeros(4))),
        err("probinf", "reweight", "str increment", lambda: pi.reweight(POP, "0")),
        err("probinf", "Population", "2-D log_weights", lambda: pi.resample_population(0, bad_pop)),
        ok("probinf", "resample_population", "NaN weights under jit",
           lambda: _jit(lambda p: pi.resample_population(KEY, p))(POP._replace(log_weights=jnp.full(4, jnp.nan)))[1],
           lambda info: not bool(info.valid), "info.valid False"),
        ok("probinf", "maybe_resample", "NaN weights", lambda: pi.maybe_resample(
            0, POP._replace(log_weights=jnp.array([0.0, jnp.nan, 0.0, 0.0])))[1],
           lambda info: not bool(info.valid), "info.valid False"),
        err("probinf", "resample_population", "not a Population", lambda: pi.resample_population(0, jnp.zeros(3))),
        err("probinf", "take_particles", "float indices", lambda: pi.take_particles(jnp.arange(4.0), idx([0.5]))),
        err("probinf", "take_particles", "index out of range", lambda: pi.take_particles(jnp.arange(4.0), idx([7]))),
        err("probinf", "take_particles", "scalar particles", lambda: pi.take_particles(jnp.float32(1.0), idx([0]))),
        ok("probinf", "take_particles", "index out of range under jit",
           lambda: _jit(pi.take_particles)(jnp.arange(4.0), jnp.array([7])), _nan, "NaN (JAX fill value)"),
        err("probinf", "move", "key None", lambda: pi.move(None, POP, lambda k, x: (x, None))),
        err("probinf", "move", "kernel None", lambda: pi.move(0, POP, None)),
        err("probinf", "move", "kernel returns no pair", lambda: pi.move(0, POP, lambda k, x: x)),
        ok("probinf", "move", "int seed as key", lambda: pi.move(0, POP, lambda k, x: (x + 1.0, None))[0].particles,
           lambda p: np.array_equal(p, np.arange(4.0) + 1), "accepted"),
    ]


def _filter_cases() -> list[Case]:
    pfc = pi.particle_filter_core
    return [
        err("probinf", "particle_filter_core", "NaN observation (concrete)",
            lambda: pfc(KEY, SSM, jnp.where(jnp.arange(6) == 2, jnp.nan, Y), 8)),
        err("probinf", "particle_filter_core", "inf observation (concrete)",
            lambda: pfc(KEY, SSM, jnp.where(jnp.arange(6) == 3, jnp.inf, Y), 8)),
        ok("probinf", "particle_filter_core", "NaN observation under jit",
           lambda: jax.jit(lambda y: pfc(KEY, SSM, y, 8))(jnp.where(jnp.arange(6) == 2, jnp.nan, Y)),
           lambda r: not bool(r.valid) and int(r.first_invalid_step) == 2, "valid False, first_invalid_step 2"),
        ok("probinf", "particle_filter_core", "inf observation under jit",
           lambda: jax.jit(lambda y: pfc(KEY, SSM, y, 8))(jnp.where(jnp.arange(6) == 3, jnp.inf, Y)),
           lambda r: not bool(r.valid) and int(r.first_invalid_step) == 3, "valid False, first_invalid_step 3"),
        err("probinf", "particle_filter_core", "unknown resampling", lambda: pfc(KEY, SSM, Y, 8, resampling="foo")),
        err("probinf", "particle_filter_core", "ess_threshold 2", lambda: pfc(KEY, SSM, Y, 8, ess_threshold=2.0)),
        ok("probinf", "particle_filter_core", "int key", lambda: pfc(0, SSM, Y, 8).log_evidence,
           lambda z: np.isclose(float(z), float(pfc(jax.random.key(0), SSM, Y, 8).log_evidence)),
           "accepted as jax.random.key(0)"),
        err("probinf", "particle_filter_core", "num_particles 0", lambda: pfc(KEY, SSM, Y, 0)),
        err("probinf", "particle_filter_core", "num_particles 1.5", lambda: pfc(KEY, SSM, Y, 1.5)),
        err("probinf", "particle_filter_core", "empty observations", lambda: pfc(KEY, SSM, Y[:0], 8)),
        ok("probinf", "particle_filter_core", "observations as a list",
           lambda: pfc(KEY, SSM, Y.tolist(), 8).log_evidence,
           lambda z: np.isclose(float(z), float(pfc(KEY, SSM, Y, 8).log_evidence)), "accepted as an array"),
        ok("probinf", "particle_filter_core", "observations as a NumPy array",
           lambda: pfc(KEY, SSM, np.asarray(Y), 8).log_evidence,
           lambda z: np.isclose(float(z), float(pfc(KEY, SSM, Y, 8).log_evidence)), "accepted as an array"),
        err("probinf", "particle_filter_core", "model None", lambda: pfc(KEY, None, Y, 8)),
        err("probinf", "csmc_kernel", "num_particles 1", lambda: pi.csmc_kernel(KEY, SSM, Y, REF, 1)),
        err("probinf", "csmc_kernel", "num_particles 0", lambda: pi.csmc_kernel(KEY, SSM, Y, REF, 0)),
        err("probinf", "csmc_kernel", "reference shorter than T", lambda: pi.csmc_kernel(KEY, SSM, Y, REF[:3], 8)),
        err("probinf", "csmc_kernel", "NaN reference", lambda: pi.csmc_kernel(KEY, SSM, Y, REF + np.nan, 8)),
        err("probinf", "csmc_kernel", "NaN observation", lambda: pi.csmc_kernel(KEY, SSM, Y + np.nan, REF, 8)),
        err("probinf", "csmc_kernel", "key None", lambda: pi.csmc_kernel(None, SSM, Y, REF, 8)),
        err("probinf", "csmc_kernel", "model not a StateSpaceModel", lambda: pi.csmc_kernel(KEY, LG, Y, REF, 8)),
        ok("probinf", "csmc_kernel", "int key and list observations",
           lambda: pi.csmc_kernel(0, SSM, Y.tolist(), REF, 8),
           lambda tr: np.shape(tr) == (6,) and bool(np.isfinite(tr).all()), "accepted: a finite trajectory"),
        err("probinf", "StateSpaceModel", "non-callable fields", lambda: pi.particle_filter(
            0, pi.StateSpaceModel(1, 2, 3), Y, 4), ours=(pi.ModelSpecificationError,)),
        err("probinf", "Proposal", "non-callable fields", lambda: pi.particle_filter(
            0, SSM, Y, 4, proposal=pi.Proposal(1, 2, 3, 4))),
        err("probinf", "stochastic_volatility", "rho 1.5 (non-stationary)", lambda: pi.stochastic_volatility(rho=1.5)),
        err("probinf", "stochastic_volatility", "sigma NaN", lambda: pi.stochastic_volatility(sigma=math.nan)),
        err("probinf", "stochastic_volatility", "sigma -1", lambda: pi.stochastic_volatility(sigma=-1.0)),
        err("probinf", "kalman_smoother", "NaN observation", lambda: pi.kalman_smoother(
            np.array([0.0, np.nan]), 0.9, 1.0, 1.0, 0.04, 0.0, 1.0)),
        err("probinf", "kalman_smoother", "negative covariance", lambda: pi.kalman_smoother(
            np.array([0.0, 1.0]), 0.9, -1.0, 1.0, 0.04, 0.0, 1.0)),
        err("probinf", "LinearGaussian", "non-symmetric covariance", lambda: pi.LinearGaussian.create(
            0.9, np.array([[1.0, 2.0], [0.0, 1.0]]), 1.0, 0.04, 0.0, 1.0)),
        err("probinf", "RandomWalk", "negative scale", lambda: pi.tempered_smc(
            0, lambda x: -0.5 * jnp.sum(x**2), lambda x: 0.0 * jnp.sum(x), lambda k, n: jax.random.normal(k, (n, 2)),
            32, kernel=pi.RandomWalk(scale=-1.0))),
        err("probinf", "MALA", "step_size 0", lambda: pi.tempered_smc(
            0, lambda x: -0.5 * jnp.sum(x**2), lambda x: 0.0 * jnp.sum(x), lambda k, n: jax.random.normal(k, (n, 2)),
            32, kernel=pi.MALA(step_size=0.0))),
        err("probinf", "HMC", "num_leapfrog 0", lambda: pi.tempered_smc(
            0, lambda x: -0.5 * jnp.sum(x**2), lambda x: 0.0 * jnp.sum(x), lambda k, n: jax.random.normal(k, (n, 2)),
            32, kernel=pi.HMC(num_leapfrog=0))),
    ]


def _smc_model():
    import numpyro
    import numpyro.distributions as dist

    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.factor("f", mu**2)

    return model


def _smc_cases() -> list[Case]:
    return [
        err("probinf", "smc", "improper posterior (issue 14: factor mu**2)", lambda: pi.smc(
            _smc_model(), key=0, num_particles=16, num_mcmc_steps=2, max_steps=5, progress_bar=False),
            ours=(pi.SMCFailedError,)),
        err("probinf", "smc", "key None", lambda: pi.smc(_smc_model(), key=None, num_particles=32, progress_bar=False)),
        err("probinf", "smc", "num_particles 0", lambda: pi.smc(_smc_model(), key=0, num_particles=0,
                                                                progress_bar=False)),
    ]


def _kernel_cases() -> list[Case]:
    w, f = K.compensated_cumsum(jnp.array([0.5, 1.5, 1.0]))
    return [
        ok("probinf.kernels", "compensated_cumsum", "negative value", lambda: K.compensated_cumsum(
            jnp.array([-0.5, 1.5, 1.0])), lambda o: np.allclose(np.add(*map(np.asarray, o)), [-0.5, 1.0, 2.0]),
           "exact prefix sums"),
        ok("probinf.kernels", "compensated_cumsum", "NaN value", lambda: K.compensated_cumsum(
            jnp.array([jnp.nan, 1.5, 1.0])), lambda o: _nan(o[1]), "NaN fractional parts"),
        ok("probinf.kernels", "compensated_cumsum", "Python list", lambda: K.compensated_cumsum([1.0, 2.0]),
           lambda o: np.allclose(np.add(*map(np.asarray, o)), [1.0, 3.0]), "prefix sums"),
        err("probinf.kernels", "compensated_cumsum", "a scalar", lambda: K.compensated_cumsum(1.0)),
        err("probinf.kernels", "compensated_cumsum", "2-D", lambda: K.compensated_cumsum(jnp.ones((2, 3)))),
        err("probinf.kernels", "compensated_cumsum", "integer dtype", lambda: K.compensated_cumsum(jnp.arange(3))),
        err("probinf.kernels", "offspring_counts", "NaN weight", lambda: K.offspring_counts(
            jnp.array([jnp.nan, 1.5, 1.0]), 0.3)),
        err("probinf.kernels", "offspring_counts", "u outside [0, 1)", lambda: K.offspring_counts(
            jnp.array([0.5, 1.5, 1.0]), 2.0)),
        ok("probinf.kernels", "offspring_counts", "NaN weight under jit (documented precondition)",
           lambda: jax.jit(K.offspring_counts)(jnp.array([jnp.nan, 1.5, 1.0]), 0.3),
           lambda o: np.shape(o) == (3,), "unspecified counts; traced callers check weights_valid first"),
        ok("probinf.kernels", "offspring_counts", "empty", lambda: K.offspring_counts(jnp.zeros(0), 0.3),
           lambda o: np.shape(o) == (0,), "empty"),
        ok("probinf.kernels", "search_sorted_split", "Python lists", lambda: K.search_sorted_split(
            [0, 1, 3], [0.5, 0.0, 0.0], [0], [0.2]), lambda o: int(np.asarray(o)[0]) == 0, "accepted as arrays"),
        ok("probinf.kernels", "search_sorted_split", "target beyond the total", lambda: K.search_sorted_split(
            w, f, jnp.array([5]), jnp.array([0.2])), lambda o: int(np.asarray(o)[0]) == 2, "last index (clamped)"),
        ok("probinf.kernels", "mixture_loglik", "NaN x", lambda: K.mixture_loglik(
            jnp.array([0.0, jnp.nan]), jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.zeros((1, 2))),
           _nan, "NaN propagates to the affected particle (documented)"),
        err("probinf.kernels", "mixture_loglik", "mismatched shapes", lambda: K.mixture_loglik(
            jnp.zeros(3), jnp.zeros((1, 2)), jnp.zeros((1, 3)), jnp.zeros((1, 2)))),
        err("probinf.kernels", "mixture_loglik", "unknown backend", lambda: K.mixture_loglik(
            jnp.zeros(3), jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.zeros((1, 2)), backend="x")),
        err("probinf.kernels", "token_logprobs", "token id out of range", lambda: K.token_logprobs(
            jnp.zeros((2, 5)), jnp.array([0, 5]))),
        err("probinf.kernels", "token_logprobs", "float token ids", lambda: K.token_logprobs(
            jnp.zeros((2, 5)), jnp.array([0.0, 1.0]))),
        err("probinf.kernels", "token_logprobs", "empty vocabulary", lambda: K.token_logprobs(
            jnp.zeros((2, 0)), jnp.array([0, 1]))),
        ok("probinf.kernels", "token_logprobs", "NaN logits", lambda: K.token_logprobs(
            jnp.full((2, 5), jnp.nan), jnp.array([0, 1])), _nan, "NaN propagates"),
        err("probinf.kernels", "conformal_bayes_scores", "NaN log-likelihood", lambda: K.conformal_bayes_scores(
            jnp.full((3, 2), jnp.nan), jnp.zeros((3, 4)))),
        err("probinf.kernels", "conformal_bayes_scores", "no draws (T = 0)", lambda: K.conformal_bayes_scores(
            jnp.zeros((0, 2)), jnp.zeros((0, 4)))),
        err("probinf.kernels", "conformal_bayes_scores", "unknown backend", lambda: K.conformal_bayes_scores(
            jnp.zeros((3, 2)), jnp.zeros((3, 4)), backend="zz")),
    ]


CORE_CASES: list[Case] = [*_weights_cases(), *_resampling_cases(), *_population_cases(), *_filter_cases(),
                          *_smc_cases(), *_kernel_cases()]

#: exported names fuzzed by the hypothesis tests of test_fuzz_core.py (name -> test function there)
COVERED_ELSEWHERE: dict[str, str] = {
    "check_log_weights": "test_check_log_weights",
    "resample": "test_resample",
    "resample_population": "test_population_blocks",
    "maybe_resample": "test_population_blocks",
    "init_population": "test_init_population",
    "particle_filter": "test_particle_filter",
    "trace_genealogy": "test_smoothing",
    "backward_sample": "test_smoothing",
    "kalman_filter": "test_kalman_filter",
    "LinearGaussian": "test_linear_gaussian_simulate",
    "pmmh": "test_pmmh",
    "particle_gibbs": "test_particle_gibbs",
    "tempered_smc": "test_tempered_smc",
}

#: exported names that take no input of their own, with the reason
NOT_APPLICABLE: dict[str, str] = {
    "DegenerateWeightsError": "exception class",
    "InvalidWeightsError": "exception class",
    "ModelSpecificationError": "exception class",
    "SMCFailedError": "exception class",
    "ProbinfWarning": "warning class",
    "BackendUnavailableError": "exception class",
    "ResampleInfo": "result tuple, built by the blocks, never from user input",
    "ParticleFilterResult": "result tuple returned by the filters",
    "PMMHResult": "result tuple returned by pmmh",
    "PGResult": "result tuple returned by particle_gibbs",
    "SMCResult": "result object returned by tempered_smc and smc",
    "ConformalBayesScores": "result tuple returned by conformal_bayes_scores",
    "RESAMPLING_METHODS": "constant (the scheme names; unknown names are fuzzed through resample)",
    "MIXTURE_BACKENDS": "constant (backend names; unknown names are fuzzed through mixture_loglik)",
    "TOKEN_LOGPROBS_BACKENDS": "constant (backend names; unknown names are fuzzed through token_logprobs)",
}
