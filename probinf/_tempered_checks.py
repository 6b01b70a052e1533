"""Input checks, diagnostics and result packaging of :func:`probinf.tempered_smc` (outside ``jit``).

- ``_check_schedule``, ``_flatten_particles``, ``_check_initial_densities``: arguments and prior draws;
- ``_check_not_collapsed``: identical initial particles (the kernels calibrate on the particle spread, so a
  collapsed population never moves and reports acceptance 1 with a wrong evidence);
- :func:`warn_if_improper`: an unbounded log posterior found along the final particles;
- ``_package_or_explain``: the :class:`~probinf.results.SMCResult`, or a clear error for a failed run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike
from numpy.typing import NDArray

from probinf.exceptions import DegenerateWeightsError, ModelSpecificationError, ProbinfWarning, SMCFailedError
from probinf.results import SMCResult

if TYPE_CHECKING:
    from probinf.tempered import TemperedState, _Trace

__all__ = ["explain_failure", "warn_if_improper"]

#: ``x (d,) -> scalar`` log density on the flat particle vector.
_FlatLogDensity = Callable[[jax.Array], jax.Array]
#: flat vector (d,) -> the user's particle pytree
_Unravel = Callable[[jax.Array], Any]


def _check_schedule(schedule: ArrayLike) -> NDArray[np.float64]:
    s = np.asarray(schedule, dtype=float)
    if s.ndim != 1 or s.size < 1:
        raise ValueError(f"schedule must be a 1-d sequence of exponents ending at 1, got shape {s.shape}")
    if not np.all(np.isfinite(s)) or s[0] <= 0 or np.any(np.diff(s) <= 0) or s[-1] != 1.0:
        raise ValueError(
            "schedule must be strictly increasing exponents in (0, 1] ending exactly at 1.0 "
            f"(lambda_0 = 0 is implicit), got {s.tolist()[:8]}{'...' if s.size > 8 else ''}"
        )
    return s


def _flatten_particles(particles: Any) -> tuple[jax.Array, _Unravel, int]:
    leaves = jax.tree_util.tree_leaves(particles)
    if not leaves:
        raise ValueError("init_particles is an empty pytree")
    n = np.shape(leaves[0])[0] if np.ndim(leaves[0]) else None
    if n is None or any(np.ndim(x) == 0 or np.shape(x)[0] != n for x in leaves):
        raise ValueError(
            "init_particles must be a pytree whose leaves share a leading particle axis N; got shapes "
            f"{[np.shape(x) for x in leaves]}"
        )
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda x: x[0], particles))
    flat = jax.vmap(lambda p: ravel_pytree(p)[0])(particles)
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise TypeError(f"particles must be floating point (continuous), got dtype {flat.dtype}")
    return flat, unravel, n


def _check_initial_densities(flat: jax.Array, log_prior: _FlatLogDensity, log_likelihood: _FlatLogDensity,
                             describe: Callable[[jax.Array], str] | None = None) -> None:
    """Concrete check of the prior draws: finite prior density, no NaN/+inf likelihood, some mass."""
    lp = np.asarray(jax.vmap(log_prior)(flat))
    ll = np.asarray(jax.vmap(log_likelihood)(flat))
    bad_lp = np.flatnonzero(~np.isfinite(lp))
    bad_ll = np.flatnonzero(np.isnan(ll) | np.isposinf(ll))

    def detail(i: int) -> str:
        return describe(flat[i]) if describe is not None else ""

    if bad_lp.size:
        i = int(bad_lp[0])
        raise ModelSpecificationError(
            f"log_prior is not finite ({lp[i]}) at {bad_lp.size} of {lp.size} initial particles "
            f"(first: particle {i}){detail(i)}; initial particles must be draws from the prior's support"
        )
    if bad_ll.size:
        i = int(bad_ll[0])
        raise ModelSpecificationError(
            f"log_likelihood is NaN or +inf ({ll[i]}) at {bad_ll.size} of {ll.size} initial particles "
            f"(first: particle {i}){detail(i)}"
        )
    if not np.isfinite(ll).any():
        raise DegenerateWeightsError(
            f"log_likelihood is -inf at all {ll.size} initial particles{detail(0)}: data outside the likelihood's "
            "support, NaN data, or a prior that puts no particle where the data are possible (use more particles or "
            "a broader prior)"
        )


def _check_not_collapsed(flat: jax.Array) -> None:
    """Raise when the initial particles are fewer than 2 or all identical."""
    n = flat.shape[0]
    if n < 2:
        raise ValueError(f"tempered SMC needs at least 2 particles, got {n}; pass prior draws with N >= 2 "
                         "(hundreds to thousands are typical)")
    arr = np.asarray(flat)
    if np.all(arr == arr[:1]):
        raise ValueError(
            f"init_particles are {n} copies of one point (a collapsed population): the MCMC moves calibrate their "
            "proposal on the particle spread, so they would never move and the evidence would be wrong; "
            "pass independent draws from the prior (or a prior sampler (key, N) -> draws)"
        )


#: Distance, in prior standard deviations, beyond which a particle has escaped to infinity.
_ESCAPE = 1e6

#: Scales along the rays from the prior draws' mean; the log posterior must increase at every one.
_RAY_SCALES = (1.0, 2.0, 4.0, 8.0)


def warn_if_improper(flat0: ArrayLike, final: ArrayLike, log_prior: _FlatLogDensity, log_likelihood: _FlatLogDensity,
                     *, min_gain: float = 1.0, fraction: float = 0.9) -> bool:
    r"""Warn (:class:`~probinf.ProbinfWarning`) when the posterior looks improper.

    For each final particle :math:`x_i` and the prior draws' mean :math:`c`, evaluate the log
    posterior :math:`\ell(x) = \log p(x) + \log L(x)` at :math:`c + s (x_i - c)` for
    :math:`s = 1, 2, 4, 8`.  A proper posterior decays away from its mass, so this sequence
    cannot keep increasing for most particles; an unbounded log density (e.g. a likelihood
    term :math:`\mu^2`) makes it increase at every scale.  The warning fires when, for at
    least ``fraction`` of the particles, :math:`\ell` strictly increases along the ray and
    gains more than ``min_gain`` nats in total, or has drifted more than a million prior
    standard deviations away (escaped to infinity).  Returns True when it warned.
    """
    flat0 = jnp.asarray(flat0)
    final = jnp.asarray(final)
    c = jnp.mean(flat0, axis=0)

    def log_post(z: jax.Array) -> jax.Array:
        return log_prior(z) + log_likelihood(z)

    target = jax.vmap(log_post)
    vals = np.stack([np.asarray(target(c + s * (final - c))) for s in _RAY_SCALES])  # (S, N)
    with np.errstate(invalid="ignore"):
        rising = np.all(np.diff(vals, axis=0) > 0, axis=0) & (vals[-1] - vals[0] > min_gain)
    rising |= np.isposinf(vals[-1]) & np.isfinite(vals[0])
    # Particles that drifted a million prior standard deviations away escaped to infinity on an
    # unbounded target (their log densities may already overflow); no proper posterior sits there.
    scale = float(np.max(np.std(np.asarray(flat0), axis=0))) + 1e-30
    dist = np.max(np.abs(np.asarray(final - c)), axis=1)
    rising |= ~np.isfinite(dist) | (dist > _ESCAPE * scale)
    if np.mean(rising) >= fraction:
        with np.errstate(invalid="ignore"):
            diff = vals[-1] - vals[0]
        diff = diff[np.isfinite(diff)]
        gain = float(np.median(diff)) if diff.size else np.inf
        warnings.warn(
            f"the target looks improper: for {np.mean(rising):.0%} of the final particles the log posterior keeps "
            f"increasing along the ray from the prior mean (gain {gain:.3g} nats at 8x "
            "the distance) or escaped to infinity; an unbounded log density makes the evidence and the particles "
            "meaningless. Check the likelihood (e.g. a numpyro.factor that grows without bound) and the prior's "
            "tails",
            ProbinfWarning, stacklevel=3,
        )
        return True
    return False


def _package_or_explain(state: TemperedState, trace: _Trace, num_steps: jax.Array, valid: jax.Array,
                        unravel: _Unravel, batched: bool, max_steps: int | None, flat0: jax.Array,
                        lp: _FlatLogDensity, ll: _FlatLogDensity) -> SMCResult:
    """Package the result; a failed run on an improper target says so; a finished one may warn."""
    final = state.population.particles.position
    final = final[0] if batched else final
    try:
        result = _package(state, trace, num_steps, valid, unravel, batched, max_steps)
    except SMCFailedError as err:
        raise explain_failure(err, flat0, final, lp, ll) from None
    warn_if_improper(flat0, final, lp, ll)
    return result


def explain_failure(err: SMCFailedError, flat0: ArrayLike, final: ArrayLike, lp: _FlatLogDensity,
                    ll: _FlatLogDensity) -> SMCFailedError:
    """``err``, with the improper-target diagnosis appended when :func:`warn_if_improper` fires."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        improper = warn_if_improper(flat0, final, lp, ll)
    hints = [str(c.message) for c in caught if issubclass(c.category, ProbinfWarning)]
    return SMCFailedError(f"{err}. {hints[0]}") if improper and hints else err


def _package(state: TemperedState, trace: _Trace, num_steps: jax.Array, valid_: jax.Array, unravel: _Unravel,
             batched: bool, max_steps: int | None) -> SMCResult:
    valid = np.asarray(valid_)
    expo = np.asarray(state.exponent)
    if not valid.all():
        bad = np.flatnonzero(~np.atleast_1d(valid))
        raise SMCFailedError(
            f"tempered SMC degenerated (all weights zero, NaN or infinite log-evidence) in run(s) {bad.tolist()} "
            f"at exponent(s) {np.atleast_1d(expo)[bad].tolist()}; check the log-likelihood for NaN/+inf, "
            "use more particles or a higher target_ess"
        )
    if np.any(expo < 1.0):
        raise SMCFailedError(
            f"tempered SMC did not reach exponent 1 within max_steps={max_steps} (stopped at "
            f"{np.atleast_1d(expo).min():.3g}); raise max_steps or target_ess"
        )
    pos = state.population.particles.position
    unr = jax.vmap(jax.vmap(unravel)) if batched else jax.vmap(unravel)
    ns = np.asarray(num_steps)
    tr = jax.tree_util.tree_map(np.asarray, trace)
    if not batched:
        k = int(ns)
        tr = type(tr)(tr.exponents[: k + 1], tr.acceptance[:k], tr.ess[:k], tr.increments[:k])
    return SMCResult(
        particles=unr(pos),
        log_weights=np.asarray(state.population.log_weights),
        log_evidence=np.asarray(state.population.log_evidence),
        exponents=tr.exponents,
        acceptance_rates=tr.acceptance,
        ess=tr.ess,
        log_evidence_increments=tr.increments,
        num_steps=ns,
    )
