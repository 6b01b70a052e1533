"""probinf.distributed on 4 forced host CPU devices, checked in a subprocess.

The main pytest process has already initialized JAX with one device, and the
device count cannot change afterwards, so every multi-device check runs in one
fresh interpreter (``distributed_checks.py``, several checks per process to pay
JAX's start-up once).  What is checked there: exact-enumeration law of sharded
systematic resampling against the single-device law (plus a negative control that
zeroes the cross-shard offsets), the same draws as one device with the same key,
unbiased stratified counts, outputs really sharded (``.sharding``), no all-gather of
more than ``D`` elements in the compiled programs (plus a negative control), the
Kalman evidence for the global and island filters, and PMMH / particle-Gibbs chains
sharded with the single-device draws.
"""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from probinf.distributed import particle_mesh, sharded_particle_filter, sharded_resample
from probinf.kalman import LinearGaussian

SCRIPT = Path(__file__).with_name("distributed_checks.py")


@pytest.mark.slow
def test_distributed_checks_on_four_forced_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    env["JAX_PLATFORMS"] = "cpu"
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and "ALL OK" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-4000:]
    checks = [line for line in proc.stdout.splitlines() if line.startswith("OK ")]
    assert len(checks) == 13, proc.stdout  # every check (and negative control) of the script ran


def test_one_device_mesh_runs_in_process():
    mesh = particle_mesh()
    lg = LinearGaussian.ar1(rho=0.9, sigma_x=1.0, sigma_y=0.5)
    _, y = lg.simulate(jax.random.PRNGKey(0), 10)
    res = sharded_particle_filter(0, lg.to_ssm(), y, 64, mesh)
    assert abs(float(res.log_evidence) - float(lg.kalman_filter(y).log_likelihood)) < 3.0
    anc = sharded_resample(0, jax.numpy.zeros(8), mesh)
    assert sorted(anc.tolist()) == list(range(8))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(mesh="cpu"), TypeError, "jax.sharding.Mesh"),
        (dict(interaction="ring"), ValueError, "interaction"),
        (dict(exchange_every=3), ValueError, "island"),
        (dict(interaction="island", exchange_every=0), ValueError, "exchange_every"),
        (dict(resampling="residual"), ValueError, "no exact sharded form"),
        (dict(mesh=Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("a", "b"))), ValueError, "exactly one axis"),
    ],
)
def test_bad_input_is_refused(kwargs, exc, match):
    lg = LinearGaussian.ar1()
    _, y = lg.simulate(jax.random.PRNGKey(0), 5)
    args = dict(key=0, model=lg.to_ssm(), observations=y, num_particles=64, mesh=particle_mesh())
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        sharded_particle_filter(**args)


def test_numpyro_smc_on_a_mesh_matches_the_conjugate_answer():
    """probinf.smc(mesh=) on a Beta-Binomial model: posterior mean and log evidence against the closed form.

    Beta(2, 3) prior, y = 14 of n = 20: posterior Beta(16, 9), mean 16/25; evidence C(20,14) B(16, 9) / B(2, 3).
    N = 2000: the posterior mean's Monte Carlo sd is about sd/sqrt(N/2) = 0.0021 (resample-move, ESS >= N/2),
    so 0.012 is > 5 sd; log Z-hat's spread at this N is about 0.05 (tempered SMC, 1-d), so 0.25 is > 5 sd.
    """
    import numpyro
    import numpyro.distributions as dist
    from scipy.special import betaln, gammaln

    import probinf

    def model(n, y=None):
        p = numpyro.sample("p", dist.Beta(2.0, 3.0))
        numpyro.sample("y", dist.Binomial(n, p), obs=y)

    res = probinf.smc(model, 20, y=14, key=0, num_particles=2000, mesh=particle_mesh())
    exact_log_z = (gammaln(21) - gammaln(15) - gammaln(7)) + betaln(16, 9) - betaln(2, 3)
    assert abs(float(res.particles["p"].mean()) - 16 / 25) < 0.012
    assert abs(float(res.log_evidence) - exact_log_z) < 0.25, (float(res.log_evidence), exact_log_z)
    assert res.pointwise_log_likelihood["y"].shape == (2000,)
    assert res.extra["sharded_particles"].sharding.mesh.shape == particle_mesh().shape
    with pytest.raises(ValueError, match="mesh="):
        probinf.smc(model, 20, y=14, key=0, num_particles=64, mesh=particle_mesh(), waste_free=True)
