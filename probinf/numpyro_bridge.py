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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike
from numpyro import handlers
from numpyro.infer.util import constrain_fn, unconstrain_fn
from numpyro.infer.util import log_likelihood as _numpyro_log_likelihood

from probinf._checks import as_key
from probinf._checks import check_positive_int as _check_positive_int
from probinf._compile_cache import LRUCache, Uncacheable, split_static, value_key
from probinf._tempered_checks import _check_initial_densities, _check_schedule, _package, explain_failure
from probinf.exceptions import SMCFailedError
from probinf.mcmc import RandomWalk
from probinf.numpyro_model import Density, Model, Params, inspect_model, split_log_density
from probinf.progress import enabled as _progress_enabled
from probinf.progress import progress as _progress
from probinf.resampling import RESAMPLING_METHODS
from probinf.results import SMCResult
from probinf.tempered import build_sampler

__all__ = ["smc", "split_log_density"]


def smc(model: Model, *args: Any, key: ArrayLike | int, num_particles: int, kernel: Any = None,
        target_ess: float = 0.5, schedule: ArrayLike | None = None, waste_free: bool = False,
        num_mcmc_steps: int = 10, resampling: str = "systematic", resample_threshold: float | None = None,
        max_steps: int = 500, tune_on: str = "previous", progress_bar: bool | None = None, mesh: Any = None,
        **kwargs: Any) -> SMCResult:
    r"""Tempered SMC on a NumPyro model with continuous latent sites; returns posterior draws and log-evidence.

    Compiled once per model structure: a second call with the same model function, the same
    argument structure (array shapes and dtypes, values of non-array arguments) and the same
    options reuses the compiled sampler, whatever the array values and the key.

    Parameters
    ----------
    model : callable
        A NumPyro model; data enter through ``obs=`` (observed sites) and
        ``numpyro.factor``.
    *args, **kwargs
        Model arguments (keyword arguments not listed below go to the model).
    key : jax PRNG key (or a batch (C,) of keys for C vectorized runs), or an int seed
    num_particles : int
        N > 0.
    kernel, target_ess, schedule, waste_free, num_mcmc_steps, resampling, resample_threshold, max_steps, tune_on
        As in :func:`probinf.tempered_smc` (kernels act in the unconstrained space).
    progress_bar : bool, optional
        A tqdm bar over the tempering steps; default on in interactive use and off when the
        ``CI`` environment variable is set or ``PROBINF_PROGRESS=0`` (:func:`probinf.progress.enabled`).
    mesh : jax.sharding.Mesh, optional
        Keep the particles sharded over the mesh's devices (:func:`probinf.distributed.particle_mesh`):
        :func:`probinf.tempered_smc`'s sharded sampler (adaptive tempering, its own random-walk moves, exact
        global resampling).  Not with ``kernel``, ``schedule``, ``waste_free`` or a batch of keys.

    Returns
    -------
    SMCResult
        ``particles``: dict site -> constrained draws ``(N, *site_shape)``
        (deterministic sites included); ``unconstrained``: the same in
        unconstrained space; ``log_evidence``: :math:`\log \hat p(y)`;
        ``pointwise_log_likelihood``: observed site -> ``(N, *obs_shape)``;
        ``.get_samples()``, ``.print_summary()``, ``.to_arviz()`` as in NumPyro/ArviZ.

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
    if mesh is not None:
        if kernel is not None or schedule is not None or waste_free:
            raise ValueError("with mesh=, smc supports adaptive tempering with its own random-walk moves only: "
                             "drop kernel=, schedule= and waste_free=, or run without a mesh")
        return _smc_on_mesh(model, args, kwargs, key, num_particles, mesh, target_ess, num_mcmc_steps, max_steps)
    kernel = RandomWalk() if kernel is None else kernel
    options = _check_options(kernel, target_ess, schedule, waste_free, num_mcmc_steps, resampling,
                             resample_threshold, max_steps, tune_on, num_particles)
    keys = as_key(key, allow_batch=True)
    batched = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) and keys.ndim == 1
    first = keys[0] if batched else keys
    latent, observed, observed_data = inspect_model(model, args, kwargs, jax.random.fold_in(first, 7))
    dyn, sig, rebuild = split_static((args, kwargs))
    try:
        cache_key = (model, sig, tuple(latent), value_key(kernel), tuple(sorted(options.items())), num_particles,
                     batched, keys.shape, str(keys.dtype))
    except Uncacheable:
        cache_key = None
    compiled = None if cache_key is None else _COMPILED.get(cache_key)
    if compiled is None:
        compiled = _build(model, rebuild, latent, _TickingKernel(kernel), options, num_particles, batched, keys, dyn)
        if cache_key is not None:
            _COMPILED.put(cache_key, compiled)
    flat, lp0, ll0 = compiled.init(keys, dyn)
    _check_initial(flat, lp0, ll0, model, args, kwargs, latent, compiled.unravel, batched)
    run_keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(keys) if batched else jax.random.fold_in(keys, 2)
    with _progress_bar(progress_bar, num_chains=keys.shape[0] if batched else 1):
        state, trace, num_steps, valid, constrained, pointwise = compiled.run(run_keys, flat, dyn)
        jax.block_until_ready(valid)  # type: ignore[no-untyped-call]  # jax leaves it unannotated
    try:
        res: SMCResult = _package(state, trace, num_steps, valid, compiled.unravel, batched,
                                  max_steps if options["schedule"] is None else None)
    except SMCFailedError as err:  # say so when the target looks improper, as tempered_smc does
        lp, ll, _ = split_log_density(model, args, kwargs, latent)
        unr = compiled.unravel
        flat0, final = (flat[0], state.population.particles.position[0]) if batched else (
            flat, state.population.particles.position)
        raise explain_failure(err, flat0, final, lambda z: lp(unr(z)), lambda z: ll(unr(z))) from None
    return replace(
        res,
        particles=jax.tree_util.tree_map(np.asarray, constrained),
        unconstrained=res.particles,
        pointwise_log_likelihood={k: np.asarray(v) for k, v in pointwise.items()},
        observed_data=observed_data,
        sampler="probinf.smc",
        extra={"latent_sites": latent, "observed_sites": observed},
    )


def _smc_on_mesh(model: Model, args: Sequence[Any], kwargs: dict[str, Any], key: ArrayLike | int,
                 num_particles: int, mesh: Any, target_ess: float, num_mcmc_steps: int, max_steps: int) -> SMCResult:
    """:func:`smc` with ``mesh=``: the model's densities handed to the sharded tempered sampler."""
    from probinf.distributed.tempered import tempered_smc_on_mesh

    k = as_key(key)
    latent, observed, observed_data = inspect_model(model, args, kwargs, jax.random.fold_in(k, 7))
    lp, ll, _ = split_log_density(model, args, kwargs, latent)

    def one(kk: jax.Array) -> Params:
        tr = handlers.trace(handlers.seed(model, kk)).get_trace(*args, **kwargs)
        z: Params = unconstrain_fn(model, args, kwargs, {n: tr[n]["value"] for n in latent})
        return z

    draws = jax.vmap(one)(jax.random.split(jax.random.fold_in(k, 1), num_particles))
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda x: x[0], draws))
    flat = jax.vmap(lambda p: ravel_pytree(p)[0])(draws)
    res = tempered_smc_on_mesh(jax.random.fold_in(k, 2), lambda z: lp(unravel(z)), lambda z: ll(unravel(z)), flat,
                               None, mesh, target_ess=target_ess, num_mcmc_steps=num_mcmc_steps, max_steps=max_steps)
    z = jax.vmap(unravel)(res.particles)
    constrained = constrain_fn(model, args, kwargs, z, return_deterministic=True)
    pointwise = _numpyro_log_likelihood(model, {n: constrained[n] for n in latent}, *args, batch_ndims=1, **kwargs)
    return replace(
        res,
        particles=jax.tree_util.tree_map(np.asarray, constrained),
        unconstrained=jax.tree_util.tree_map(np.asarray, z),
        pointwise_log_likelihood={n: np.asarray(v) for n, v in pointwise.items()},
        observed_data=observed_data,
        sampler="probinf.smc",
        extra={"latent_sites": latent, "observed_sites": observed, "mesh": mesh,
               "sharded_particles": res.particles},
    )


_COMPILED: LRUCache[_Compiled] = LRUCache(32)


class _Compiled(NamedTuple):
    init: Callable[..., Any]
    run: Callable[..., Any]
    unravel: Callable[[jax.Array], Params]


def _check_options(kernel: Any, target_ess: float, schedule: ArrayLike | None, waste_free: bool, num_mcmc_steps: int,
                   resampling: str, resample_threshold: float | None, max_steps: int, tune_on: str,
                   num_particles: int) -> dict[str, Any]:
    """The checks of :func:`probinf.tempered_smc`, before anything is traced; returns the options dict."""
    for attr in ("init_params", "tune", "step", "needs_grad"):
        if not hasattr(kernel, attr):
            raise TypeError(f"kernel must follow probinf.mcmc.SMCKernel (missing {attr!r}); got {kernel!r}")
    if not (0.0 < float(target_ess) < 1.0):
        raise ValueError(f"target_ess must be in (0, 1), got {target_ess}")
    num_mcmc_steps = _check_positive_int(num_mcmc_steps, "num_mcmc_steps")
    max_steps = _check_positive_int(max_steps, "max_steps")
    if tune_on not in ("previous", "reweighted"):
        raise ValueError(f"tune_on must be 'previous' or 'reweighted', got {tune_on!r}")
    if resampling not in RESAMPLING_METHODS:
        raise ValueError(f"resampling must be one of {sorted(RESAMPLING_METHODS)}, got {resampling!r}")
    if waste_free and num_particles % (num_mcmc_steps + 1):
        raise ValueError(
            f"waste_free needs num_particles divisible by the chain length P = num_mcmc_steps + 1 = "
            f"{num_mcmc_steps + 1}; got N = {num_particles}"
        )
    sched = None if schedule is None else tuple(_check_schedule(schedule).tolist())
    thr = None if resample_threshold is None else float(resample_threshold)
    return dict(target_ess=float(target_ess), schedule=sched, waste_free=bool(waste_free),
                num_mcmc_steps=num_mcmc_steps, resampling=resampling, resample_threshold=thr,
                max_steps=max_steps, tune_on=tune_on)


def _build(model: Model, rebuild: Callable[[Sequence[Any]], Any], latent: list[str], kernel: Any,
           options: dict[str, Any], num_particles: int, batched: bool, keys: jax.Array, dyn: list[Any]) -> _Compiled:
    """Jitted ``init(keys, data) -> (flat draws, log prior, log lik)`` and ``run(keys, flat, data)``."""

    def densities(data: Sequence[Any]) -> tuple[Any, Any, tuple[Density, Density, Any]]:
        a, kw = rebuild(data)
        return a, kw, split_log_density(model, a, kw, latent)

    def draws(k: jax.Array, data: Sequence[Any]) -> Params:
        a, kw = rebuild(data)

        def one(kk: jax.Array) -> Params:
            tr = handlers.trace(handlers.seed(model, kk)).get_trace(*a, **kw)
            z: Params = unconstrain_fn(model, a, kw, {n: tr[n]["value"] for n in latent})
            return z

        out: Params = jax.vmap(one)(jax.random.split(jax.random.fold_in(k, 1), num_particles))
        return out

    one_key = keys[0] if batched else keys
    example = jax.eval_shape(lambda k, d: jax.tree_util.tree_map(lambda x: x[0], draws(k, d)), one_key, dyn)
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), example))

    def init_one(k: jax.Array, data: Sequence[Any]) -> tuple[jax.Array, jax.Array, jax.Array]:
        _, _, (lp, ll, _) = densities(data)
        flat = jax.vmap(lambda p: ravel_pytree(p)[0])(draws(k, data))
        return flat, jax.vmap(lambda z: lp(unravel(z)))(flat), jax.vmap(lambda z: ll(unravel(z)))(flat)

    sched = options["schedule"]

    def run_one(k: jax.Array, flat: jax.Array, data: Sequence[Any]) -> tuple[Any, ...]:
        a, kw, (lp, ll, _) = densities(data)
        sampler = build_sampler(lambda z: lp(unravel(z)), lambda z: ll(unravel(z)), kernel=kernel,
                                **{**options, "schedule": None if sched is None else np.asarray(sched)})
        state, trace, num_steps, valid = sampler(k, flat)
        z = jax.vmap(unravel)(state.population.particles.position)
        constrained = constrain_fn(model, a, kw, z, return_deterministic=True)
        pointwise = _numpyro_log_likelihood(model, {n: constrained[n] for n in latent}, *a, batch_ndims=1, **kw)
        return state, trace, num_steps, valid, constrained, pointwise

    if batched:
        return _Compiled(jax.jit(jax.vmap(init_one, in_axes=(0, None))),
                         jax.jit(jax.vmap(run_one, in_axes=(0, 0, None))), unravel)
    return _Compiled(jax.jit(init_one), jax.jit(run_one), unravel)


def _check_initial(flat: jax.Array, lp0: ArrayLike, ll0: ArrayLike, model: Model, args: Sequence[Any],
                   kwargs: dict[str, Any], latent: list[str], unravel: Callable[[jax.Array], Params],
                   batched: bool) -> None:
    """Concrete checks of the prior draws; on failure, the eager check of tempered_smc names the sites."""
    lp, ll = np.asarray(lp0), np.asarray(ll0)
    bad = bool((~np.isfinite(lp)).any() or (np.isnan(ll) | np.isposinf(ll)).any())
    bad = bad or bool((~np.isfinite(ll)).all(axis=-1).any())
    if not bad:
        return
    _, _, site_lps = split_log_density(model, args, kwargs, latent)
    log_prior, log_lik, _ = split_log_density(model, args, kwargs, latent)

    def describe(z: jax.Array) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lps = site_lps(unravel(z))
        bad_sites = {k: float(np.sum(v)) for k, v in lps.items() if not np.isfinite(np.sum(v))}
        names = {(k[1:-8] + " (log-det-Jacobian)" if k.endswith("_log_det") else k): v for k, v in bad_sites.items()}
        return f"; non-finite log-density at site(s) {names}" if names else ""

    chains = flat if batched else flat[None]
    for c in range(chains.shape[0]):
        _check_initial_densities(chains[c], lambda z: log_prior(unravel(z)), lambda z: log_lik(unravel(z)), describe)


class _TickingKernel:
    """The user's kernel, plus one progress tick per tempering step (its ``tune`` runs once a step)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def tune(self, params: Any, positions: jax.Array, log_weights: jax.Array, acceptance_rate: jax.Array) -> Any:
        jax.debug.callback(_tick, acceptance_rate)
        return self._inner.tune(params, positions, log_weights, acceptance_rate)


_BAR: list[Any] = []  # the bar of the call in progress (the compiled sampler outlives any one bar)


def _tick(acceptance_rate: ArrayLike) -> None:
    if _BAR:
        _BAR[-1].update(1)
        _BAR[-1].set_postfix(accept=f"{float(np.mean(acceptance_rate)):.2f}", refresh=False)


@contextmanager
def _progress_bar(show: bool | None, num_chains: int) -> Iterator[Any]:
    show = _progress_enabled() if show is None else bool(show)
    desc = "probinf.smc tempering steps" + (f" ({num_chains} chains)" if num_chains > 1 else "")
    bar = _progress(desc=desc, disable=not show)
    _BAR.append(bar)
    try:
        yield bar
    finally:
        _BAR.remove(bar)
        bar.close()
