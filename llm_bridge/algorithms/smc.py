r"""The SMC loop shared by particle filtering, particle Gibbs and parallel tempering.

The text of a particle is a Python object; the weights are not.  The loop therefore runs
probinf's blocks on an **index population**: normalized log-weights over the slots ``0..N-1``.
One call per step (:func:`smc_step`)

1. reweights with the step's log-potential increments (:func:`probinf.host.host_reweight`, the host
   twin of ``probinf.population.reweight``: normalized log-weights, log-evidence :math:`\log\hat Z`
   gains :math:`\log\sum_i W_i G_i`, and the ESS);
2. decides the trigger (``every`` / ``ess < threshold N`` / ``never``, and never when no particle
   is active);
3. resamples every slot with the scheme's host block
   (:data:`probinf.host.HOST_RESAMPLING_FROM_UNIFORMS`), or, when finished particles stay out of
   resampling or a reference holds slot 0, draws ancestors with that scheme into the chosen slots
   only (see :func:`_into_slots`);

and returns the ancestor indices; the host gathers the Python particles by ancestor
(``particles[a]``).  The blocks run in NumPy on the host: at the particle counts of LLM search
(tens to a few thousand) a compiled JAX call costs more to dispatch and copy back than its
arithmetic, and the particles are host objects anyway.  The host blocks equal probinf's JAX blocks
for the same uniforms (``tests/probinf/test_host.py``).  The uniforms come from one
``numpy.random.Generator`` per run, seeded from the run's key (:meth:`KeyStream.generator
<llm_bridge.algorithms.randomness.KeyStream.generator>`): same seed, same result, and no JAX call
per step.

Weights: ``potential="step"`` adds :math:`\log G_t = \operatorname{logit}(\hat r_t)/\tau` at every
step (the paper's ``softmax(logit(r)/tau)`` resampling); ``potential="twisted"`` adds
:math:`\log G_t - \log G_{t-1}` (the PRM read as a twisting function of the final answer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from llm_bridge.algorithms.particle import Particle
from llm_bridge.exceptions import InvalidRewardError
from probinf.host import HOST_RESAMPLING_FROM_UNIFORMS, host_reweight, host_uniforms
from probinf.resampling import RESAMPLING_METHODS

__all__ = ["SMCOptions", "StepResult", "log_potential", "log_increments", "smc_step", "run_smc", "RESAMPLING_TRIGGERS"]

#: When the filter resamples: every step, when ``ESS < ess_threshold * N``, or never.
RESAMPLING_TRIGGERS = ("every", "ess", "never")
_EPS = 1e-6


def log_potential(r, tau: float = 1.0):
    r"""The paper's resampling log-weight :math:`\mathrm{logit}(\hat r)/\tau`, with ``r`` clipped to ``[1e-6, 1-1e-6]``.

    ``softmax(logit(r)/tau)`` is the resampling distribution of Puri et al. (2025), official
    code ``--softmax-temp``: probability :math:`\propto (r/(1-r))^{1/\tau}`.
    """
    r = np.clip(np.asarray(r, float), _EPS, 1 - _EPS)
    out = (np.log(r) - np.log1p(-r)) / tau
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class SMCOptions:
    """The weighting/resampling choices shared by PF, particle Gibbs and parallel tempering."""

    tau: float = 1.0
    potential: str = "step"
    resampling: str = "every"
    ess_threshold: float = 0.5
    method: str = "multinomial"
    resample_finished: bool = True

    def validate(self) -> SMCOptions:
        if isinstance(self.tau, bool) or not (isinstance(self.tau, (int, float)) and self.tau > 0
                                              and np.isfinite(self.tau)):
            raise ValueError(f"tau (softmax temperature) must be a positive float, got {self.tau!r}")
        if self.potential not in ("step", "twisted"):
            raise ValueError(f"potential must be 'step' or 'twisted', got {self.potential!r}")
        if self.resampling not in RESAMPLING_TRIGGERS:
            raise ValueError(f"resampling must be one of {RESAMPLING_TRIGGERS}, got {self.resampling!r}")
        if isinstance(self.ess_threshold, bool) or not isinstance(self.ess_threshold, (int, float)) \
                or not (0.0 < self.ess_threshold <= 1.0):
            raise ValueError(f"ess_threshold must be in (0, 1], got {self.ess_threshold!r}")
        if not isinstance(self.method, str) or self.method not in RESAMPLING_METHODS:
            raise ValueError(f"method must be one of {sorted(RESAMPLING_METHODS)}, got {self.method!r}")
        if not isinstance(self.resample_finished, bool):
            raise TypeError(f"resample_finished must be a bool, got {type(self.resample_finished).__name__}")
        return self


def log_increments(particles, opts: SMCOptions) -> np.ndarray:
    """Log-weight increments: ``log G_t`` ("step") or ``log G_t - log G_{t-1}`` ("twisted")."""
    n = len(particles)
    g = np.atleast_1d(log_potential(np.fromiter((p.rewards[-1] for p in particles), float, n), opts.tau))
    if opts.potential == "step":
        return g
    prev = np.fromiter((p.rewards[-2] if len(p.rewards) >= 2 else 0.5 for p in particles), float, n)
    return g - np.atleast_1d(log_potential(prev, opts.tau))  # logit(0.5) = 0: no previous potential


class StepResult(NamedTuple):
    """What one :func:`smc_step` returns (host arrays)."""

    log_weights: np.ndarray  # (N,) normalized, after reweighting (and resampling)
    log_evidence: float  # running log Z-hat
    ancestors: np.ndarray  # (N,) ancestor of each slot; the identity when nothing was resampled
    resampled: bool
    ess: float  # after reweighting, before resampling


def _draw(rng: np.random.Generator, log_weights: np.ndarray, method: str) -> np.ndarray:
    """``N`` ancestors with the ``method`` scheme (probinf's host block, uniforms from ``rng``)."""
    n = log_weights.shape[0]
    return HOST_RESAMPLING_FROM_UNIFORMS[method](log_weights, n, host_uniforms(rng, n, method))


def _into_slots(rng: np.random.Generator, log_weights: np.ndarray, slots: np.ndarray, source: np.ndarray,
                method: str, keep_total: bool) -> tuple[np.ndarray, np.ndarray]:
    """Draw ancestors for ``slots`` (bool (N,)) from the particles in ``source`` (bool (N,)); ``(anc, log_weights)``.

    ``N`` ancestors are drawn with the ``method`` scheme from the source weights (others -inf)
    and the ``K`` target slots take a cyclic window of ``K`` of them starting at a uniformly
    random offset.  Each draw is in the window with probability ``K / N`` independently of the
    draws, so ``E[count_i] = K w_i / sum_source w`` for every scheme; multinomial draws are iid
    in slot order, so the window is exactly ``K`` iid draws.  Slots outside ``slots`` keep their
    particle.  ``keep_total``: the target slots share their previous total weight equally
    (finished particles keep theirs); else every weight becomes uniform (conditional SMC).
    """
    n = log_weights.shape[0]
    draws = _draw(rng, np.where(source, log_weights, -np.inf), method)
    offset = int(rng.integers(n))
    rank = np.cumsum(slots) - 1
    anc = np.where(slots, draws[(rank + offset) % n], np.arange(n))
    if keep_total:
        share = np.logaddexp.reduce(log_weights[slots]) - np.log(np.count_nonzero(slots))
        return anc, np.where(slots, share, log_weights)
    return anc, np.full(n, -np.log(n))


def smc_step(rng: np.random.Generator, log_weights: np.ndarray, log_evidence: float, log_increment: np.ndarray,
             active: np.ndarray, *, resampling: str, threshold: float, method: str, mode: str) -> StepResult:
    """One weighting + resampling step of the index population (see the module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
        The run's host generator (seeded once from the run's key).
    log_weights : float array (N,)
        Normalized log-weights before this step.
    log_evidence : float
        Running log-evidence.
    log_increment : float array (N,)
        This step's log-potential increments.
    active : bool array (N,)
        Particles still being extended.
    resampling, threshold
        Trigger: ``"every"``, ``"ess"`` (``ESS < threshold * N``) or ``"never"``; never when no particle is active.
    method
        ``probinf.resampling`` scheme.
    mode
        ``"all"`` (every slot resampled from every weight), ``"active"`` (only the active particles, among
        themselves, keeping their total weight) or ``"reference"`` (conditional SMC: slot 0 is kept and the other
        ``N - 1`` slots are drawn multinomially from all ``N`` weights; weights become uniform).
    """
    n = log_weights.shape[0]
    rw = host_reweight(log_weights, log_increment)
    if not rw.valid:
        raise InvalidRewardError(f"the step's log-potential increments give no usable weight (NaN, +inf, or every "
                                 f"weight zero): {np.asarray(log_increment)[:8]!r}...")
    log_z = log_evidence + rw.log_evidence_increment
    do = (resampling == "every" or (resampling == "ess" and rw.ess < threshold * n)) and bool(active.any())
    if not do:
        return StepResult(rw.log_weights, log_z, np.arange(n), False, rw.ess)
    if mode == "all":
        return StepResult(np.full(n, -np.log(n)), log_z, _draw(rng, rw.log_weights, method), True, rw.ess)
    if mode == "active":
        anc, lw = _into_slots(rng, rw.log_weights, active, active, method, keep_total=True)
    else:
        anc, lw = _into_slots(rng, rw.log_weights, np.arange(n) > 0, np.ones(n, bool), "multinomial",
                              keep_total=False)
    return StepResult(lw, log_z, anc, True, rw.ess)


def _mode(opts: SMCOptions, reference) -> str:
    if reference is not None:
        return "reference"
    return "all" if opts.resample_finished else "active"


def run_smc(session, n: int, opts: SMCOptions, *, reference: Particle | None = None,
            reference_at: Callable[[Particle, int], Particle] | None = None):
    """The shared SMC loop; returns ``(particles, log_weights, history)`` (normalized log-weights).

    With ``reference`` this is conditional SMC (Andrieu, Doucet & Holenstein 2010): slot 0 holds
    ``reference_at(reference, t)``, the reference truncated to step ``t`` WITH ITS STEP-``t``
    PARTIAL REWARD, and only the other ``n - 1`` slots are resampled (multinomially, from all
    ``n`` weights) and extended.
    """
    cfg = session.config
    reference_at = reference_at or (lambda ref, t: ref.truncated(t))
    mode = _mode(opts, reference)
    particles = [Particle()] * n  # frozen: one empty particle can fill every slot
    rng = session.rng.generator()
    lw = np.full(n, -np.log(n))
    log_z = 0.0
    ref_lw = 0.0  # the reference's unnormalized log-weight since the last resampling
    history = []
    t = 0
    while t < cfg.max_steps and any(not p.done for p in particles):
        t += 1
        if reference is not None:
            particles = session.advance(particles, skip=(0,))
            particles[0] = reference_at(reference, t)
        else:
            particles = session.advance(particles)
        inc = log_increments(particles, opts)
        active = np.fromiter((not p.done for p in particles), bool, n)
        step = smc_step(rng, lw, log_z, inc, active, resampling=opts.resampling,
                        threshold=float(opts.ess_threshold), method=opts.method, mode=mode)
        lw, log_z = step.log_weights, step.log_evidence
        rec = {"step": t, "ess": step.ess, "active": int(active.sum()), "resampled": step.resampled}
        if reference is not None:
            ref_lw += float(inc[0])
            rec["reference_log_weight"] = ref_lw  # the weight the reference competes with at step t
            ref_lw = 0.0 if step.resampled else ref_lw
        if step.resampled:
            particles = [particles[a] for a in step.ancestors.tolist()]
        history.append(rec)
    return particles, lw, history
