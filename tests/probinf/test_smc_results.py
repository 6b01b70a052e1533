"""NumPyro/ArviZ-style results of probinf.smc: get_samples, print_summary, to_arviz groups that
az.loo / az.compare need, immutability, and the progress bar switch."""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from scipy.stats import norm

import probinf
import probinf.numpyro_bridge as bridge
from probinf.progress import enabled

Y = jnp.asarray(np.random.default_rng(0).normal(0.7, 1.0, size=12), jnp.float32)


def model(y, prior_scale=1.0):
    mu = numpyro.sample("mu", dist.Normal(0.0, prior_scale))
    numpyro.deterministic("mu2", mu * 2.0)
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


@pytest.fixture(scope="module")
def res():
    # prior_scale as an array: the wide-prior run below reuses the same compiled program
    return probinf.smc(model, Y, jnp.asarray(1.0), key=0, num_particles=256, num_mcmc_steps=3)


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def test_get_samples_shapes_and_values(res):
    s = res.get_samples()
    assert set(s) == {"mu", "mu2"} and s["mu"].shape == (256,)
    np.testing.assert_allclose(s["mu2"], 2 * s["mu"], rtol=1e-5)
    g = res.get_samples(group_by_chain=True)
    assert g["mu"].shape == (1, 256)
    np.testing.assert_array_equal(g["mu"][0], s["mu"])


def test_get_samples_chains_concatenate():
    keys = jax.random.split(jax.random.key(1), 3)
    r = probinf.smc(model, Y, key=keys, num_particles=64, num_mcmc_steps=2)
    assert r.get_samples(group_by_chain=True)["mu"].shape == (3, 64)
    assert r.get_samples()["mu"].shape == (192,)


def test_print_summary_table(res, capsys):
    res.print_summary()
    out = capsys.readouterr().out
    assert "log evidence" in out and "mu" in out and "r_hat" in out and "n_eff" in out
    assert "mu2" not in out  # deterministic sites excluded by default, as in NumPyro


def test_to_arviz_groups_and_pointwise_log_likelihood(res):
    idata = res.to_arviz()
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data"):
        assert hasattr(idata, group), group
    mu = idata.posterior["mu"].values  # (1, N)
    ll = idata.log_likelihood["y"].values  # (1, N, 12)
    assert ll.shape == (1, 256, 12)
    # pointwise log-likelihood at each draw: log N(y_i | mu, 1), exactly
    np.testing.assert_allclose(ll[0], norm.logpdf(np.asarray(Y)[None, :], mu[0][:, None], 1.0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(idata.observed_data["y"].values, np.asarray(Y))
    st = idata.sample_stats
    for name in ("log_evidence", "ess", "acceptance_rate", "ess_per_step", "acceptance_rate_per_step",
                 "log_evidence_increment_per_step", "exponent_per_step"):
        assert name in st, name
    k = int(res.num_steps)
    np.testing.assert_allclose(st["ess_per_step"].values[0, 0, :k], res.ess)
    np.testing.assert_allclose(st["log_evidence_increment_per_step"].values[0, 0, :k].sum(),
                               float(res.log_evidence), rtol=1e-5)


def test_az_loo_and_compare_work(res):
    az = _az()
    wide = probinf.smc(model, Y, jnp.asarray(10.0), key=0, num_particles=256, num_mcmc_steps=3)
    loo = az.loo(res.to_arviz())
    assert np.isfinite(loo.elpd_loo)
    # the exact elpd of one-at-a-time prediction is close to the log evidence per point here
    cmp = az.compare({"unit prior": res.to_arviz(), "wide prior": wide.to_arviz()})
    assert set(cmp.index) == {"unit prior", "wide prior"}


def test_results_are_immutable(res):
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.log_evidence = 0.0
    with pytest.raises(ValueError):
        np.asarray(res.particles["mu"])[0] = 1.0
    with pytest.raises(ValueError):
        res.log_weights[0] = 0.0


def test_progress_switch(monkeypatch):
    monkeypatch.delenv("PROBINF_PROGRESS", raising=False)
    monkeypatch.setenv("CI", "true")
    assert not enabled()
    monkeypatch.delenv("CI")
    assert enabled()
    monkeypatch.setenv("PROBINF_PROGRESS", "0")
    assert not enabled()
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("PROBINF_PROGRESS", "1")
    assert enabled()


def test_progress_bar_ticks_once_per_tempering_step(monkeypatch):
    bars = []

    class Bar:
        def __init__(self, **kwargs):
            self.n, self.disable = 0, kwargs.get("disable")
            bars.append(self)

        def update(self, k):
            self.n += k

        def set_postfix(self, **kwargs):
            pass

        def close(self):
            pass

    monkeypatch.setattr(bridge, "_progress", lambda **kw: Bar(**kw))
    r = probinf.smc(model, Y, jnp.asarray(1.0), key=0, num_particles=256, num_mcmc_steps=3, progress_bar=True)
    assert bars[-1].n == int(r.num_steps) and bars[-1].disable is False
    probinf.smc(model, Y, jnp.asarray(1.0), key=0, num_particles=256, num_mcmc_steps=3, progress_bar=False)
    assert bars[-1].disable is True
