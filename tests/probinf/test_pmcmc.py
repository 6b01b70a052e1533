"""Tests of probinf/pmcmc.py and probinf/smoothing.py: exact CSMC invariance, PMMH and
particle Gibbs against exact (Kalman) answers, backward simulation, bad input."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm
from scipy import stats

from probinf import LinearGaussian, ModelSpecificationError, StateSpaceModel, kalman_filter, particle_filter
from probinf._compat import enable_x64
from probinf.pmcmc import complete_data_log_density, csmc_kernel, particle_gibbs, pmmh
from probinf.smoothing import backward_sample, trace_genealogy
from probinf.validate import enumerate_csmc_kernel, exact_path_posterior

P0 = np.array([0.3, 0.7])
P = np.array([[0.9, 0.1], [0.2, 0.8]])
EMIS = np.array([[0.8, 0.2], [0.3, 0.7]])
Y_HMM = np.array([0, 1, 1])
LL = np.log(EMIS)[:, Y_HMM].T  # (T, K)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("ancestor_sampling", [True, False])
def test_csmc_kernel_leaves_posterior_invariant_exactly(n, ancestor_sampling):
    ll = LL if n == 2 else LL[:2]  # keep the N = 3 enumeration small
    paths, pi = exact_path_posterior(P0, P, ll)
    _, K = enumerate_csmc_kernel(P0, P, ll, n, ancestor_sampling=ancestor_sampling)
    np.testing.assert_allclose(K.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(pi @ K, pi, atol=1e-12)


def test_unconditional_smc_is_not_invariant():
    """Negative control: plain SMC path sampling (no reference) is biased at N = 2."""
    paths, pi = exact_path_posterior(P0, P, LL)
    _, K = enumerate_csmc_kernel(P0, P, LL, 2, conditional=False)
    assert np.abs(pi @ K - pi).max() > 0.05


def _hmm_model():
    lp0, lP, lE = jnp.log(P0), jnp.log(P), jnp.log(EMIS)
    return StateSpaceModel(
        initial_sampler=lambda k, n, th: jax.random.categorical(k, lp0, shape=(n,)),
        transition_sampler=lambda k, x, t, th: jax.random.categorical(k, lP[x]),
        observation_log_density=lambda y, x, t, th: lE[x, y],
        transition_log_density=lambda x, xp, t, th: lP[xp, x],
        initial_log_density=lambda x, th: lp0[x],
    )


@pytest.mark.parametrize("ancestor_sampling", [True, False])
def test_jax_csmc_matches_enumerated_kernel(ancestor_sampling):
    """The JAX kernel's output-path frequencies from a fixed reference match the
    enumerated transition row (chi-square, 4000 sweeps, p > 1e-4)."""
    paths, K = enumerate_csmc_kernel(P0, P, LL, 2, ancestor_sampling=ancestor_sampling)
    model = _hmm_model()
    r = 5  # reference path index
    ref = jnp.asarray(paths[r])
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    out = jax.jit(jax.vmap(lambda k: csmc_kernel(k, model, jnp.asarray(Y_HMM), ref, 2,
                                                 ancestor_sampling=ancestor_sampling)))(keys)
    out = np.asarray(out)
    idx = np.array([int("".join(map(str, p)), 2) for p in out])  # paths are itertools.product order
    counts = np.bincount(idx, minlength=len(paths))
    expected = 4000 * K[r]
    keep = expected >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-4


# ----------------------------------------------------------------- linear-Gaussian checks

T = 40
LG = LinearGaussian.ar1(0.9, 1.0, 0.5)
_, Y = LG.simulate(jax.random.PRNGKey(11), T)


def _ar1_model():
    return StateSpaceModel(
        initial_sampler=lambda k, n, th: jax.random.normal(k, (n,)) / jnp.sqrt(1 - th[0] ** 2),
        transition_sampler=lambda k, x, t, th: th[0] * x + jax.random.normal(k, x.shape),
        observation_log_density=lambda y, x, t, th: norm.logpdf(y, x, 0.5),
        transition_log_density=lambda x, xp, t, th: norm.logpdf(x, th[0] * xp, 1.0),
        initial_log_density=lambda x, th: norm.logpdf(x, 0.0, 1.0 / jnp.sqrt(1 - th[0] ** 2)),
    )


def _log_prior(th):
    return jnp.where(jnp.abs(th[0]) < 1.0, 0.0, -jnp.inf)


def _exact_rho_posterior():
    """Posterior of rho (uniform prior on (-1, 1)) on a fine grid with the Kalman likelihood (float64)."""
    with enable_x64(True):
        grid = np.linspace(-0.999, 0.999, 4001)
        y = np.asarray(Y, np.float64)
        ll = np.asarray(jax.jit(jax.vmap(lambda r: kalman_filter(y, r, 1.0, 1.0, 0.25, 0.0, 1.0 / (1 - r**2))
                                         .log_likelihood))(jnp.asarray(grid)))
    w = np.exp(ll - ll.max())
    w /= w.sum()
    mean = np.sum(w * grid)
    return mean, np.sqrt(np.sum(w * (grid - mean) ** 2))


@pytest.mark.slow
def test_pmmh_matches_exact_likelihood_posterior():
    """PMMH (N = 100) posterior of rho vs the exact (Kalman, grid) posterior:
    |mean difference| < 4 MCSE (ArviZ, 4 chains), sd within 25%, R-hat < 1.05."""
    mean, sd = _exact_rho_posterior()
    res = pmmh(jax.random.PRNGKey(0), _ar1_model(), Y, _log_prior, jnp.array([0.5]), 1500, num_particles=100,
               num_chains=4, num_warmup=500, step_size=0.1, param_names=["rho"])
    idata = res.to_arviz()
    assert set(idata.groups()) >= {"posterior", "sample_stats"}
    mcse = float(az.mcse(idata, var_names=["rho"])["rho"])
    est = res.samples[..., 0]
    assert abs(est.mean() - mean) < 4 * mcse, (est.mean(), mean, mcse)
    assert 0.75 < est.std() / sd < 1.33
    assert float(az.rhat(idata)["rho"]) < 1.05
    assert np.all((res.acceptance_rate > 0.05) & (res.acceptance_rate < 0.9))
    assert "log_likelihood_estimate" in idata.sample_stats


@pytest.mark.slow
def test_particle_gibbs_smoothing_and_parameter_vs_exact():
    """PG with ancestor sampling (N = 10): smoothing means vs the Kalman smoother (z-tests with
    ArviZ MCSE, Bonferroni over T at 1e-3) at fixed rho; rho posterior vs the grid posterior."""
    sm = LinearGaussian.ar1(0.9, 1.0, 0.5).kalman_smoother(Y)
    res = particle_gibbs(jax.random.PRNGKey(1), LG.to_ssm(), Y, 400, num_particles=10, num_chains=4,
                         num_warmup=50)
    idata = res.to_arviz()
    x = idata.posterior["x"]
    mcse = np.asarray(az.mcse(idata, var_names=["x"])["x"])
    z = np.abs(np.asarray(x.mean(("chain", "draw"))) - np.asarray(sm.smoothed_means[:, 0])) / mcse
    assert z.max() < stats.norm.ppf(1 - 1e-3 / (2 * T)), z
    # Parameter updates (random-walk MH on the complete-data posterior).
    mean, sd = _exact_rho_posterior()
    res2 = particle_gibbs(jax.random.PRNGKey(2), _ar1_model(), Y, 1000, log_prior=_log_prior,
                          initial_theta=jnp.array([0.5]), num_particles=10, num_chains=4, num_warmup=200,
                          step_size=0.1, param_names=["rho"])
    id2 = res2.to_arviz()
    mc = float(az.mcse(id2, var_names=["rho"])["rho"])
    assert abs(res2.samples.mean() - mean) < 4 * mc, (res2.samples.mean(), mean, mc)


def test_backward_simulation_vs_kalman_smoother():
    """FFBS draws averaged over 6 independent filters (N = 300, 100 draws each) vs the Kalman
    smoother; SE from the spread over filters, Bonferroni over T at 1e-3."""
    sm = np.asarray(LG.kalman_smoother(Y).smoothed_means[:, 0])
    model = LG.to_ssm()

    @jax.jit
    def one(k):
        k1, k2 = jax.random.split(k)
        from probinf.filtering import particle_filter_core

        res = particle_filter_core(k1, model, Y, 300, return_history=True)
        return backward_sample(k2, model, res, 100).mean(0)

    means = np.stack([np.asarray(one(k)) for k in jax.random.split(jax.random.PRNGKey(5), 6)])
    se = means.std(0, ddof=1) / np.sqrt(6)
    z = np.abs(means.mean(0) - sm) / se
    # t with 5 dof: Bonferroni over T = 40 at 1e-3 -> t quantile.
    assert z.max() < stats.t.ppf(1 - 1e-3 / (2 * T), df=5), z


def test_genealogy_and_shapes():
    res = particle_filter(jax.random.PRNGKey(0), LG.to_ssm(), Y, 50, return_history=True)
    tr = trace_genealogy(jax.random.PRNGKey(1), res, 7)
    assert tr.shape == (7, T)
    # The last state of a traced path is one of the final particles.
    assert np.isin(np.asarray(tr[:, -1]), np.asarray(res.history[-1])).all()


def test_bad_input():
    key = jax.random.PRNGKey(0)
    m = _ar1_model()
    with pytest.raises(ValueError, match="initial_theta"):
        pmmh(key, m, Y, _log_prior, jnp.array([1.5]), 10)
    with pytest.raises(ValueError, match="num_samples"):
        pmmh(key, m, Y, _log_prior, jnp.array([0.5]), 0)
    with pytest.raises(TypeError, match="log_prior"):
        pmmh(key, m, Y, 3.0, jnp.array([0.5]), 10)
    with pytest.raises(ValueError, match="shape"):
        pmmh(key, m, Y, _log_prior, jnp.ones((3, 1)) * 0.5, 10, num_chains=2)
    with pytest.raises(ValueError, match="num_particles"):
        pmmh(key, m, Y, _log_prior, jnp.array([0.5]), 10, num_particles=0)
    bare = StateSpaceModel(m.initial_sampler, m.transition_sampler, m.observation_log_density)
    with pytest.raises(ModelSpecificationError, match="transition_log_density"):
        particle_gibbs(key, bare, Y, 10)
    with pytest.raises(ValueError, match="initial_theta"):
        particle_gibbs(key, m, Y, 10, log_prior=_log_prior)
    with pytest.raises(ValueError, match="return_history"):
        backward_sample(key, m, particle_filter(key, LG.to_ssm(), Y, 10), 3)


def test_missing_densities_are_named_before_tracing():
    bare = StateSpaceModel(
        initial_sampler=lambda k, n, th: jax.random.normal(k, (n,)),
        transition_sampler=lambda k, x, t, th: 0.9 * x + jax.random.normal(k, x.shape),
        observation_log_density=lambda y, x, t, th: norm.logpdf(y, x, 0.5),
    )
    y, traj = jnp.zeros(4), jnp.zeros(4)
    with pytest.raises(ValueError, match="initial_log_density"):
        complete_data_log_density(bare, traj, y, None)
    with pytest.raises(ValueError, match="transition_log_density"):
        csmc_kernel(jax.random.key(0), bare, y, traj, 4)


def test_pmcmc_results_get_samples_and_print_summary_like_numpyro(capsys):
    """get_samples flattens (C, S) to C*S draws in chain order (or keeps it); print_summary prints NumPyro's table."""
    from probinf.gibbs import PGResult
    from probinf.pmcmc import PMMHResult

    rng = np.random.default_rng(0)
    samples = rng.normal(size=(2, 50, 2))
    acc = rng.random((2, 50)) < 0.3
    res = PMMHResult(samples, rng.normal(size=(2, 50)), rng.normal(size=(2, 50)), acc, np.eye(2), ("rho", "sigma"))
    flat = res.get_samples()
    assert set(flat) == {"rho", "sigma"} and flat["rho"].shape == (100,)
    np.testing.assert_array_equal(flat["sigma"], samples[..., 1].reshape(-1))
    np.testing.assert_array_equal(res.get_samples(group_by_chain=True)["rho"], samples[..., 0])
    res.print_summary()
    out = capsys.readouterr().out
    assert "PMMH: 2 chain(s) x 50 draws" in out and "rho" in out and "r_hat" in out

    traj = rng.normal(size=(2, 50, 7))
    pg = PGResult(samples[..., :1], traj, acc, ("rho",))
    got = pg.get_samples()
    assert got["x"].shape == (100, 7) and got["rho"].shape == (100,)
    np.testing.assert_array_equal(pg.get_samples(group_by_chain=True)["x"], traj)
    pg.print_summary()
    assert "particle Gibbs: 2 chain(s) x 50 draws" in capsys.readouterr().out
    PGResult(None, traj, acc, ()).print_summary()
    assert "no parameters" in capsys.readouterr().out
