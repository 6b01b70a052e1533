r"""State-space model descriptions for the particle filters and particle MCMC.

A state-space model (hidden Markov model on a general state space) is

.. math::

    X_0 \sim p_0(\cdot \mid \theta), \qquad
    X_t \mid X_{t-1} \sim f_t(\cdot \mid X_{t-1}, \theta), \qquad
    Y_t \mid X_t \sim g_t(\cdot \mid X_t, \theta), \qquad t = 0, \dots, T-1,

(the observation convention of Chopin & Papaspiliopoulos 2020, ch. 2: ``Y_0``
is observed from ``X_0``).  Every function acts on a *whole batch* of particles
at once (leading axis ``N`` of every leaf of the particle pytree), the way the
``particles`` package does: one ``jax.random.normal(key, (N,))`` is far cheaper
than ``N`` vmapped draws.  ``theta`` is any pytree of parameters (``None`` for a
fixed model); it is passed explicitly so that particle MCMC can ``vmap`` the
filter over parameters and chains.

Calling conventions (``x``: particles with leading axis N; ``t``: int32 time):

- ``initial_sampler(key, num_particles, theta) -> x``
- ``transition_sampler(key, x_prev, t, theta) -> x``
- ``observation_log_density(y_t, x, t, theta) -> (N,)``
- optional ``initial_log_density(x, theta) -> (N,)`` and
  ``transition_log_density(x, x_prev, t, theta) -> (N,)`` (needed by guided
  proposals, backward simulation and particle Gibbs with ancestor sampling).

A :class:`Proposal` (guided filter) supplies ``q_0(x | y_0)`` and
``q_t(x | x_{t-1}, y_t)`` samplers with their log-densities; the incremental
weight is then :math:`g_t(y_t|x_t) f_t(x_t|x_{t-1}) / q_t(x_t|x_{t-1}, y_t)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from probinf._checks import check_fraction
from probinf.exceptions import ModelSpecificationError

_PROBED: dict[Any, bool] = {}
_MODEL_FUNCTIONS = "evaluating the model (initial_sampler, transition_sampler, observation_log_density)"

__all__ = ["StateSpaceModel", "Proposal", "as_observations", "check_observations", "probe_model",
           "stochastic_volatility"]

# Signatures of the model functions.  Particles ``x``, observations ``y`` and ``theta`` are pytrees (``Any``);
# ``t`` is a Python int when probing and an int32 array inside the filters.
TimeIndex = int | jax.Array
#: ``(key, num_particles, theta) -> x``
InitialSampler = Callable[[jax.Array, int, Any], Any]
#: ``(key, x_prev, t, theta) -> x``
TransitionSampler = Callable[[jax.Array, Any, TimeIndex, Any], Any]
#: ``(y_t, x, t, theta) -> (N,)``
ObservationLogDensity = Callable[[Any, Any, TimeIndex, Any], jax.Array]
#: ``(x, x_prev, t, theta) -> (N,)``
TransitionLogDensity = Callable[[Any, Any, TimeIndex, Any], jax.Array]
#: ``(x, theta) -> (N,)``
InitialLogDensity = Callable[[Any, Any], jax.Array]
#: ``(key, num_particles, y_0, theta) -> x``
ProposalInitialSampler = Callable[[jax.Array, int, Any, Any], Any]
#: ``(x, y_0, theta) -> (N,)``
ProposalInitialLogDensity = Callable[[Any, Any, Any], jax.Array]
#: ``(key, x_prev, y_t, t, theta) -> x``
ProposalSampler = Callable[[jax.Array, Any, Any, TimeIndex, Any], Any]
#: ``(x, x_prev, y_t, t, theta) -> (N,)``
ProposalLogDensity = Callable[[Any, Any, Any, TimeIndex, Any], jax.Array]


class Proposal(NamedTuple):
    """A guided proposal ``q_0(x | y_0, theta)`` and ``q_t(x | x_{t-1}, y_t, theta)``.

    Attributes
    ----------
    initial_sampler : callable
        ``(key, num_particles, y_0, theta) -> x``.
    initial_log_density : callable
        ``(x, y_0, theta) -> (N,)``.
    sampler : callable
        ``(key, x_prev, y_t, t, theta) -> x``.
    log_density : callable
        ``(x, x_prev, y_t, t, theta) -> (N,)``.
    """

    initial_sampler: ProposalInitialSampler
    initial_log_density: ProposalInitialLogDensity
    sampler: ProposalSampler
    log_density: ProposalLogDensity


class StateSpaceModel(NamedTuple):
    r"""A (possibly parameterized) state-space model with batched particle functions.

    Attributes
    ----------
    initial_sampler : callable
        ``(key, num_particles, theta) -> x`` draws ``N`` states from :math:`p_0`.
    transition_sampler : callable
        ``(key, x_prev, t, theta) -> x`` draws :math:`X_t \sim f_t(\cdot|x_{t-1})`
        for every particle.
    observation_log_density : callable
        ``(y_t, x, t, theta) -> (N,)``: :math:`\log g_t(y_t | x)`.
    transition_log_density : callable, optional
        ``(x, x_prev, t, theta) -> (N,)``: :math:`\log f_t(x | x_{t-1})`
        (elementwise over the batch).
    initial_log_density : callable, optional
        ``(x, theta) -> (N,)``: :math:`\log p_0(x)`.
    proposal : Proposal, optional
        Default guided proposal used when :func:`probinf.particle_filter` gets
        ``proposal="model"``.

    Examples
    --------
    A linear-Gaussian AR(1) observed in noise:

    >>> import jax, jax.numpy as jnp
    >>> from jax.scipy.stats import norm
    >>> ar1 = StateSpaceModel(
    ...     initial_sampler=lambda k, n, th: jax.random.normal(k, (n,)),
    ...     transition_sampler=lambda k, x, t, th: 0.9 * x + jax.random.normal(k, x.shape),
    ...     observation_log_density=lambda y, x, t, th: norm.logpdf(y, x, 0.2),
    ... )
    >>> ar1.initial_sampler(jax.random.PRNGKey(0), 5, None).shape
    (5,)
    """

    initial_sampler: InitialSampler
    transition_sampler: TransitionSampler
    observation_log_density: ObservationLogDensity
    transition_log_density: TransitionLogDensity | None = None
    initial_log_density: InitialLogDensity | None = None
    proposal: Proposal | None = None


def check_model(model: Any, *, need_densities: bool = False, what: str = "") -> StateSpaceModel:
    """Check that ``model`` is a usable :class:`StateSpaceModel` (clear error otherwise)."""
    if not isinstance(model, StateSpaceModel):
        raise TypeError(f"model must be a probinf.StateSpaceModel, got {type(model).__name__}")
    for name in ("initial_sampler", "transition_sampler", "observation_log_density"):
        if not callable(getattr(model, name)):
            raise ModelSpecificationError(f"model.{name} must be callable, got {getattr(model, name)!r}")
    if need_densities:
        missing = [n for n in ("transition_log_density", "initial_log_density") if getattr(model, n) is None]
        if missing:
            raise ModelSpecificationError(
                f"{what} needs the model's {' and '.join(missing)}; add them to the StateSpaceModel"
            )
    return model


def model_densities(model: StateSpaceModel, what: str) -> tuple[TransitionLogDensity, InitialLogDensity]:
    """The model's ``(transition_log_density, initial_log_density)``, both required (clear error otherwise)."""
    f, p0 = model.transition_log_density, model.initial_log_density
    if f is None or p0 is None:
        missing = [n for n, v in (("transition_log_density", f), ("initial_log_density", p0)) if v is None]
        raise ModelSpecificationError(
            f"{what} needs the model's {' and '.join(missing)}; add them to the StateSpaceModel"
        )
    return f, p0


def as_observations(observations: Any, name: str = "observations") -> Any:
    """Observations as arrays: a (nested) Python list or tuple of numbers becomes one array.

    A pytree of arrays is returned unchanged; ragged or non-numeric lists raise
    ``TypeError`` naming the fix.
    """
    if isinstance(observations, (list, tuple)) and not hasattr(observations, "_fields"):
        try:
            arr = np.asarray(observations)
        except ValueError:
            arr = None
        if arr is None or arr.dtype == object or not (
                np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
            raise TypeError(
                f"{name} given as a Python {type(observations).__name__} must be rectangular and numeric "
                f"(got {str(observations)[:60]}); pass an array of shape (T, ...), e.g. jnp.asarray(y)"
            )
        observations = arr
    for leaf in jax.tree_util.tree_leaves(observations):
        dt = np.asarray(leaf).dtype if not isinstance(leaf, jax.core.Tracer) else leaf.dtype
        if not (np.issubdtype(dt, np.number) or np.issubdtype(dt, np.bool_)):
            raise TypeError(f"{name} must be numeric arrays, got dtype {dt}; convert them with jnp.asarray")
    return observations


def check_observations(observations: Any, name: str = "observations") -> int:
    """Check observations (leading axis T >= 1, no NaN): return their length T."""
    leaves = jax.tree_util.tree_leaves(observations)
    if not leaves:
        raise ValueError(f"{name} is empty; expected an array (or pytree) with leading time axis T >= 1")
    lengths = set()
    for leaf in leaves:
        shape = np.shape(leaf)
        if len(shape) == 0:
            raise ValueError(f"{name} must have a leading time axis, got a scalar")
        lengths.add(shape[0])
        if not isinstance(leaf, jax.core.Tracer):
            arr = np.asarray(leaf)
            if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
                raise ValueError(
                    f"{name} contains NaN at time steps {np.unique(np.argwhere(np.isnan(arr))[:, 0])[:5].tolist()}; "
                    "missing data must be handled in observation_log_density (e.g. return 0 there)"
                )
    if len(lengths) != 1:
        raise ValueError(f"every leaf of {name} must have the same length T, got lengths {sorted(lengths)}")
    (t,) = lengths
    if t < 1:
        raise ValueError(f"{name} must contain at least one time step, got T = 0")
    for leaf in leaves:
        if not isinstance(leaf, jax.core.Tracer):
            arr = np.asarray(leaf)
            if np.issubdtype(arr.dtype, np.floating) and np.isinf(arr).any():
                raise ValueError(f"{name} contains +-inf; observations must be finite (or NaN-free missing-data codes)")
    return int(t)


def _describe_failure(what: str, err: Exception) -> ModelSpecificationError:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ModelSpecificationError(f"{what} failed on 2 particles: {type(err).__name__}: {msg[:300]}")


def probe_model(model: StateSpaceModel, observations: Any, theta: Any = None, *, check_indices: bool = False) -> None:
    """Evaluate the model once on 2 particles (concretely, before any filter is traced).

    Checks that ``observation_log_density`` returns one finite-or-``-inf`` value per
    particle (shape ``(N,)``), which catches observations of the wrong shape, and,
    with ``check_indices``, that the model never indexes ``theta`` out of bounds
    (``jax.experimental.checkify``; JAX would otherwise clamp the index and silently
    use another parameter).  Results are cached per model, shapes and theta shape.
    Raises :class:`~probinf.ModelSpecificationError` naming the function that failed.
    """
    sig: tuple[Any, ...] | None = (model, jax.tree_util.tree_structure(observations),
           tuple((np.shape(x)[1:], str(np.asarray(x).dtype)) for x in jax.tree_util.tree_leaves(observations)),
           jax.tree_util.tree_structure(theta), tuple(np.shape(x) for x in jax.tree_util.tree_leaves(theta)),
           check_indices)
    try:
        if sig in _PROBED:
            return
    except TypeError:  # unhashable model functions: probe every time
        sig = None
    y0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[0], observations)
    key = jax.random.key(0)
    n = 2

    def run(th: Any) -> tuple[jax.Array, jax.Array]:
        x = model.initial_sampler(key, n, th)
        lg = model.observation_log_density(y0, x, 0, th)
        x1 = model.transition_sampler(key, x, 1, th)
        lg1 = model.observation_log_density(y0, x1, 1, th)
        return lg, lg1

    try:
        if check_indices:
            from jax.experimental import checkify

            err, (lg, lg1) = checkify.checkify(run, errors=checkify.index_checks)(theta)
            msg = err.get()
            if msg is not None:
                size = [np.shape(x) for x in jax.tree_util.tree_leaves(theta)]
                raise ModelSpecificationError(
                    f"the model indexes theta out of bounds (theta has shape {size[0] if len(size) == 1 else size}): "
                    f"{msg.splitlines()[0]}; pass a parameter vector with as many entries as the model reads"
                )
        else:
            lg, lg1 = run(theta)
    except ModelSpecificationError:
        raise
    except Exception as err:  # a user function failed: say which and why, before any filter is traced
        shapes = [np.shape(a) for a in jax.tree_util.tree_leaves(y0)]
        raise ModelSpecificationError(
            f"{_describe_failure(_MODEL_FUNCTIONS, err)}"
            f"; each observation y_t has shape {shapes[0] if len(shapes) == 1 else shapes}: check it against what "
            "observation_log_density expects (and theta against what the model reads)"
        ) from err
    for name, val in (("observation_log_density at t = 0", lg), ("observation_log_density at t = 1", lg1)):
        if np.shape(val) != (n,):
            raise ModelSpecificationError(
                f"{name} must return one log-density per particle, shape ({n},) for {n} particles, got shape "
                f"{np.shape(val)}; check the shape of each observation y_t "
                f"(got {np.shape(jax.tree_util.tree_leaves(y0)[0])}) "
                "against what the model expects"
            )
    if sig is not None:
        if len(_PROBED) >= 256:
            _PROBED.clear()
        _PROBED[sig] = True


def stochastic_volatility(mu: float = -1.02, rho: float = 0.9702, sigma: float = 0.178) -> StateSpaceModel:
    r"""The univariate stochastic-volatility model (Pitt & Shephard 1999 defaults).

    .. math::

        X_0 \sim N(\mu, \sigma^2 / (1 - \rho^2)), \quad
        X_t = \mu + \rho (X_{t-1} - \mu) + \sigma U_t, \quad
        Y_t \mid X_t \sim N(0, e^{X_t}).

    ``theta`` is ``None`` (use the values given here) or an array
    ``(mu, rho, sigma)``, so particle MCMC can infer the parameters.  The
    defaults given here must be a finite ``mu``, ``|rho| < 1`` (stationarity: the
    initial variance is :math:`\sigma^2 / (1 - \rho^2)`) and ``sigma > 0``;
    otherwise ``ValueError`` / ``TypeError`` names the parameter.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> sv = stochastic_volatility()
    >>> sv.observation_log_density(jnp.array(0.1), jnp.zeros(4), 0, None).shape
    (4,)
    """

    mu = check_fraction(mu, "mu", low=-np.inf, high=np.inf)
    rho = check_fraction(rho, "rho", low=-1.0, high=1.0, open_low=True, open_high=True)
    sigma = check_fraction(sigma, "sigma", low=0.0, high=np.inf, open_low=True)

    def params(theta: Any) -> tuple[float | jax.Array, float | jax.Array, float | jax.Array]:
        if theta is None:
            return mu, rho, sigma
        return theta[0], theta[1], theta[2]

    def init(key: jax.Array, n: int, theta: Any) -> jax.Array:
        m, r, s = params(theta)
        return m + s / jnp.sqrt(1.0 - r**2) * jax.random.normal(key, (n,))

    def trans(key: jax.Array, x: jax.Array, t: TimeIndex, theta: Any) -> jax.Array:
        m, r, s = params(theta)
        return m + r * (x - m) + s * jax.random.normal(key, x.shape, x.dtype)

    def obs(y: jax.Array, x: jax.Array, t: TimeIndex, theta: Any) -> jax.Array:
        # log N(y; 0, e^x) = -0.5 (log 2 pi + x + y^2 e^{-x})
        return -0.5 * (jnp.log(2 * jnp.pi) + x + y * y * jnp.exp(-x))

    def trans_lp(x: jax.Array, xp: jax.Array, t: TimeIndex, theta: Any) -> jax.Array:
        m, r, s = params(theta)
        return norm.logpdf(x, m + r * (xp - m), s)

    def init_lp(x: jax.Array, theta: Any) -> jax.Array:
        m, r, s = params(theta)
        return norm.logpdf(x, m, s / jnp.sqrt(1.0 - r**2))

    return StateSpaceModel(init, trans, obs, trans_lp, init_lp)
