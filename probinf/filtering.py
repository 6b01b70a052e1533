r"""Particle filters for state-space models: bootstrap and guided, via ``lax.scan``.

The filter is composed from the :mod:`probinf.population` blocks: at each step
resample when the ESS carried from the last reweighting is below the threshold
(any scheme of :data:`probinf.RESAMPLING_METHODS`), propagate (model transition or a
guided proposal), ``reweight`` by the incremental weight

.. math::

    G_t(x_{t-1}, x_t) = \frac{g_t(y_t \mid x_t)\, f_t(x_t \mid x_{t-1})}{q_t(x_t \mid x_{t-1}, y_t)}

(:math:`G_t = g_t` for the bootstrap filter, :math:`q_t = f_t`).  Because the
population keeps normalized weights and ``reweight`` adds
:math:`\log \sum_i W^i_{t-1} G^i_t`, the evidence estimate
:math:`\hat Z_T = \prod_t \sum_i W_{t-1}^i G_t^i` is unbiased whether or not the
step resampled (Chopin & Papaspiliopoulos 2020, Prop. 16.3,
doi:10.1007/978-3-030-47845-2).

Speed on a CPU (see ``benchmarks/results/particle_filter_cpu2.md``): systematic
resampling runs as one compiled kernel (:mod:`probinf.kernels.resampling_cpu`), the
per-step keys and uniforms are drawn for all steps in one batch, and the model's move
keys use a straight-line threefry with bit-identical draws (:mod:`probinf.filtering_prng`).

Two entry points: :func:`particle_filter` (public, validates inputs, raises on
degenerate weights) and :func:`particle_filter_core` (pure, jit/vmap-able over
keys and ``theta``, returns a validity flag instead of raising; particle MCMC
uses it).
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from probinf._checks import as_key, check_fraction, check_positive_int
from probinf._xla_cpu import compiler_options
from probinf.exceptions import DegenerateWeightsError, ProbinfWarning
from probinf.filtering_prng import fast_move_key
from probinf.filtering_steps import (
    maybe_resample_carried,
    reweight_with_summaries,
    step_randomness,
    weight_summaries,
)
from probinf.population import Population, ReweightInfo, reweight
from probinf.resampling import RESAMPLING_METHODS
from probinf.ssm import (
    Proposal,
    StateSpaceModel,
    as_observations,
    check_model,
    check_observations,
    model_densities,
    probe_model,
)

if TYPE_CHECKING:
    from jax.sharding import Mesh

__all__ = ["ParticleFilterResult", "particle_filter", "particle_filter_core", "weighted_mean"]


class ParticleFilterResult(NamedTuple):
    """What a particle filter returns (a pytree).

    Attributes
    ----------
    log_evidence : () array
        :math:`\\log \\hat Z_T`; :math:`\\hat Z_T` is unbiased for :math:`p(y_{0:T-1})`.
    log_evidence_increments : (T,) array
        :math:`\\log \\sum_i W^i_{t-1} G^i_t`.
    filtering_means : pytree of (T, ...) arrays
        :math:`\\sum_i W^i_t x^i_t`, estimates of :math:`E[X_t \\mid y_{0:t}]`.
    ess : (T,) array
        ESS of the weights after reweighting at every step.
    resampled : (T,) bool array
        Whether step ``t`` resampled before propagating (``resampled[0]`` is False).
    final : Population
        Particles, normalized log-weights and log-evidence at ``T - 1``.
    ancestors : (T, N) int32 array or None
        ``ancestors[t, i]`` is the index at ``t - 1`` of particle ``i``'s parent
        (``ancestors[0]`` is the identity).  Only with ``return_history=True``.
    history : pytree of (T, N, ...) arrays or None
        Particles at every step (``return_history=True``).
    log_weights_history : (T, N) array or None
        Normalized log-weights at every step (``return_history=True``).
    valid : () bool array
        False when some step produced NaN / +inf weights or lost every particle.
    first_invalid_step : () int32 array
        The first such step (``T`` when ``valid``).
    """

    log_evidence: jax.Array
    log_evidence_increments: jax.Array
    filtering_means: Any
    ess: jax.Array
    resampled: jax.Array
    final: Population
    ancestors: jax.Array | None
    history: Any
    log_weights_history: jax.Array | None
    valid: jax.Array
    first_invalid_step: jax.Array


def weighted_mean(particles: Any, log_weights: jax.Array) -> Any:
    """:math:`\\sum_i W_i x_i` for every leaf of a particle pytree (normalized ``log_weights``)."""
    w = jnp.exp(log_weights)
    return jax.tree_util.tree_map(lambda x: jnp.tensordot(w, x, axes=(0, 0)), particles)


def _initial_population(key: jax.Array, model: StateSpaceModel, y0: Any, n: int, theta: Any,
                        proposal: Proposal | None) -> tuple[Population, ReweightInfo]:
    """Draw ``x_0`` (model or proposal) and reweight uniform weights by ``G_0``: ``(Population, ReweightInfo)``."""
    if proposal is None:
        x0 = model.initial_sampler(key, n, theta)
        log_g0 = model.observation_log_density(y0, x0, 0, theta)
    else:
        _, initial_log_density = model_densities(model, "a guided proposal")
        x0 = proposal.initial_sampler(key, n, y0, theta)
        log_g0 = (
            model.observation_log_density(y0, x0, 0, theta)
            + initial_log_density(x0, theta)
            - proposal.initial_log_density(x0, y0, theta)
        )
    dtype = jnp.result_type(log_g0.dtype, jnp.float32)
    uniform = jnp.full((n,), -jnp.log(jnp.asarray(n, dtype)), dtype)
    return reweight(Population(x0, uniform, jnp.zeros((), dtype)), log_g0.astype(dtype))


def particle_filter_core(
    key: ArrayLike,
    model: StateSpaceModel,
    observations: Any,
    num_particles: int,
    theta: Any = None,
    *,
    resampling: str = "systematic",
    ess_threshold: float = 0.5,
    proposal: Proposal | None = None,
    return_history: bool = False,
) -> ParticleFilterResult:
    """Pure particle filter (no raising on the weights): jit/vmap over ``key`` and ``theta``.

    Same arguments and result as :func:`particle_filter`.  Arguments whose problems are known before
    tracing (model, ``num_particles``, observations' shapes, ``resampling``, ``ess_threshold``, an int seed
    as ``key``) are checked as in :func:`particle_filter` (at trace time only, under ``jit``); degenerate
    runs are reported through ``result.valid`` instead of an exception.
    """
    key = as_key(key)
    observations = jax.tree_util.tree_map(jnp.asarray, as_observations(observations))
    traced_thr = isinstance(ess_threshold, jax.core.Tracer)
    proposal, n, t_len, thr = check_filter_args(model, observations, num_particles, resampling,
                                                0.5 if traced_thr else ess_threshold, proposal)
    if not traced_thr:
        ess_threshold = thr

    def obs_at(t: ArrayLike) -> Any:
        return jax.tree_util.tree_map(lambda y: y[t], observations)

    k0, kscan = jax.random.split(key)

    pop0, rw0 = _initial_population(k0, model, obs_at(0), n, theta, proposal)
    dtype = pop0.log_weights.dtype
    identity = jnp.arange(n, dtype=jnp.int32)

    def step(carry: tuple[Population, jax.Array, jax.Array],
             inp: tuple[jax.Array, ...]) -> tuple[tuple[Population, jax.Array, jax.Array], dict[str, Any]]:
        pop, first_bad, ess_prev = carry
        t, r_res, k_move = inp
        k_move = fast_move_key(k_move)  # same draws, straight-line threefry on a CPU
        pop, anc, resampled = maybe_resample_carried(r_res, pop, ess_prev, ess_threshold, resampling)
        x_prev = pop.particles
        y = obs_at(t)
        if proposal is None:
            x = model.transition_sampler(k_move, x_prev, t, theta)
            log_g = model.observation_log_density(y, x, t, theta)
        else:
            transition_log_density, _ = model_densities(model, "a guided proposal")
            x = proposal.sampler(k_move, x_prev, y, t, theta)
            log_g = (
                model.observation_log_density(y, x, t, theta)
                + transition_log_density(x, x_prev, t, theta)
                - proposal.log_density(x, x_prev, y, t, theta)
            )
        pop, rw, mean, ess = reweight_with_summaries(pop._replace(particles=x), log_g.astype(dtype))
        first_bad = jnp.where(rw.valid | (first_bad < t_len), first_bad, t)
        out = dict(inc=rw.log_evidence_increment, mean=mean, ess=ess, resampled=resampled)
        if return_history:
            out.update(anc=anc, x=x, lw=pop.log_weights)
        return (pop, first_bad, ess), out

    first_bad0 = jnp.where(rw0.valid, jnp.int32(t_len), jnp.int32(0))
    mean0, ess0 = weight_summaries(pop0.particles, pop0.log_weights)
    keys = jax.random.split(kscan, max(t_len - 1, 1))[: t_len - 1]
    ts = jnp.arange(1, t_len, dtype=jnp.int32)
    r_res, k_move = step_randomness(keys, resampling, dtype)
    (pop, first_bad, _), outs = jax.lax.scan(step, (pop0, first_bad0, ess0), (ts, r_res, k_move))

    def stack(first: Any, rest: Any) -> Any:
        return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b], axis=0), first, rest)

    means = stack(mean0, outs["mean"])
    incs = jnp.concatenate([rw0.log_evidence_increment[None], outs["inc"]])
    ess = jnp.concatenate([ess0[None], outs["ess"]])
    resampled = jnp.concatenate([jnp.zeros((1,), bool), outs["resampled"]])
    anc = hist = lwh = None
    if return_history:
        anc = jnp.concatenate([identity[None], outs["anc"]])
        hist = stack(pop0.particles, outs["x"])
        lwh = jnp.concatenate([pop0.log_weights[None], outs["lw"]])
    valid = first_bad >= t_len
    return ParticleFilterResult(
        log_evidence=pop.log_evidence,
        log_evidence_increments=incs,
        filtering_means=means,
        ess=ess,
        resampled=resampled,
        final=pop,
        ancestors=anc,
        history=hist,
        log_weights_history=lwh,
        valid=valid,
        first_invalid_step=first_bad,
    )


@functools.cache
def _pf_jit() -> Any:
    """The public filter's compiled core (built on first use, with probinf's CPU compiler options)."""
    return jax.jit(
        particle_filter_core,
        static_argnames=("model", "num_particles", "resampling", "ess_threshold", "proposal", "return_history"),
        compiler_options=compiler_options(),
    )


def check_filter_args(model: StateSpaceModel, observations: Any, num_particles: int, resampling: str,
                      ess_threshold: float, proposal: Proposal | str | None) -> tuple[Proposal | None, int, int, float]:
    """Validate the arguments shared by the filters and particle MCMC.

    ``observations`` must already be arrays (see :func:`probinf.ssm.as_observations`).
    Returns ``(proposal, N, T, ess_threshold)``.
    """
    check_model(model)
    n = check_positive_int(num_particles, "num_particles")
    t_len = check_observations(observations)
    if not isinstance(resampling, str) or resampling not in RESAMPLING_METHODS:
        raise ValueError(f"resampling must be one of {sorted(RESAMPLING_METHODS)}, got {resampling!r}")
    thr = check_fraction(ess_threshold, "ess_threshold")
    if isinstance(proposal, str):
        if proposal != "model":
            raise ValueError(f"proposal must be None, 'model' or a probinf.Proposal, got {proposal!r}")
        if model.proposal is None:
            raise ValueError("proposal='model' but the StateSpaceModel has no proposal")
        proposal = model.proposal
    if proposal is not None:
        if not isinstance(proposal, Proposal):
            raise TypeError(f"proposal must be a probinf.Proposal, got {type(proposal).__name__}")
        check_model(model, need_densities=True, what="a guided proposal")
    return proposal, n, t_len, thr


def particle_filter(
    key: ArrayLike | int,
    model: StateSpaceModel,
    observations: Any,
    num_particles: int,
    *,
    theta: Any = None,
    resampling: str = "systematic",
    ess_threshold: float = 0.5,
    proposal: Proposal | str | None = None,
    return_history: bool = False,
    mesh: Mesh | None = None,
) -> ParticleFilterResult:
    r"""Run a bootstrap or guided particle filter (jit-compiled ``lax.scan``).

    Parameters
    ----------
    key : jax.random.key or int
        Explicit PRNG key (an int seed is accepted); same key, same result.
    model : StateSpaceModel
        The model; its functions act on batches of ``N`` particles.
    observations : array, pytree with leading axis T, or a rectangular list of numbers
        ``y_0, ..., y_{T-1}``.
    num_particles : int
        Number of particles ``N >= 1`` (``N = 1`` warns: see Warns).
    theta : pytree, optional
        Model parameters passed to every model function.
    resampling : {"systematic", "stratified", "multinomial", "residual"}
        Resampling scheme (float32-exact; see :func:`probinf.resample`).
    ess_threshold : float in [0, 1]
        Resample when ``ESS < ess_threshold * N`` (1: every step, 0: never).
    proposal : None, "model" or Proposal
        ``None``: bootstrap filter.  A :class:`probinf.Proposal` (or ``"model"``
        for ``model.proposal``): guided filter; needs the model's
        ``initial_log_density`` and ``transition_log_density``.
    return_history : bool
        Also return ancestors, particles and log-weights at every step (memory
        ``T * N``).
    mesh : jax.sharding.Mesh, optional
        Shard the particles over the mesh's devices (exact global resampling, same law);
        see :func:`probinf.distributed.sharded_particle_filter`.

    Returns
    -------
    ParticleFilterResult
        ``log_evidence``, ``filtering_means``, ``ess``, ``resampled``, ``final``
        population, optional history.

    Raises
    ------
    DegenerateWeightsError
        Every particle got zero weight (or NaN / +inf weights) at some step;
        the message names the step.
    ValueError, TypeError
        Bad arguments (``N < 1``, empty or NaN observations, unknown scheme, a key
        that is neither a JAX key nor an int, ...).
    ModelSpecificationError
        The model evaluated on 2 particles fails or returns a log-density of the
        wrong shape (e.g. observations of the wrong shape).

    Warns
    -----
    ProbinfWarning
        ``num_particles=1``: unbiased but nearly useless.

    References
    ----------
    Gordon, Salmond & Smith (1993), doi:10.1049/ip-f-2.1993.0015;
    Chopin & Papaspiliopoulos (2020), *An Introduction to Sequential Monte Carlo*, ch. 10.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probinf.kalman import LinearGaussian
    >>> lg = LinearGaussian.ar1(rho=0.9, sigma_x=1.0, sigma_y=0.2)
    >>> _, y = lg.simulate(jax.random.PRNGKey(0), 50)
    >>> res = particle_filter(jax.random.PRNGKey(1), lg.to_ssm(), y, 1000)
    >>> bool(abs(res.log_evidence - lg.kalman_filter(y).log_likelihood) < 2.0)
    True
    """
    key = as_key(key)
    observations = as_observations(observations)
    if mesh is not None:
        if return_history:
            raise ValueError("return_history=True is not available with mesh=; run without a mesh to keep history")
        from probinf.distributed.filtering import sharded_particle_filter

        return sharded_particle_filter(key, model, observations, num_particles, mesh, theta=theta,
                                       resampling=resampling, ess_threshold=ess_threshold, proposal=proposal)
    proposal, n, _, thr = check_filter_args(model, observations, num_particles, resampling, ess_threshold, proposal)
    if n == 1:
        warnings.warn(
            "particle_filter with num_particles=1 is unbiased but its log-evidence has enormous variance and its "
            "filtering means are single draws; use num_particles >= 2 (typically hundreds)",
            ProbinfWarning, stacklevel=2,
        )
    observations = jax.tree_util.tree_map(jnp.asarray, observations)
    probe_model(model, observations, theta)
    res: ParticleFilterResult = _pf_jit()(
        key, model, observations, n, theta,
        resampling=resampling, ess_threshold=thr, proposal=proposal, return_history=bool(return_history),
    )
    if not bool(res.valid):
        step = int(res.first_invalid_step)
        raise DegenerateWeightsError(
            f"particle filter degenerated at time step {step}: every particle got zero weight "
            "(or a log-density returned NaN / +inf). Check observation_log_density at that step, "
            "increase num_particles or use a guided proposal."
        )
    return res
