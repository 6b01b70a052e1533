"""Checks of probinf.distributed on 4 forced host devices; run as a script by test_distributed.py.

Run in a fresh process (the device count is fixed when JAX initializes).  Prints one
``OK <name>`` line per check and exits non-zero on the first failure.
"""

import os
import re
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import probinf  # noqa: E402
from probinf.distributed import (  # noqa: E402
    particle_mesh,
    sharded_particle_filter,
    sharded_particle_gibbs,
    sharded_pmmh,
    sharded_resample,
    sharded_resample_particles,
)
from probinf.distributed import resampling as dres  # noqa: E402
from probinf.kalman import LinearGaussian  # noqa: E402
from probinf.resampling import RESAMPLING_FROM_UNIFORMS  # noqa: E402

D = 4
MESH = particle_mesh()
assert len(jax.devices()) == D, jax.devices()


def ok(name):
    print("OK", name, flush=True)


def big_gathers(hlo_text, max_elems):
    """Shapes of all-gather results with more than ``max_elems`` elements (a gather of particles)."""
    bad = []
    for line in hlo_text.splitlines():
        if "all-gather(" not in line and "all-gather-start(" not in line:
            continue
        m = re.search(r"=\s*\(?\s*[a-z0-9]+\[([0-9,]*)\]", line)
        dims = [int(x) for x in m.group(1).split(",") if x] if m else []
        if int(np.prod(dims)) > max_elems:
            bad.append(line.strip()[:160])
    return bad


# ------------------------------------------------------------------ exact enumeration over u
def systematic_law(fn, w):
    """Exact law of the ancestor vector as a function of u: {ancestors: probability}."""
    n = len(w)
    c = np.cumsum(np.asarray(w, np.float64)) * n
    cuts = np.unique(np.concatenate([[0.0, 1.0], c - np.floor(c)]))
    cuts = cuts[(cuts >= 0) & (cuts <= 1)]
    law = {}
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b - a < 1e-4:  # too thin to probe in float32: its mass is bounded below
            continue
        anc = tuple(int(i) for i in np.asarray(fn(jnp.float32((a + b) / 2))))
        law[anc] = law.get(anc, 0.0) + (b - a)
    return law, c


def check_enumeration():
    w = np.array([0.07, 0.0, 0.23, 0.05, 0.15, 0.2, 0.0, 0.3])
    lw = jnp.log(jnp.asarray(w, jnp.float32))
    lw_sh = jax.device_put(lw, jax.sharding.NamedSharding(MESH, P("particles")))
    sharded = systematic_law(lambda u: dres.systematic_from_uniform(lw_sh, u, MESH), w)[0]
    single, c = systematic_law(lambda u: RESAMPLING_FROM_UNIFORMS["systematic"](lw, 8, u), w)
    assert sharded.keys() == single.keys(), (sharded, single)
    assert all(abs(sharded[k] - single[k]) < 1e-9 for k in single)
    mean_counts = sum(p * np.bincount(k, minlength=8) for k, p in sharded.items())
    assert np.allclose(mean_counts, 8 * w, atol=1e-3), (mean_counts, 8 * w)  # thin cells: < 1e-4 each
    ok("systematic law equals single-device law by exact enumeration (N=8 on 4 shards)")

    # negative control: drop the cross-shard offsets (each shard resamples as if alone)
    orig = dres._shard_offsets
    dres._shard_offsets = lambda wl, fl, axis: (jnp.zeros_like(wl), jnp.zeros_like(fl))
    dres.systematic_from_uniform.clear_cache() if hasattr(dres.systematic_from_uniform, "clear_cache") else None
    try:
        broken = systematic_law(lambda u: dres.systematic_from_uniform(lw_sh, u + 1e-7, MESH), w)[0]
    finally:
        dres._shard_offsets = orig
        jax.clear_caches()
    assert broken != single, "the enumeration check cannot tell broken shard offsets apart"
    ok("negative control: zeroed shard offsets change the enumerated law")


def check_same_draws_and_sharding():
    n = 4096
    lw = jax.random.normal(jax.random.PRNGKey(5), (n,)) * 2.0
    key = jax.random.PRNGKey(11)
    a1 = np.asarray(probinf.resample(key, lw))
    a4 = sharded_resample(key, lw, MESH)
    assert a4.sharding.spec == P("particles") and len(a4.addressable_shards) == D, a4.sharding
    same = np.mean(a1 == np.asarray(a4))
    assert same > 0.99, same
    a_hook = probinf.resample(key, lw, mesh=MESH)
    assert np.array_equal(np.asarray(a_hook), np.asarray(a4))
    ok(f"systematic draws equal single-device draws with the same key ({same:.4%} of slots); sharded output")

    x = {"a": jnp.arange(n, dtype=jnp.float32), "b": jnp.ones((n, 3))}
    xs, anc = sharded_resample_particles(key, x, lw, MESH, "stratified")
    assert xs["a"].sharding.spec == P("particles") and xs["b"].sharding.spec == P("particles")
    assert np.array_equal(np.asarray(xs["a"]), np.asarray(anc).astype(np.float32))
    assert np.all(np.diff(np.asarray(anc)) >= 0)
    hlo = dres._resample_jit.lower(key, lw, x, MESH, "stratified", D, "particles").compile().as_text()
    assert "all-to-all" in hlo
    assert not big_gathers(hlo, D), big_gathers(hlo, D)
    ok("resampled particles stay sharded; compiled program all-gathers only D-vectors")

    # the gather check can fail: a plain cumsum over a sharded axis is compiled to an all-gather
    sh = jax.sharding.NamedSharding(MESH, P("particles"))
    naive = jax.jit(jnp.cumsum).lower(jax.device_put(lw, sh)).compile().as_text()
    assert big_gathers(naive, D), "negative control: expected an all-gather of the particle axis"
    ok("negative control: the gather detector flags a naive sharded cumsum")


def check_stratified_unbiased():
    w = np.array([0.07, 0.0, 0.23, 0.05, 0.15, 0.2, 0.0, 0.3])
    lw = jnp.log(jnp.asarray(w, jnp.float32))
    reps = 400
    counts = np.stack([np.bincount(np.asarray(sharded_resample(k, lw, MESH, "stratified")), minlength=8)
                       for k in jax.random.split(jax.random.PRNGKey(2), reps)])
    se = counts.std(0, ddof=1) / np.sqrt(reps)
    z = np.abs(counts.mean(0) - 8 * w) / np.maximum(se, 1e-12)
    # two-sided, Bonferroni over 8 particles: false-failure rate < 8 * 6e-5
    assert np.all((z < 4.0) | (se == 0) & np.isclose(counts.mean(0), 8 * w)), (counts.mean(0), z)
    assert np.all(counts.sum(1) == 8)
    ok("stratified: offspring counts unbiased (z < 4 with Bonferroni)")


# ------------------------------------------------------------------ particle filters vs Kalman
def check_filters():
    lg = LinearGaussian.ar1(rho=0.9, sigma_x=1.0, sigma_y=1.0)
    t_len, n, reps = 20, 256, 30
    _, y = lg.simulate(jax.random.PRNGKey(0), t_len)
    exact = float(lg.kalman_filter(y).log_likelihood)
    ssm = lg.to_ssm()
    keys = jax.random.split(jax.random.PRNGKey(7), reps)
    res = sharded_particle_filter(keys[0], ssm, y, n, MESH)
    assert res.final.particles.sharding.spec == P("particles"), res.final.particles.sharding
    assert len(res.final.particles.addressable_shards) == D
    hook = probinf.particle_filter(keys[0], ssm, y, n, mesh=MESH)
    assert float(hook.log_evidence) == float(res.log_evidence)
    from probinf.distributed.filtering import _pf_sharded
    hlo = _pf_sharded.lower(keys[0], y, None, model=ssm, proposal=None, mesh=MESH, n=n // D,
                            resampling="systematic", thr=0.5, interaction="global",
                            exchange_every=None).compile().as_text()
    assert not big_gathers(hlo, D), big_gathers(hlo, D)
    ok("sharded filter: final particles sharded, no all-gather beyond D-vectors")

    runs = {
        "single": lambda k: probinf.particle_filter(k, ssm, y, n).log_evidence,
        "global": lambda k: sharded_particle_filter(k, ssm, y, n, MESH).log_evidence,
        "island": lambda k: sharded_particle_filter(k, ssm, y, n, MESH, interaction="island").log_evidence,
        "island-exchange": lambda k: sharded_particle_filter(k, ssm, y, n, MESH, interaction="island",
                                                             exchange_every=5).log_evidence,
    }
    out = {name: np.array([float(f(k)) for k in keys]) for name, f in runs.items()}
    for name, lz in out.items():
        ratio = np.exp(lz - exact)  # Z_hat / Z is unbiased for 1
        se = ratio.std(ddof=1) / np.sqrt(reps)
        # one-sample z-test per mode, 4 modes: |z| < 3.5 -> false failures < 4 * 5e-4
        assert abs(ratio.mean() - 1.0) < 3.5 * se + 1e-3, (name, ratio.mean(), se)
        print(f"  {name:16s} mean Zhat/Z = {ratio.mean():.4f} +- {se:.4f}; sd(log Zhat) = {lz.std(ddof=1):.4f}")
    a, b = out["single"], out["global"]
    se = np.sqrt(a.var(ddof=1) / reps + b.var(ddof=1) / reps)
    assert abs(a.mean() - b.mean()) < 3.5 * se, (a.mean(), b.mean(), se)
    ok("Kalman evidence: every mode unbiased for Z; sharded global log Zhat agrees in law with one device")

    # negative control: an island filter that drops the island masses (averages log Z) is not unbiased for Z
    try:
        sharded_particle_filter(keys[0], ssm, y, n, MESH, interaction="global", resampling="multinomial")
    except ValueError as e:
        assert "sharded" in str(e)
    else:
        raise AssertionError("multinomial with a global mesh must be refused")
    ok("bad input: unsupported sharded scheme refused with a clear ValueError")


# ------------------------------------------------------------------ chains
def check_chains():
    from jax.scipy.stats import norm

    ar = probinf.StateSpaceModel(lambda k, m, th: jax.random.normal(k, (m,)),
                                 lambda k, x, t, th: th[0] * x + jax.random.normal(k, x.shape),
                                 lambda yy, x, t, th: norm.logpdf(yy, x, 0.5))
    y = jnp.sin(jnp.arange(12.0))
    lp = lambda th: jnp.where(jnp.abs(th[0]) < 1, 0.0, -jnp.inf)  # noqa: E731
    import probinf.pmcmc as pm

    seen = []
    orig = pm._pmmh_run

    def spy(*args, **kw):
        out = orig(*args, **kw)
        seen.append(out[0].sharding)
        return out

    pm._pmmh_run = spy
    try:
        r4 = sharded_pmmh(3, ar, y, lp, jnp.array([0.5]), 8, MESH, num_chains=8, num_particles=32, adapt=False)
    finally:
        pm._pmmh_run = orig
    r1 = probinf.pmmh(jax.random.PRNGKey(3), ar, y, lp, jnp.array([0.5]), 8, num_chains=8, num_particles=32,
                      adapt=False)
    assert seen and len(seen[0].device_set) == D and not seen[0].is_fully_replicated, seen
    assert np.allclose(r4.samples, r1.samples) and np.allclose(r4.log_likelihood, r1.log_likelihood, atol=1e-4)
    ok("PMMH: chains sharded over 4 devices, same draws as one device")

    lg = LinearGaussian.ar1()
    _, y2 = lg.simulate(jax.random.PRNGKey(0), 10)
    traj = jnp.zeros((10,))
    g4 = sharded_particle_gibbs(4, lg.to_ssm(), y2, 6, MESH, initial_trajectory=traj, num_particles=16)
    g1 = probinf.particle_gibbs(jax.random.PRNGKey(4), lg.to_ssm(), y2, 6, num_chains=D, num_particles=16,
                                initial_trajectory=traj)
    assert np.allclose(g4.trajectories, g1.trajectories, atol=1e-5)
    ok("particle Gibbs: chains sharded, same draws as one device")


# ------------------------------------------------------------------ tempered SMC vs a conjugate model
def check_tempered():
    from jax.scipy.stats import norm
    from scipy.stats import multivariate_normal

    from probinf.distributed.tempered import sharded_tempered_smc

    y = np.array([[1.0, -0.5], [0.8, -0.2], [1.3, -0.4]])
    m, s = len(y), 0.5
    # per coordinate: y_{.,j} ~ N(0, s^2 I + 1 1^T); the two coordinates are independent
    cov = s**2 * np.eye(m) + np.ones((m, m))
    exact = sum(multivariate_normal(np.zeros(m), cov).logpdf(y[:, j]) for j in range(2))
    post_mean = y.sum(0) / s**2 / (1 + m / s**2)
    lp = lambda t: norm.logpdf(t).sum()  # noqa: E731
    ll = lambda t: norm.logpdf(jnp.asarray(y), t, s).sum()  # noqa: E731
    reps, n = 12, 512
    lz, means = [], []
    for k in jax.random.split(jax.random.PRNGKey(3), reps):
        k0, k1 = jax.random.split(k)
        r = sharded_tempered_smc(k1, lp, ll, jax.random.normal(k0, (n, 2)), MESH)
        assert r.positions.sharding.spec == P("particles") and len(r.positions.addressable_shards) == D
        lz.append(float(r.log_evidence))
        means.append(np.asarray(r.positions).mean(0))
    ratio = np.exp(np.array(lz) - exact)
    se = ratio.std(ddof=1) / np.sqrt(reps)
    assert abs(ratio.mean() - 1.0) < 3.5 * se + 0.02, (ratio.mean(), se)
    means = np.array(means)
    # posterior sd 1/sqrt(13) per coordinate; a mean of 512 correlated SMC particles: tolerance 4 * 0.28 / sqrt(512/8)
    assert np.all(np.abs(means.mean(0) - post_mean) < 4 * 0.28 / np.sqrt(reps * n / 8)), (means.mean(0), post_mean)
    ok("sharded tempered SMC: Z-hat unbiased and posterior mean exact on a conjugate Gaussian model")

    res = probinf.tempered_smc(jax.random.PRNGKey(9), lp, ll, lambda k, m: jax.random.normal(k, (m, 2)), 512,
                               mesh=MESH)
    assert res.particles.sharding.spec == P("particles") and res.exponents[-1] == 1.0
    assert abs(float(res.log_evidence) - exact) < 1.0 and len(res.ess) == res.num_steps
    ok("tempered_smc(mesh=) returns an SMCResult with sharded particles")


if __name__ == "__main__":
    only = sys.argv[1:]
    for name, fn in list(globals().items()):
        if name.startswith("check_") and (not only or name in only):
            fn()
    print("ALL OK")
