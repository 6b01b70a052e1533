r"""Particle MCMC: particle marginal Metropolis-Hastings and particle Gibbs.

- :func:`pmmh` (Andrieu, Doucet & Holenstein 2010, doi:10.1111/j.1467-9868.2009.00736.x):
  random-walk MH on :math:`\theta` where the intractable likelihood is replaced by
  the particle filter's unbiased estimate :math:`\hat p_\theta(y)`; the chain
  targets the exact posterior :math:`p(\theta \mid y)` for any number of
  particles.  Optional adaptive random walk (Haario, Saksman & Tamminen 2001):
  during warm-up the proposal covariance is :math:`(2.38^2/d)\,\hat\Sigma`, pooled
  over chains; it is frozen afterwards so the kept draws come from a fixed,
  valid kernel.  All chains advance together (``vmap``) inside one ``lax.scan``.
- :func:`csmc_kernel`: conditional SMC with ancestor sampling (Lindsten, Jordan &
  Schon 2014, JMLR 15): a Markov kernel on trajectories that leaves the
  smoothing distribution :math:`p_\theta(x_{0:T-1} \mid y)` invariant.
- :func:`particle_gibbs`: alternates ``csmc_kernel`` with a parameter update, by
  default random-walk MH steps on the complete-data posterior
  :math:`p(\theta) p_\theta(x_{0:T-1}, y)`, or a user ``update_theta`` (e.g. a
  conjugate Gibbs draw).

Parameters ``theta`` are flat 1-D arrays ``(d,)``; ``log_prior(theta)`` returns
``-inf`` outside the support (such proposals are rejected without trusting the
filter).  Results convert with ``.to_arviz()``.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from probinf._checks import as_key, check_nonnegative_int, check_positive_int
from probinf.exceptions import ProbinfWarning
from probinf.filtering import check_filter_args, particle_filter_core
from probinf.resampling import RESAMPLING_METHODS
from probinf.ssm import StateSpaceModel, as_observations, check_model, probe_model

__all__ = ["PMMHResult", "PGResult", "pmmh", "particle_gibbs", "csmc_kernel", "complete_data_log_density"]


def _names(param_names, d):
    if param_names is None:
        return tuple(f"theta_{i}" for i in range(d))
    names = tuple(param_names)
    if len(names) != d:
        raise ValueError(f"param_names has {len(names)} entries but theta has dimension {d}")
    return names


class PMMHResult(NamedTuple):
    """PMMH output.  ``samples`` (C, S, d); ``log_likelihood`` (C, S): the filter's
    estimate carried by the chain; ``log_prior`` (C, S); ``accepted`` (C, S);
    ``proposal_cov`` (d, d) used after warm-up; ``param_names``."""

    samples: np.ndarray
    log_likelihood: np.ndarray
    log_prior: np.ndarray
    accepted: np.ndarray
    proposal_cov: np.ndarray
    param_names: tuple

    @property
    def acceptance_rate(self) -> np.ndarray:
        """Per-chain acceptance rate, (C,)."""
        return self.accepted.mean(axis=1)

    def to_arviz(self):
        """ArviZ InferenceData: posterior (one variable per parameter), sample_stats with
        ``accepted``, ``acceptance_rate``, ``log_likelihood_estimate`` / ``log_evidence`` (the
        particle filter's log-evidence at the current theta) and ``lp``."""
        import arviz as az

        post = {n: self.samples[..., i] for i, n in enumerate(self.param_names)}
        stats = {
            "accepted": self.accepted,
            "acceptance_rate": np.broadcast_to(self.acceptance_rate[:, None], self.accepted.shape),
            "log_likelihood_estimate": self.log_likelihood,
            "log_evidence": self.log_likelihood,  # the particle filter's log Z_hat(theta)
            "lp": self.log_prior + self.log_likelihood,
        }
        return az.from_dict(posterior=post, sample_stats=stats)


def _theta_init(initial_theta, num_chains):
    if initial_theta is None or isinstance(initial_theta, (str, bytes, dict)):
        raise TypeError(f"initial_theta must be a (d,) or (num_chains, d) array of floats, got {initial_theta!r}")
    try:
        th = jnp.asarray(initial_theta)
    except (TypeError, ValueError):
        raise TypeError(
            f"initial_theta must be a (d,) or (num_chains, d) array of floats, got {initial_theta!r}") from None
    if not np.all(np.isfinite(np.asarray(th, dtype=float))):
        raise ValueError(f"initial_theta must be finite, got {np.asarray(initial_theta)}")
    if not jnp.issubdtype(th.dtype, jnp.floating):
        th = th.astype(jnp.result_type(float))
    if th.ndim == 1:
        th = jnp.broadcast_to(th, (num_chains, th.shape[0]))
    if th.ndim != 2 or th.shape[0] != num_chains or th.shape[1] < 1:
        raise ValueError(f"initial_theta must have shape (d,) or (num_chains, d) = ({num_chains}, d) with d >= 1, "
                         f"got {th.shape}")
    return th


def _check_step_size(step_size, d):
    s = np.asarray(step_size, dtype=float) if not isinstance(step_size, (str, bytes)) else None
    if s is None or s.ndim > 1 or (s.ndim == 1 and s.shape[0] != d) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(
            f"step_size must be a positive finite float or a (d,) = ({d},) array of them, got {step_size!r}"
        )


def _initial_chol(step_size, d, dtype):
    s = jnp.broadcast_to(jnp.asarray(step_size, dtype), (d,))
    return jnp.diag(s)


@partial(jax.jit, static_argnames=("model", "log_prior", "num_particles", "num_iters", "num_warmup", "adapt",
                                   "resampling", "ess_threshold", "proposal"))
def _pmmh_run(key, model, observations, log_prior, theta0, chol0, num_particles, num_iters, num_warmup, adapt,
              resampling, ess_threshold, proposal):
    c, d = theta0.shape
    pf = lambda k, th: particle_filter_core(  # noqa: E731
        k, model, observations, num_particles, th, resampling=resampling, ess_threshold=ess_threshold,
        proposal=proposal)

    def loglik(keys, th):
        res = jax.vmap(pf)(keys, th)
        ok = res.valid & jnp.isfinite(res.log_evidence)
        return jnp.where(ok, res.log_evidence, -jnp.inf)

    k0, kscan = jax.random.split(key)
    lp0 = jax.vmap(log_prior)(theta0)
    ll0 = loglik(jax.random.split(k0, c), theta0)
    dtype = theta0.dtype
    scale = 2.38**2 / d

    def step(carry, inp):
        theta, lp, ll, chol, mean, m2, count = carry
        i, k = inp
        kp, kf, ku = jax.random.split(k, 3)
        prop = theta + jax.random.normal(kp, theta.shape, dtype) @ chol.T
        lp_new = jax.vmap(log_prior)(prop)
        ll_new = loglik(jax.random.split(kf, c), prop)
        ll_new = jnp.where(jnp.isfinite(lp_new), ll_new, -jnp.inf)
        log_alpha = lp_new + ll_new - lp - ll
        log_alpha = jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)
        acc = jnp.log(jax.random.uniform(ku, (c,), dtype)) < log_alpha
        theta = jnp.where(acc[:, None], prop, theta)
        lp = jnp.where(acc, lp_new, lp)
        ll = jnp.where(acc, ll_new, ll)
        if adapt:
            # Welford update of the pooled mean / covariance during warm-up only.
            in_warmup = i < num_warmup
            new_count = count + c
            delta = theta - mean
            new_mean = mean + delta.sum(0) / new_count
            new_m2 = m2 + delta.T @ (theta - new_mean)
            cov = new_m2 / jnp.maximum(new_count - 1, 1) + 1e-8 * jnp.eye(d, dtype=dtype)
            new_chol = jnp.linalg.cholesky(scale * cov)
            use = in_warmup & (new_count > 10 * d) & jnp.all(jnp.isfinite(new_chol))
            chol = jnp.where(use, new_chol, chol)
            mean = jnp.where(in_warmup, new_mean, mean)
            m2 = jnp.where(in_warmup, new_m2, m2)
            count = jnp.where(in_warmup, new_count, count)
        return (theta, lp, ll, chol, mean, m2, count), (theta, lp, ll, acc)

    init = (theta0, lp0, ll0, chol0, jnp.zeros((d,), dtype), jnp.zeros((d, d), dtype), jnp.zeros((), dtype))
    keys = jax.random.split(kscan, num_iters)
    (_, _, _, chol, _, _, _), (th, lp, ll, acc) = jax.lax.scan(step, init, (jnp.arange(num_iters), keys))
    return th, lp, ll, acc, chol, lp0, ll0


def pmmh(key, model: StateSpaceModel, observations, log_prior: Callable, initial_theta, num_samples: int, *,
         num_particles: int = 100, num_chains: int = 4, num_warmup: Optional[int] = None, step_size=0.1,
         adapt: bool = True, resampling: str = "systematic", ess_threshold: float = 0.5, proposal=None,
         param_names=None) -> PMMHResult:
    r"""Particle marginal Metropolis-Hastings for a parameterized state-space model.

    Parameters
    ----------
    key : PRNG key
    model : StateSpaceModel
        Its functions take ``theta`` (a (d,) array) as their last argument.
    observations : array or pytree with leading axis T
    log_prior : callable
        ``theta (d,) -> scalar`` log prior density (``-inf`` outside the support).
    initial_theta : (d,) or (num_chains, d) array
        Starting points (inside the support).
    num_samples : int
        Draws kept per chain, after ``num_warmup`` iterations (default ``num_samples``).
    num_particles : int
        Particles of the likelihood filter.  The chain is exact for any N; its
        mixing degrades when Var(log Z_hat) exceeds ~1-2 (Doucet et al. 2015).
    num_chains : int
        Chains run together (vectorized).
    step_size : float or (d,) array
        Initial random-walk scale (diagonal).
    adapt : bool
        Adaptive random walk during warm-up (frozen after).
    resampling, ess_threshold, proposal
        Passed to the particle filter.
    param_names : sequence of str, optional
        Names for ``to_arviz``.

    Returns
    -------
    PMMHResult

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jax.scipy.stats import norm
    >>> from probinf import StateSpaceModel
    >>> m = StateSpaceModel(
    ...     initial_sampler=lambda k, n, th: jax.random.normal(k, (n,)),
    ...     transition_sampler=lambda k, x, t, th: th[0] * x + jax.random.normal(k, x.shape),
    ...     observation_log_density=lambda y, x, t, th: norm.logpdf(y, x, 0.5))
    >>> y = jnp.zeros(10)
    >>> lp = lambda th: jnp.where(jnp.abs(th[0]) < 1, 0.0, -jnp.inf)
    >>> r = pmmh(jax.random.PRNGKey(0), m, y, lp, jnp.array([0.5]), 20, num_particles=32, num_chains=2)
    >>> r.samples.shape
    (2, 20, 1)
    """
    key = as_key(key)
    check_model(model)
    observations = as_observations(observations)
    proposal, n, _, thr = check_filter_args(model, observations, num_particles, resampling, ess_threshold, proposal)
    if not callable(log_prior):
        raise TypeError(f"log_prior must be a callable theta -> log density, got {type(log_prior).__name__}")
    num_samples = check_positive_int(num_samples, "num_samples")
    num_chains = check_positive_int(num_chains, "num_chains")
    num_warmup = num_samples if num_warmup is None else check_nonnegative_int(num_warmup, "num_warmup")
    if n == 1:
        warnings.warn("pmmh with num_particles=1: the likelihood estimate has huge variance and the chain will "
                      "barely move; use enough particles for Var(log Z_hat) ~ 1", ProbinfWarning, stacklevel=2)
    theta0 = _theta_init(initial_theta, num_chains)
    _check_step_size(step_size, theta0.shape[1])
    probe_model(model, jax.tree_util.tree_map(jnp.asarray, observations), theta0[0], check_indices=True)
    d = theta0.shape[1]
    names = _names(param_names, d)
    lp0 = np.asarray(jax.vmap(log_prior)(theta0))
    if not np.all(np.isfinite(lp0)):
        raise ValueError(f"log_prior is not finite at initial_theta for chains {np.flatnonzero(~np.isfinite(lp0)).tolist()}")
    chol0 = _initial_chol(step_size, d, theta0.dtype)
    observations = jax.tree_util.tree_map(jnp.asarray, observations)
    th, lp, ll, acc, chol, _, ll0 = _pmmh_run(key, model, observations, log_prior, theta0, chol0, n,
                                               num_warmup + num_samples, num_warmup, bool(adapt), resampling, thr,
                                               proposal)
    if not np.all(np.isfinite(np.asarray(ll0))):
        raise ValueError("the particle filter's log-likelihood is not finite at initial_theta "
                         f"(chains {np.flatnonzero(~np.isfinite(np.asarray(ll0))).tolist()}); "
                         "start inside the support or use more particles")
    sl = slice(num_warmup, None)
    sw = lambda a: np.swapaxes(np.asarray(a)[sl], 0, 1)  # noqa: E731
    return PMMHResult(sw(th), sw(ll), sw(lp), sw(acc), np.asarray(chol @ chol.T), names)


# ----------------------------------------------------------------------------- particle Gibbs


def _set_last(x, ref_t):
    return jax.tree_util.tree_map(lambda a, r: a.at[-1].set(r), x, ref_t)


def _at(tree, t):
    return jax.tree_util.tree_map(lambda a: a[t], tree)


def csmc_kernel(key, model: StateSpaceModel, observations, reference, num_particles: int, theta=None, *,
                ancestor_sampling: bool = True):
    r"""One conditional-SMC sweep (bootstrap, multinomial resampling) from a reference trajectory.

    Particle ``N - 1`` is pinned to ``reference`` (pytree of (T, ...) arrays);
    with ``ancestor_sampling`` its ancestor at step ``t`` is redrawn with
    probability :math:`\propto W_{t-1}^i f_t(x^*_t \mid x^i_{t-1})`.  A final
    index drawn from :math:`W_{T-1}` is traced back to give the new trajectory.
    The kernel leaves :math:`p_\theta(x_{0:T-1} \mid y)` invariant (checked by
    exact enumeration in the tests).  Pure and jit/vmap-able.

    Returns
    -------
    trajectory : pytree of (T, ...) arrays
    """
    n = num_particles
    t_len = jax.tree_util.tree_leaves(observations)[0].shape[0]
    multinomial = RESAMPLING_METHODS["multinomial"]
    k0, kscan, kfin = jax.random.split(key, 3)
    x0 = _set_last(model.initial_sampler(k0, n, theta), _at(reference, 0))
    lw0 = model.observation_log_density(_at(observations, 0), x0, 0, theta)

    def step(carry, inp):
        x_prev, lw_prev = carry
        t, k = inp
        kr, ka, km = jax.random.split(k, 3)
        anc = multinomial(kr, lw_prev, n)
        ref_t = _at(reference, t)
        if ancestor_sampling:
            ref_b = jax.tree_util.tree_map(lambda r, xp: jnp.broadcast_to(r, xp.shape), ref_t, x_prev)
            logits = lw_prev + model.transition_log_density(ref_b, x_prev, t, theta)
            a_ref = jax.random.categorical(ka, logits).astype(anc.dtype)
        else:
            a_ref = jnp.asarray(n - 1, anc.dtype)
        anc = anc.at[-1].set(a_ref)
        xp = jax.tree_util.tree_map(lambda a: a[anc], x_prev)
        x = _set_last(model.transition_sampler(km, xp, t, theta), ref_t)
        lw = model.observation_log_density(_at(observations, t), x, t, theta)
        return (x, lw), (x, anc)

    ts = jnp.arange(1, t_len, dtype=jnp.int32)
    keys = jax.random.split(kscan, max(t_len - 1, 1))[: t_len - 1]
    (_, lw_last), (xs, ancs) = jax.lax.scan(step, (x0, lw0), (ts, keys))
    hist = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), x0, xs)  # (T, N, ...)
    b = jax.random.categorical(kfin, lw_last)

    def back(bt, t):
        return ancs[t - 1][bt], bt

    _, idx = jax.lax.scan(back, b, jnp.arange(t_len - 1, 0, -1))  # indices at T-1 .. 1
    b0 = jnp.where(t_len > 1, ancs[0][idx[-1]] if t_len > 1 else b, b)
    idx = jnp.concatenate([b0[None], idx[::-1]])  # (T,)
    return jax.tree_util.tree_map(lambda h: h[jnp.arange(t_len), idx], hist)


def complete_data_log_density(model: StateSpaceModel, trajectory, observations, theta):
    r""":math:`\log p_\theta(x_{0:T-1}, y_{0:T-1})` from the model's densities (trajectory (T, ...))."""
    t_len = jax.tree_util.tree_leaves(observations)[0].shape[0]
    one = lambda a: jax.tree_util.tree_map(lambda v: v[None], a)  # noqa: E731
    x0 = one(_at(trajectory, 0))
    lp = model.initial_log_density(x0, theta)[0]
    ts = jnp.arange(t_len, dtype=jnp.int32)
    lg = jax.vmap(lambda t: model.observation_log_density(_at(observations, t), one(_at(trajectory, t)), t, theta)[0])(ts)
    if t_len > 1:
        lf = jax.vmap(lambda t: model.transition_log_density(one(_at(trajectory, t)), one(_at(trajectory, t - 1)),
                                                             t, theta)[0])(ts[1:])
        lp = lp + lf.sum()
    return lp + lg.sum()


class PGResult(NamedTuple):
    """Particle Gibbs output: ``samples`` (C, S, d) parameters (or None), ``trajectories``
    (pytree of (C, S, T, ...)), ``accepted`` (C, S) parameter-move acceptance, ``param_names``."""

    samples: Optional[np.ndarray]
    trajectories: object
    accepted: np.ndarray
    param_names: tuple

    def to_arviz(self, state_name: str = "x"):
        """ArviZ InferenceData: parameters and the state trajectories (dims ``time``) in the posterior."""
        import arviz as az

        post = {}
        if self.samples is not None:
            post.update({n: self.samples[..., i] for i, n in enumerate(self.param_names)})
        leaves = jax.tree_util.tree_leaves(self.trajectories)
        if len(leaves) == 1:
            post[state_name] = np.asarray(leaves[0])
        else:
            for i, leaf in enumerate(leaves):
                post[f"{state_name}_{i}"] = np.asarray(leaf)
        stats = {"accepted": self.accepted, "acceptance_rate": np.broadcast_to(
            self.accepted.mean(axis=1, keepdims=True), self.accepted.shape)}
        dims = {k: ["time"] + [f"{k}_dim_{j}" for j in range(v.ndim - 3)] for k, v in post.items()
                if k.startswith(state_name)}
        return az.from_dict(posterior=post, sample_stats=stats, dims=dims)


@partial(jax.jit, static_argnames=("model", "log_prior", "update_theta", "num_particles", "num_iters",
                                   "num_theta_steps", "ancestor_sampling", "has_theta"))
def _pg_run(key, model, observations, log_prior, update_theta, theta0, traj0, step, num_particles, num_iters,
            num_theta_steps, ancestor_sampling, has_theta):
    c = jax.tree_util.tree_leaves(traj0)[0].shape[0]

    def mh_theta(k, th, traj):
        def target(t):
            return log_prior(t) + complete_data_log_density(model, traj, observations, t)

        def one(carry, kk):
            th, lt = carry
            k1, k2 = jax.random.split(kk)
            prop = th + step * jax.random.normal(k1, th.shape, th.dtype)
            lpp = log_prior(prop)
            lt_new = jnp.where(jnp.isfinite(lpp), target(prop), -jnp.inf)
            lt_new = jnp.where(jnp.isnan(lt_new), -jnp.inf, lt_new)
            acc = jnp.log(jax.random.uniform(k2, (), th.dtype)) < lt_new - lt
            return (jnp.where(acc, prop, th), jnp.where(acc, lt_new, lt)), acc

        (th, _), accs = jax.lax.scan(one, (th, target(th)), jax.random.split(k, num_theta_steps))
        return th, accs.mean()

    def chain_step(k, th, traj):
        k1, k2 = jax.random.split(k)
        traj = csmc_kernel(k1, model, observations, traj, num_particles, th if has_theta else None,
                           ancestor_sampling=ancestor_sampling)
        if not has_theta:
            return th, traj, jnp.zeros(())
        if update_theta is not None:
            return update_theta(k2, th, traj, observations), traj, jnp.ones(())
        th, acc = mh_theta(k2, th, traj)
        return th, traj, acc

    def step_all(carry, k):
        th, traj = carry
        th, traj, acc = jax.vmap(chain_step)(jax.random.split(k, c), th, traj)
        return (th, traj), (th, traj, acc)

    _, (ths, trajs, accs) = jax.lax.scan(step_all, (theta0, traj0), jax.random.split(key, num_iters))
    return ths, trajs, accs


def particle_gibbs(key, model: StateSpaceModel, observations, num_samples: int, *, log_prior: Optional[Callable] = None,
                   initial_theta=None, num_particles: int = 50, num_chains: int = 4, num_warmup: int = 0,
                   update_theta: Optional[Callable] = None, step_size=0.1, num_theta_steps: int = 5,
                   ancestor_sampling: bool = True, param_names=None, initial_trajectory=None) -> PGResult:
    r"""Particle Gibbs with ancestor sampling, optionally with parameter updates.

    Each iteration: one :func:`csmc_kernel` sweep for the trajectory given
    ``theta``, then (when ``log_prior`` is given) ``num_theta_steps`` random-walk
    MH steps (scale ``step_size``) on :math:`\theta` targeting
    :math:`p(\theta) p_\theta(x_{0:T-1}, y)`, or one call of
    ``update_theta(key, theta, trajectory, observations) -> theta`` (your own
    Gibbs step).  Without ``log_prior`` the model is fixed and this is a
    smoothing sampler.

    Parameters
    ----------
    key : PRNG key
    model : StateSpaceModel with ``initial_log_density`` and ``transition_log_density``
    observations : array or pytree with leading axis T
    num_samples : int
        Draws kept per chain after ``num_warmup``.
    log_prior, initial_theta : optional
        Prior and starting parameters ((d,) or (C, d)).
    num_particles : int
        Particles in the conditional SMC (ancestor sampling mixes well with few).
    num_chains : int
    update_theta : callable, optional
    step_size : float or (d,) array
    num_theta_steps : int
    ancestor_sampling : bool
    param_names : sequence of str, optional
    initial_trajectory : pytree of (T, ...) or (C, T, ...), optional
        Default: one trajectory traced from a bootstrap filter at ``initial_theta``.

    Returns
    -------
    PGResult

    Examples
    --------
    >>> import jax
    >>> from probinf import LinearGaussian
    >>> lg = LinearGaussian.ar1()
    >>> _, y = lg.simulate(jax.random.PRNGKey(0), 15)
    >>> r = particle_gibbs(jax.random.PRNGKey(1), lg.to_ssm(), y, 10, num_particles=20, num_chains=2)
    >>> r.trajectories.shape
    (2, 10, 15)
    """
    key = as_key(key)
    check_model(model, need_densities=True, what="particle Gibbs")
    observations = as_observations(observations)
    _, n, t_len, _ = check_filter_args(model, observations, num_particles, "multinomial", 0.5, None)
    if n < 2:
        raise ValueError(
            f"particle_gibbs needs num_particles >= 2, got {n}: with one particle the conditional SMC keeps the "
            "reference trajectory and the chain never moves; use num_particles >= 2 (10-50 is typical)"
        )
    num_samples = check_positive_int(num_samples, "num_samples")
    num_chains = check_positive_int(num_chains, "num_chains")
    num_warmup = check_nonnegative_int(num_warmup, "num_warmup")
    num_theta_steps = check_positive_int(num_theta_steps, "num_theta_steps")
    for name, fn in (("log_prior", log_prior), ("update_theta", update_theta)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
    has_theta = log_prior is not None or update_theta is not None
    if has_theta:
        if initial_theta is None:
            raise ValueError("initial_theta is required with log_prior / update_theta")
        theta0 = _theta_init(initial_theta, num_chains)
        if log_prior is None and update_theta is None:
            raise ValueError("give log_prior (random-walk MH updates) or update_theta")
        if log_prior is None:
            log_prior = lambda th: jnp.zeros((), th.dtype)  # noqa: E731  (unused by update_theta)
    else:
        theta0 = jnp.zeros((num_chains, 1))
        log_prior = None
    d = theta0.shape[1]
    names = _names(param_names, d) if has_theta else ()
    observations = jax.tree_util.tree_map(jnp.asarray, observations)
    if has_theta:
        _check_step_size(step_size, d)
    probe_model(model, observations, theta0[0] if has_theta else None, check_indices=has_theta)
    if initial_trajectory is None:
        from probinf.smoothing import trace_genealogy

        kinit, key = jax.random.split(key)
        trajs = []
        for ci, kc in enumerate(jax.random.split(kinit, num_chains)):
            th_c = theta0[ci] if has_theta else None
            res = particle_filter_core(kc, model, observations, n, th_c, return_history=True)
            trajs.append(_at(trace_genealogy(kc, res, 1), 0))
        traj0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trajs)
    else:
        traj0 = jax.tree_util.tree_map(jnp.asarray, initial_trajectory)
        lead = jax.tree_util.tree_leaves(traj0)[0]
        if lead.shape[0] == t_len and (lead.ndim == 1 or lead.shape[0] != num_chains):
            traj0 = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (num_chains,) + a.shape), traj0)
    step = jnp.broadcast_to(jnp.asarray(step_size, theta0.dtype), (d,))
    ths, trajs, accs = _pg_run(key, model, observations, log_prior, update_theta, theta0, traj0, step, n,
                               num_warmup + num_samples, int(num_theta_steps), bool(ancestor_sampling), has_theta)
    sl = slice(num_warmup, None)
    sw = lambda a: np.swapaxes(np.asarray(a)[sl], 0, 1)  # noqa: E731
    return PGResult(sw(ths) if has_theta else None, jax.tree_util.tree_map(sw, trajs), sw(accs), names)
