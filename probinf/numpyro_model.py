r"""A NumPyro model as two densities on its unconstrained latents: the prior and the likelihood.

Used by :func:`probinf.smc` (:mod:`probinf.numpyro_bridge`, which re-exports :func:`split_log_density`); the
split is described there: latent sites and their log-det-Jacobians make the prior, observed sites and
``numpyro.factor`` terms the likelihood.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray
from numpyro import handlers
from numpyro.distributions import ImproperUniform
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import compute_log_probs

from probinf.exceptions import ModelSpecificationError

try:  # the handler NumPyro's potential_energy uses (adds the log-det-Jacobian factors)
    from numpyro.infer.util import _unconstrain_params
except ImportError:  # pragma: no cover - older/newer NumPyro
    _unconstrain_params = None

__all__ = ["split_log_density", "inspect_model", "Model", "Params", "Density"]

Model = Callable[..., Any]
Params = dict[str, jax.Array]
Density = Callable[[Params], jax.Array]


def _base_fn(fn: Any) -> Any:
    while True:
        inner = getattr(fn, "base_dist", None)
        if inner is None:
            return fn
        fn = inner


def inspect_model(model: Model, args: Sequence[Any], kwargs: dict[str, Any],
                  key: jax.Array) -> tuple[list[str], list[str], dict[str, NDArray[Any]]]:
    """One seeded trace of ``model``: its latent site names, observed site names and observed values.

    Raises :class:`~probinf.exceptions.ModelSpecificationError` for a model SMC cannot run (see the messages).
    """
    try:
        tr = handlers.trace(handlers.seed(model, key)).get_trace(*args, **kwargs)
    except NotImplementedError:  # e.g. ImproperUniform cannot be sampled: trace with stand-in values
        tr = handlers.trace(handlers.substitute(handlers.seed(model, key), substitute_fn=init_to_uniform)).get_trace(
            *args, **kwargs)
    latent: list[str] = []
    observed: list[str] = []
    discrete: list[str] = []
    improper: list[str] = []
    subsampled: list[str] = []
    nonfinite: list[str] = []
    observed_data: dict[str, NDArray[Any]] = {}
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
            if site["fn"].__class__.__name__ != "Unit":  # numpyro.factor sites carry no data
                observed_data[name] = np.asarray(val)
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
    return latent, observed, observed_data


def split_log_density(
    model: Model, model_args: Sequence[Any] = (), model_kwargs: dict[str, Any] | None = None,
    latent: Sequence[str] | None = None,
) -> tuple[Density, Density, Callable[[Params], dict[str, jax.Array]]]:
    r"""``(log_prior, log_likelihood, site_log_probs)`` functions of an unconstrained params dict.

    ``log_prior(z)`` sums the latent sites' log-densities at :math:`T(z)` and the
    log-det-Jacobians; ``log_likelihood(z)`` sums the observed sites;
    ``site_log_probs(z)`` returns the per-site dict (for error messages).
    """
    if _unconstrain_params is None:  # pragma: no cover
        raise ImportError("this NumPyro version lacks numpyro.infer.util._unconstrain_params")
    model_kwargs = {} if model_kwargs is None else model_kwargs

    def site_log_probs(z: Params) -> tuple[dict[str, jax.Array], dict[str, Any]]:
        lps, tr = compute_log_probs(_unconstrain_params(model, z), model_args, model_kwargs, {})
        return lps, tr

    latent_set = set(z for z in (latent or ()))

    def is_prior(name: str, site: Any) -> bool:
        if name in latent_set:
            return True
        return name.startswith("_") and name.endswith("_log_det") and name[1:-8] in latent_set

    def log_prior(z: Params) -> jax.Array:
        lps, tr = site_log_probs(z)
        return sum((v for k, v in lps.items() if is_prior(k, tr[k])), start=jnp.zeros(()))

    def log_likelihood(z: Params) -> jax.Array:
        lps, tr = site_log_probs(z)
        return sum((v for k, v in lps.items() if not is_prior(k, tr[k])), start=jnp.zeros(()))

    return log_prior, log_likelihood, (lambda z: site_log_probs(z)[0])
