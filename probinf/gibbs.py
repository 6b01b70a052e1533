r"""Particle Gibbs with ancestor sampling, and the conditional SMC kernel it iterates.

- :func:`csmc_kernel`: conditional SMC with ancestor sampling (Lindsten, Jordan &
  Schon 2014, JMLR 15): a Markov kernel on trajectories that leaves the
  smoothing distribution :math:`p_\theta(x_{0:T-1} \mid y)` invariant.
- :func:`particle_gibbs`: alternates ``csmc_kernel`` with a parameter update, by
  default random-walk MH steps on the complete-data posterior
  :math:`p(\theta) p_\theta(x_{0:T-1}, y)`, or a user ``update_theta`` (e.g. a
  conjugate Gibbs draw).

Parameters ``theta`` are flat 1-D arrays ``(d,)``.  Results convert with ``.to_arviz()``.
(The module is not called ``particle_gibbs`` so that it never shadows the function
``probinf.particle_gibbs`` as an attribute of the package.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from numpy.typing import NDArray

from probinf._checks import as_key, check_nonnegative_int, check_positive_int
from probinf._pmcmc_common import _check_step_size, _names, _theta_init
from probinf.filtering import check_filter_args, particle_filter_core
from probinf.resampling import RESAMPLING_METHODS
from probinf.ssm import StateSpaceModel, as_observations, check_model, check_observations, probe_model

if TYPE_CHECKING:
    from arviz import InferenceData

__all__ = ["PGResult", "particle_gibbs", "csmc_kernel", "complete_data_log_density"]

#: a pytree of arrays (states, trajectories, observations): jax has no static type for it
PyTree = Any
#: ``theta (d,) -> scalar`` log prior density.
LogPrior = Callable[[jax.Array], jax.Array]
#: ``(key, theta, trajectory, observations) -> theta``, a user Gibbs step for the parameters.
UpdateTheta = Callable[[jax.Array, jax.Array, PyTree, PyTree], jax.Array]


def _density(fn: Callable[..., jax.Array] | None, name: str) -> Callable[..., jax.Array]:
    if fn is None:
        raise ValueError(f"the StateSpaceModel has no {name}, which conditional SMC / particle Gibbs needs; "
                         f"give StateSpaceModel({name}=...)")
    return fn


def _set_last(x: PyTree, ref_t: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda a, r: a.at[-1].set(r), x, ref_t)


def _check_reference(reference: PyTree, t_len: int) -> PyTree:
    """The reference trajectory as arrays: leading axis T in every leaf and, when concrete, finite entries."""
    reference = jax.tree_util.tree_map(jnp.asarray, as_observations(reference, "reference"))
    leaves = jax.tree_util.tree_leaves(reference)
    if not leaves or any(np.ndim(x) == 0 or np.shape(x)[0] != t_len for x in leaves):
        raise ValueError(f"reference must be a trajectory with leading time axis T = {t_len} (like observations), "
                         f"got leaf shapes {[np.shape(x) for x in leaves]}")
    for x in leaves:
        if not isinstance(x, jax.core.Tracer) and not np.isfinite(np.asarray(x, dtype=float)).all():
            raise ValueError("reference contains NaN or +-inf; start from a finite trajectory, e.g. one drawn by "
                             "probinf.trace_genealogy")
    return reference


def _at(tree: PyTree, t: ArrayLike) -> PyTree:
    return jax.tree_util.tree_map(lambda a: a[t], tree)


def csmc_kernel(key: jax.Array, model: StateSpaceModel, observations: PyTree, reference: PyTree, num_particles: int,
                theta: jax.Array | None = None, *, ancestor_sampling: bool = True) -> PyTree:
    r"""One conditional-SMC sweep (bootstrap, multinomial resampling) from a reference trajectory.

    Particle ``N - 1`` is pinned to ``reference`` (pytree of (T, ...) arrays);
    with ``ancestor_sampling`` its ancestor at step ``t`` is redrawn with
    probability :math:`\propto W_{t-1}^i f_t(x^*_t \mid x^i_{t-1})`.  A final
    index drawn from :math:`W_{T-1}` is traced back to give the new trajectory.
    The kernel leaves :math:`p_\theta(x_{0:T-1} \mid y)` invariant (checked by
    exact enumeration in the tests).  Pure and jit/vmap-able.

    Bad input: ``key`` may be an int seed; a model that is not a
    :class:`StateSpaceModel`, ``num_particles`` < 2 or not an int, observations
    that are not numeric arrays with a leading time axis ``T >= 1``, or a reference
    whose leaves do not have leading axis ``T`` raise ``TypeError`` / ``ValueError``
    before tracing.  Concrete (non-traced) observations or reference with NaN or
    infinite entries raise too; under ``jit`` they propagate to the returned trajectory.

    Returns
    -------
    trajectory : pytree of (T, ...) arrays
    """
    key = as_key(key)
    check_model(model)
    n = check_positive_int(num_particles, "num_particles")
    if n < 2:
        raise ValueError("num_particles must be >= 2 for conditional SMC: with 1 particle only the reference "
                         "survives and the kernel never moves; pass num_particles >= 2 (e.g. 16)")
    observations = jax.tree_util.tree_map(jnp.asarray, as_observations(observations))
    t_len = check_observations(observations)
    reference = _check_reference(reference, t_len)
    multinomial = RESAMPLING_METHODS["multinomial"]
    k0, kscan, kfin = jax.random.split(key, 3)
    x0 = _set_last(model.initial_sampler(k0, n, theta), _at(reference, 0))
    lw0 = model.observation_log_density(_at(observations, 0), x0, 0, theta)

    transition_log_density = (_density(model.transition_log_density, "transition_log_density")
                              if ancestor_sampling else None)

    def step(carry: tuple[PyTree, jax.Array], inp: tuple[jax.Array, jax.Array]
             ) -> tuple[tuple[PyTree, jax.Array], tuple[PyTree, jax.Array]]:
        x_prev, lw_prev = carry
        t, k = inp
        kr, ka, km = jax.random.split(k, 3)
        anc = multinomial(kr, lw_prev, n)
        ref_t = _at(reference, t)
        if transition_log_density is not None:
            ref_b = jax.tree_util.tree_map(lambda r, xp: jnp.broadcast_to(r, xp.shape), ref_t, x_prev)
            logits = lw_prev + transition_log_density(ref_b, x_prev, t, theta)
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

    def back(bt: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
        return ancs[t - 1][bt], bt

    _, idx = jax.lax.scan(back, b, jnp.arange(t_len - 1, 0, -1))  # indices at T-1 .. 1
    b0 = jnp.where(t_len > 1, ancs[0][idx[-1]] if t_len > 1 else b, b)
    idx = jnp.concatenate([b0[None], idx[::-1]])  # (T,)
    return jax.tree_util.tree_map(lambda h: h[jnp.arange(t_len), idx], hist)


def complete_data_log_density(model: StateSpaceModel, trajectory: PyTree, observations: PyTree,
                              theta: jax.Array | None) -> jax.Array:
    r""":math:`\log p_\theta(x_{0:T-1}, y_{0:T-1})` from the model's densities (trajectory (T, ...))."""
    t_len = jax.tree_util.tree_leaves(observations)[0].shape[0]
    initial_log_density = _density(model.initial_log_density, "initial_log_density")

    def one(a: PyTree) -> PyTree:
        return jax.tree_util.tree_map(lambda v: v[None], a)

    def log_g(t: jax.Array) -> jax.Array:
        lg_t: jax.Array = model.observation_log_density(_at(observations, t), one(_at(trajectory, t)), t, theta)[0]
        return lg_t

    x0 = one(_at(trajectory, 0))
    lp: jax.Array = initial_log_density(x0, theta)[0]
    ts = jnp.arange(t_len, dtype=jnp.int32)
    lg = jax.vmap(log_g)(ts)
    if t_len > 1:
        transition_log_density = _density(model.transition_log_density, "transition_log_density")

        def log_f(t: jax.Array) -> jax.Array:
            return transition_log_density(one(_at(trajectory, t)), one(_at(trajectory, t - 1)), t, theta)[0]

        lf = jax.vmap(log_f)(ts[1:])
        lp = lp + lf.sum()
    return lp + lg.sum()


class PGResult(NamedTuple):
    """Particle Gibbs output: ``samples`` (C, S, d) parameters (or None), ``trajectories``
    (pytree of (C, S, T, ...)), ``accepted`` (C, S) parameter-move acceptance, ``param_names``."""

    samples: NDArray[Any] | None
    trajectories: PyTree
    accepted: NDArray[Any]
    param_names: tuple[str, ...]

    def get_samples(self, group_by_chain: bool = False, state_name: str = "x") -> dict[str, NDArray[Any]]:
        """Draws by name, as NumPyro's ``MCMC.get_samples``: the parameters and the state trajectories
        (``state_name``, or ``state_name_i`` per leaf of a pytree state); leading ``(C*S,)`` or ``(C, S)``."""
        out: dict[str, NDArray[Any]] = {}
        if self.samples is not None:
            out.update({n: np.asarray(self.samples[..., i]) for i, n in enumerate(self.param_names)})
        leaves = jax.tree_util.tree_leaves(self.trajectories)
        names = [state_name] if len(leaves) == 1 else [f"{state_name}_{i}" for i in range(len(leaves))]
        out.update({n: np.asarray(leaf) for n, leaf in zip(names, leaves, strict=True)})
        if group_by_chain:
            return out
        return {n: v.reshape((-1, *v.shape[2:])) for n, v in out.items()}

    def print_summary(self, prob: float = 0.9) -> None:
        """NumPyro's summary table of the parameters (the trajectories are summarised by ``to_arviz``)."""
        from probinf.results import print_samples_summary

        c, s = self.accepted.shape
        if self.samples is None:
            print(f"particle Gibbs: {c} chain(s) x {s} draws; no parameters (states only: see to_arviz())")
            return
        params = {n: np.asarray(self.samples[..., i]) for i, n in enumerate(self.param_names)}
        print_samples_summary(params, prob=prob, header=f"particle Gibbs: {c} chain(s) x {s} draws; "
                              f"parameter acceptance {float(np.mean(self.accepted)):.2f}")

    def to_arviz(self, state_name: str = "x") -> InferenceData:
        """ArviZ InferenceData: parameters and the state trajectories (dims ``time``) in the posterior."""
        import arviz as az

        post: dict[str, NDArray[Any]] = {}
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
        idata: InferenceData = az.from_dict(posterior=post, sample_stats=stats, dims=dims)
        return idata


@partial(jax.jit, static_argnames=("model", "log_prior", "update_theta", "num_particles", "num_iters",
                                   "num_theta_steps", "ancestor_sampling", "has_theta"))
def _pg_run(key: jax.Array, model: StateSpaceModel, observations: PyTree, log_prior: LogPrior | None,
            update_theta: UpdateTheta | None, theta0: jax.Array, traj0: PyTree, step: jax.Array, num_particles: int,
            num_iters: int, num_theta_steps: int, ancestor_sampling: bool, has_theta: bool
            ) -> tuple[jax.Array, PyTree, jax.Array]:
    c = jax.tree_util.tree_leaves(traj0)[0].shape[0]

    def mh_theta(k: jax.Array, th: jax.Array, traj: PyTree, log_prior: LogPrior) -> tuple[jax.Array, jax.Array]:
        def target(t: jax.Array) -> jax.Array:
            return log_prior(t) + complete_data_log_density(model, traj, observations, t)

        def one(carry: tuple[jax.Array, jax.Array], kk: jax.Array) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
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

    def chain_step(k: jax.Array, th: jax.Array, traj: PyTree) -> tuple[jax.Array, PyTree, jax.Array]:
        k1, k2 = jax.random.split(k)
        traj = csmc_kernel(k1, model, observations, traj, num_particles, th if has_theta else None,
                           ancestor_sampling=ancestor_sampling)
        if not has_theta:
            return th, traj, jnp.zeros(())
        if update_theta is not None:
            return update_theta(k2, th, traj, observations), traj, jnp.ones(())
        assert log_prior is not None  # has_theta without update_theta: particle_gibbs gives one
        th, acc = mh_theta(k2, th, traj, log_prior)
        return th, traj, acc

    def step_all(carry: tuple[jax.Array, PyTree], k: jax.Array
                 ) -> tuple[tuple[jax.Array, PyTree], tuple[jax.Array, PyTree, jax.Array]]:
        th, traj = carry
        th, traj, acc = jax.vmap(chain_step)(jax.random.split(k, c), th, traj)
        return (th, traj), (th, traj, acc)

    _, (ths, trajs, accs) = jax.lax.scan(step_all, (theta0, traj0), jax.random.split(key, num_iters))
    return ths, trajs, accs


def particle_gibbs(key: ArrayLike, model: StateSpaceModel, observations: PyTree, num_samples: int, *,
                   log_prior: LogPrior | None = None, initial_theta: ArrayLike | None = None, num_particles: int = 50,
                   num_chains: int = 4, num_warmup: int = 0, update_theta: UpdateTheta | None = None,
                   step_size: ArrayLike = 0.1, num_theta_steps: int = 5, ancestor_sampling: bool = True,
                   param_names: Iterable[str] | None = None, initial_trajectory: PyTree = None) -> PGResult:
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
            def log_prior(th: jax.Array) -> jax.Array:  # unused by update_theta
                return jnp.zeros((), th.dtype)
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

    def sw(a: jax.Array) -> NDArray[Any]:
        return np.swapaxes(np.asarray(a)[sl], 0, 1)

    return PGResult(sw(ths) if has_theta else None, jax.tree_util.tree_map(sw, trajs), sw(accs), names)
