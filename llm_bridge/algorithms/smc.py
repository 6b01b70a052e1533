r"""The SMC loop shared by particle filtering, particle Gibbs and parallel tempering.

The text of a particle is a Python object; the weights are not.  The loop therefore runs
probinf's blocks on an **index population**: a :class:`probinf.population.Population` whose
particles are the slot indices ``0..N-1``.  One compiled call per step (:func:`smc_step`)

1. reweights it with the step's log-potential increments (``probinf.population.reweight``:
   normalized log-weights, log-evidence :math:`\log\hat Z` gains :math:`\log\sum_i W_i G_i`);
2. computes the ESS (``probinf.weights.ess``) and the trigger (``every`` / ``ess < threshold N``
   / ``never``, and never when no particle is active);
3. resamples through ``probinf.population.resample_population`` (every slot), or, when finished
   particles stay out of resampling or a reference holds slot 0, draws ancestors with the
   ``probinf.resampling`` scheme into the chosen slots only (see :func:`smc_step`);

and returns the ancestor indices; the host gathers the Python particles by ancestor
(``particles[a]``).  Between steps the only host work is the backend and reward-model calls
and that gather; the compiled step is traced once per ``(N, options)``.

Weights: ``potential="step"`` adds :math:`\log G_t = \operatorname{logit}(\hat r_t)/\tau` at every
step (the paper's ``softmax(logit(r)/tau)`` resampling); ``potential="twisted"`` adds
:math:`\log G_t - \log G_{t-1}` (the PRM read as a twisting function of the final answer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from llm_bridge.algorithms.particle import Particle
from probinf.population import Population, init_population, resample_population, reweight, take_particles
from probinf.resampling import RESAMPLING_METHODS
from probinf.weights import ess as _ess

__all__ = ["SMCOptions", "log_potential", "log_increments", "smc_step", "run_smc", "RESAMPLING_TRIGGERS"]

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
    g = np.atleast_1d(log_potential(np.array([p.rewards[-1] for p in particles], float), opts.tau))
    if opts.potential == "step":
        return g
    prev = np.array([p.rewards[-2] if len(p.rewards) >= 2 else 0.5 for p in particles], float)
    return g - np.atleast_1d(log_potential(prev, opts.tau))  # logit(0.5) = 0: no previous potential


def _reweighted(population: Population, log_increment) -> Population:
    out = reweight(population, log_increment)
    return out if isinstance(out, Population) else out[0]  # reweight may also return an info


def _into_slots(key, population: Population, slots, source, method: str, keep_total: bool):
    """Draw ancestors for ``slots`` (bool (N,)) from the particles in ``source`` (bool (N,)).

    ``N`` ancestors are drawn with the ``method`` scheme from the source weights (others -inf)
    and the ``K`` target slots take a cyclic window of ``K`` of them starting at a uniformly
    random offset.  Each draw is in the window with probability ``K / N`` independently of the
    draws, so ``E[count_i] = K w_i / sum_source w`` for every scheme; multinomial draws are iid
    in slot order, so the window is exactly ``K`` iid draws.  (A random offset instead of a
    random permutation: a sort costs more than the rest of the step at small N.)  Slots outside
    ``slots`` keep their particle.  ``keep_total``: the target slots share their previous total
    weight equally (finished particles keep theirs); else every weight becomes uniform
    (conditional SMC).
    """
    n = population.num_particles
    lw = population.log_weights
    k_draw, k_offset = jax.random.split(key)
    src = jnp.where(source, lw, -jnp.inf)
    draws = RESAMPLING_METHODS[method](k_draw, src, n)
    offset = jax.random.randint(k_offset, (), 0, n)
    rank = jnp.cumsum(slots) - 1
    anc = jnp.where(slots, draws[(rank + offset) % n], jnp.arange(n, dtype=draws.dtype))
    if keep_total:
        k = jnp.sum(slots)
        share = logsumexp(jnp.where(slots, lw, -jnp.inf)) - jnp.log(k)
        new_lw = jnp.where(slots, share, lw)
    else:
        new_lw = jnp.full_like(lw, -jnp.log(n))
    return Population(take_particles(population.particles, anc), new_lw, population.log_evidence), anc


@partial(jax.jit, static_argnames=("resampling", "threshold", "method", "mode"))
def smc_step(key, population: Population, log_increment, active, *, resampling: str, threshold: float,
             method: str, mode: str):
    """One weighting + resampling step of the index population (see the module docstring).

    Parameters
    ----------
    key : jax.random.key
    population : Population
        Particles are the slot indices (int32 (N,)); normalized log-weights.
    log_increment : float array (N,)
        This step's log-potential increments.
    active : bool array (N,)
        Particles still being extended.
    resampling, threshold : static
        Trigger: ``"every"``, ``"ess"`` (``ESS < threshold * N``) or ``"never"``; never when no particle is active.
    method : static
        ``probinf.resampling`` scheme.
    mode : static
        ``"all"`` (every slot resampled from every weight), ``"active"`` (only the active particles, among
        themselves, keeping their total weight) or ``"reference"`` (conditional SMC: slot 0 is kept and the other
        ``N - 1`` slots are drawn multinomially from all ``N`` weights; weights become uniform).

    Returns
    -------
    key : jax.random.key
        The next key (``key`` split once inside: no separate dispatch for it).
    population : Population
        ``particles`` holds the ancestor index of each slot (the identity when nothing was resampled).
    info : int32 array (N + 2,)
        The ancestors, then ``resampled`` (0/1), then the ESS after reweighting (float32 bits): one
        transfer to the host per step.
    """
    key, sub = jax.random.split(key)
    n = population.num_particles
    population = _reweighted(population, log_increment)
    ess = _ess(population.log_weights)
    trigger = {"every": jnp.array(True), "ess": ess < threshold * n, "never": jnp.array(False)}[resampling]
    do = trigger & jnp.any(active)
    identity = jnp.arange(n, dtype=population.particles.dtype)
    base = population._replace(particles=identity)

    def yes(pop):
        if mode == "all":
            new, _ = resample_population(sub, pop, method)
            return new
        if mode == "active":
            return _into_slots(sub, pop, active, active, method, keep_total=True)[0]
        slots = identity > 0
        return _into_slots(sub, pop, slots, jnp.ones_like(slots), "multinomial", keep_total=False)[0]

    new = jax.lax.cond(do, yes, lambda pop: pop, base)
    ess_bits = jax.lax.bitcast_convert_type(ess.astype(jnp.float32), jnp.int32)
    info = jnp.concatenate([new.particles.astype(jnp.int32), do.astype(jnp.int32)[None], ess_bits[None]])
    return key, new, info


_init_population = jax.jit(init_population)  # one dispatch instead of a few eager ops per run


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
    static = dict(resampling=opts.resampling, threshold=float(opts.ess_threshold), method=opts.method, mode=mode)
    particles = [Particle() for _ in range(n)]
    pop = _init_population(np.arange(n, dtype=np.int32))
    ref_lw = 0.0  # the reference's unnormalized log-weight since the last resampling
    history = []
    t = 0
    while t < cfg.max_steps and any(not p.done for p in particles):
        t += 1
        if reference is not None:
            particles = session.extend(particles, skip=(0,))
            particles = [reference_at(reference, t)] + session.score(particles[1:])
        else:
            particles = session.score(session.extend(particles))
        inc = log_increments(particles, opts)
        active = np.fromiter((not p.done for p in particles), bool, n)
        session.rng.key, pop, info = smc_step(session.rng.key, pop, inc.astype(np.float32), active, **static)
        info = np.asarray(info)
        anc, resampled, ess = info[:n], bool(info[n]), float(info[n + 1:].view(np.float32)[0])
        rec = {"step": t, "ess": ess, "active": int(active.sum()), "resampled": resampled}
        if reference is not None:
            ref_lw += float(inc[0])
            rec["reference_log_weight"] = ref_lw  # the weight the reference competes with at step t
            ref_lw = 0.0 if resampled else ref_lw
        if resampled:
            particles = [particles[a] for a in anc]
        history.append(rec)
    return particles, np.asarray(pop.log_weights, float), history
