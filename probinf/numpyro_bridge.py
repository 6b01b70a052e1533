r"""Tempered SMC on NumPyro models: ``probinf.smc(model, *args, key, num_particles, **kwargs)``.

The model's sample sites are split with effect handlers:

- **prior** :math:`\log p(z)`: every latent (unobserved) sample site, evaluated at
  the constrained value :math:`x = T(z)`, plus the log-det-Jacobian
  :math:`\log|\det \partial T / \partial z|` of the bijection to its support
  (NumPyro's own ``_unconstrain_params`` handler adds it as a ``_<site>_log_det``
  factor, exactly as in NUTS's potential energy);
- **likelihood** :math:`\log L(z)`: every observed site, including
  ``numpyro.factor`` terms.

SMC runs in NumPyro's unconstrained space (``biject_to(site.support)``), starting
from prior draws of the model pushed through the inverse transforms; the result
holds the samples in the constrained space (deterministic sites included, via
``numpyro.infer.util.constrain_fn``) and the unconstrained ones.

So tempering multiplies only observed-site densities by :math:`\lambda`; the
evidence estimated is :math:`p(\text{observed data})`.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions import ImproperUniform
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import compute_log_probs, constrain_fn, unconstrain_fn

from probinf.exceptions import ModelSpecificationError
from probinf.results import SMCResult
from probinf.tempered import _check_positive_int, tempered_smc

try:  # the handler NumPyro's potential_energy uses (adds the log-det-Jacobian factors)
    from numpyro.infer.util import _unconstrain_params
except ImportError:  # pragma: no cover - older/newer NumPyro
    _unconstrain_params = None

__all__ = ["smc", "split_log_density"]


def _base_fn(fn):
    while True:
        inner = getattr(fn, "base_dist", None)
        if inner is None:
            return fn
        fn = inner


def _inspect(model, args, kwargs, key):
    try:
        tr = handlers.trace(handlers.seed(model, key)).get_trace(*args, **kwargs)
    except NotImplementedError:  # e.g. ImproperUniform cannot be sampled: trace with stand-in values
        tr = handlers.trace(handlers.substitute(handlers.seed(model, key), substitute_fn=init_to_uniform)).get_trace(
            *args, **kwargs)
    latent, observed, discrete, improper, subsampled, nonfinite = [], [], [], [], [], []
    for name, site in tr.items():
        if site["type"] == "plate":
            size, sub = site["args"][0], site["args"][1]
            if sub is not None and sub < size:
                subsampled.append(f"{name} (size {size}, subsample_size {sub})")
        if site["type"] != "sample":
            continue
        if site["is_observed"]:
            observed.append(name)
            val = site["value"]
            if not isinstance(val, jax.core.Tracer) and np.issubdtype(np.asarray(val).dtype, np.floating):
                if not np.all(np.isfinite(np.asarray(val))):
                    nonfinite.append(f"{name} ({int(np.sum(~np.isfinite(np.asarray(val))))} non-finite values)")
            continue
        latent.append(name)
        if site["fn"].support.is_discrete:
            discrete.append(f"{name} ({type(site['fn']).__name__})")
        if isinstance(_base_fn(site["fn"]), ImproperUniform):
            improper.append(name)
    if not observed:
        raise ModelSpecificationError(
            "the model has no observed site (no `obs=` and no numpyro.factor): tempered SMC needs a "
            "likelihood to temper; pass the data to the model so that its likelihood sites are observed"
        )
    if not latent:
        raise ModelSpecificationError("the model has no latent sample site: there is nothing to infer")
    if nonfinite:
        raise ModelSpecificationError(
            f"observed site(s) {nonfinite} contain NaN or inf: the log-density at initialization would not be "
            "finite; drop or impute missing observations (e.g. with numpyro.handlers.mask)"
        )
    if discrete:
        raise ModelSpecificationError(
            f"discrete latent site(s) {discrete}: probinf.smc moves particles with continuous MCMC kernels; "
            "marginalize them out (e.g. with a mixture likelihood) or make them observed"
        )
    if improper:
        raise ModelSpecificationError(
            f"improper prior at site(s) {improper} (ImproperUniform): tempered SMC starts from prior draws, "
            "which an improper prior cannot provide; give these sites a proper prior"
        )
    if subsampled:
        raise ModelSpecificationError(
            f"subsampled plate(s) {subsampled}: the likelihood would be a random estimate; use full plates"
        )
    return latent, observed


def split_log_density(model, model_args=(), model_kwargs=None, latent=None):
    r"""``(log_prior, log_likelihood, site_log_probs)`` functions of an unconstrained params dict.

    ``log_prior(z)`` sums the latent sites' log-densities at :math:`T(z)` and the
    log-det-Jacobians; ``log_likelihood(z)`` sums the observed sites;
    ``site_log_probs(z)`` returns the per-site dict (for error messages).
    """
    if _unconstrain_params is None:  # pragma: no cover
        raise ImportError("this NumPyro version lacks numpyro.infer.util._unconstrain_params")
    model_kwargs = {} if model_kwargs is None else model_kwargs

    def site_log_probs(z):
        lps, tr = compute_log_probs(_unconstrain_params(model, z), model_args, model_kwargs, {})
        return lps, tr

    latent = set(z for z in (latent or ()))

    def is_prior(name, site):
        if name in latent:
            return True
        return name.startswith("_") and name.endswith("_log_det") and name[1:-8] in latent

    def log_prior(z):
        lps, tr = site_log_probs(z)
        return sum((v for k, v in lps.items() if is_prior(k, tr[k])), start=jnp.zeros(()))

    def log_likelihood(z):
        lps, tr = site_log_probs(z)
        return sum((v for k, v in lps.items() if not is_prior(k, tr[k])), start=jnp.zeros(()))

    return log_prior, log_likelihood, (lambda z: site_log_probs(z)[0])


def smc(model, *args, key, num_particles: int, kernel=None, target_ess: float = 0.5, schedule=None,
        waste_free: bool = False, num_mcmc_steps: int = 10, resampling: str = "systematic",
        resample_threshold=None, max_steps: int = 500, tune_on: str = "previous", **kwargs) -> SMCResult:
    r"""Tempered SMC on a NumPyro model with continuous latent sites; returns posterior draws and log-evidence.

    Parameters
    ----------
    model : callable
        A NumPyro model; data enter through ``obs=`` (observed sites) and
        ``numpyro.factor``.
    *args, **kwargs
        Model arguments (keyword arguments not listed below go to the model).
    key : jax PRNG key (or a batch (C,) of keys for C vectorized runs)
    num_particles : int
        N > 0.
    kernel, target_ess, schedule, waste_free, num_mcmc_steps, resampling, resample_threshold, max_steps, tune_on
        As in :func:`probinf.tempered_smc` (kernels act in the unconstrained space).

    Returns
    -------
    SMCResult
        ``particles``: dict site -> constrained draws ``(N, *site_shape)``
        (deterministic sites included); ``unconstrained``: the same in
        unconstrained space; ``log_evidence``: :math:`\log \hat p(y)`;
        ``.to_arviz()`` for ArviZ.

    Raises
    ------
    ModelSpecificationError
        No observed site, a discrete latent site, an improper prior, a
        subsampled plate, or a non-finite log-density at the prior draws (the
        offending sites are named).

    Example
    -------
    >>> import jax, numpyro, numpyro.distributions as dist, probinf
    >>> def model(y):
    ...     p = numpyro.sample("p", dist.Beta(2.0, 2.0))
    ...     numpyro.sample("y", dist.Binomial(10, p), obs=y)
    >>> res = probinf.smc(model, 7, key=jax.random.key(0), num_particles=500, num_mcmc_steps=5)
    >>> bool(abs(res.particles["p"].mean() - 9 / 14) < 0.05)
    True
    """
    num_particles = _check_positive_int(num_particles, "num_particles")
    keys = jnp.asarray(key)
    batched = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) and keys.ndim == 1
    first = keys[0] if batched else keys
    latent, observed = _inspect(model, args, kwargs, jax.random.fold_in(first, 7))
    log_prior, log_lik, site_lps = split_log_density(model, args, kwargs, latent)

    def draw_one(k):
        tr = handlers.trace(handlers.seed(model, k)).get_trace(*args, **kwargs)
        x = {n: tr[n]["value"] for n in latent}
        return unconstrain_fn(model, args, kwargs, x)

    def prior_sampler(k, n):
        return jax.vmap(draw_one)(jax.random.split(k, n))

    def describe(z):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lps = site_lps(z)
        bad = {k: float(np.sum(v)) for k, v in lps.items() if not np.isfinite(np.sum(v))}
        names = {(k[1:-8] + " (log-det-Jacobian)" if k.endswith("_log_det") else k): v for k, v in bad.items()}
        return f"; non-finite log-density at site(s) {names}" if names else ""

    res = tempered_smc(keys, log_prior, log_lik, prior_sampler, num_particles, kernel=kernel,
                       target_ess=target_ess, schedule=schedule, waste_free=waste_free,
                       num_mcmc_steps=num_mcmc_steps, resampling=resampling,
                       resample_threshold=resample_threshold, max_steps=max_steps, tune_on=tune_on,
                       _describe=describe)
    z = res.particles
    res.unconstrained = z
    res.particles = constrain_fn(model, args, kwargs, z, return_deterministic=True, batch_ndims=2 if batched else 1)
    res.sampler = "probinf.smc"
    res.extra = {"latent_sites": latent, "observed_sites": observed}
    return res
