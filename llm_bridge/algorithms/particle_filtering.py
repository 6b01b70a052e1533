r"""Particle filtering for LLM test-time scaling (Puri et al. 2025, Algorithm 1).

State-space model: the latent state is the partial answer :math:`x_{1:t}`, the
transition is the policy :math:`p_M(x_t \mid c, x_{<t})` (one step per generation
call) and the emission is an "accepted" observation with likelihood given by the
PRM reward :math:`\hat r_t = \hat r(c, x_{1:t})`, through the potential

.. math::  \log G_t = \operatorname{logit}(\hat r_t) / \tau .

``potential="step"`` (default, the paper): every step emits, so the weights
accumulate :math:`\log w \mathrel{+}= \log G_t`; with resampling at every step this is
exactly the paper's ``softmax(logit(r)/tau)`` resampling, and the filter targets
:math:`\pi(x) \propto p_M(x) \prod_t G_t(x_{1:t})`.  ``potential="twisted"``: the
increment is :math:`\log G_t - \log G_{t-1}`, so the target is
:math:`p_M(x)\,G(x)` -- the PRM read as a twisting function of the final answer.

Resampling every step (default) or when ``ESS < ess_threshold * N`` (its_hub #208),
with ``probinf.resample`` (multinomial by default, as in the paper) and
``probinf.ess``.  Finished particles (EOS / ``final_stop`` / ``max_steps``) stay in
the pool, frozen: never extended again, their final reward re-applied in "step"
mode, increment 0 in "twisted" mode; ``resample_finished=False`` resamples only the
active particles among themselves.  Final pick: ``argmax`` of the final reward (the
paper's evaluation), ``sample`` from the final weights (its_hub #169), or ``majority`` /
``weighted`` voting over the pool.

Budget ``N`` = number of particles.  Per step: one batched generation (per distinct
prefix multiplicity) and one batched PRM call for the new partial answers.

References
----------
Puri, Sudalairaj, Xu, Xu, Srivastava (2025). A Probabilistic Inference Approach to
Inference-Time Scaling of LLMs using Particle-Based Monte Carlo Methods. arXiv:2502.01618.

Example
-------
>>> from llm_bridge.testing import MarkovStepProcess, FakeBackend, FakePRM
>>> proc = MarkovStepProcess.default()
>>> pf = ParticleFiltering()
>>> res = pf.infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=8, seed=0)
>>> len(res.particles), res.usage.generations > 0
(8, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Hashable

import jax
import numpy as np

import probinf
from llm_bridge.algorithms._engine import Particle, Session, StepConfig, TTSResult, log_potential, select
from llm_bridge.budget import Usage, check_budget

__all__ = ["ParticleFiltering", "SMCOptions", "run_smc", "resample_indices"]

_RESAMPLE = ("every", "ess", "never")
_FINAL = ("argmax", "sample", "majority", "weighted")


@dataclass(frozen=True)
class SMCOptions:
    """The weighting/resampling choices shared by PF, particle Gibbs and parallel tempering."""

    tau: float = 1.0
    potential: str = "step"
    resampling: str = "every"
    ess_threshold: float = 0.5
    method: str = "multinomial"
    resample_finished: bool = True

    def validate(self) -> "SMCOptions":
        if not (isinstance(self.tau, (int, float)) and self.tau > 0 and np.isfinite(self.tau)):
            raise ValueError(f"tau (softmax temperature) must be a positive float, got {self.tau!r}")
        if self.potential not in ("step", "twisted"):
            raise ValueError(f"potential must be 'step' or 'twisted', got {self.potential!r}")
        if self.resampling not in _RESAMPLE:
            raise ValueError(f"resampling must be one of {_RESAMPLE}, got {self.resampling!r}")
        if not (0.0 < self.ess_threshold <= 1.0):
            raise ValueError(f"ess_threshold must be in (0, 1], got {self.ess_threshold!r}")
        if self.method not in probinf.RESAMPLING_METHODS:
            raise ValueError(f"method must be one of {sorted(probinf.RESAMPLING_METHODS)}, got {self.method!r}")
        return self


def _increments(particles, opts: SMCOptions) -> np.ndarray:
    """Log-weight increments: ``log G_t`` ("step") or ``log G_t - log G_{t-1}`` ("twisted")."""
    g = log_potential(np.array([p.rewards[-1] for p in particles], float), opts.tau)
    if opts.potential == "step":
        return np.atleast_1d(g)
    prev = np.array([p.rewards[-2] if len(p.rewards) >= 2 else 0.5 for p in particles], float)
    return np.atleast_1d(g - log_potential(prev, opts.tau))  # logit(0.5) = 0: no previous potential


_ess = jax.jit(probinf.ess)  # probinf's ESS, compiled once per particle count (eager JAX costs ~10 ms a call)


@partial(jax.jit, static_argnames=("num", "method"))
def _resample_seeded(seed, log_weights, num: int, method: str):
    # Key construction inside the compiled call: building a PRNGKey eagerly costs ~1 ms a step.
    # The weights were validated on the host (check_log_weights), so no flag is carried back.
    return probinf.RESAMPLING_METHODS[method](jax.random.PRNGKey(seed), log_weights, num)


def resample_indices(rng: np.random.Generator, log_weights, num: int, method: str) -> np.ndarray:
    """``num`` ancestor indices from ``log_weights`` with ``probinf.resample``, compiled once per power of two.

    ``probinf.resample`` is jitted with static sizes; to avoid one compilation per
    particle count (the active count changes every step), the weights are padded with
    ``-inf`` (never drawn) to the next power of two ``m >= max(N, num)``, ``m`` indices
    are drawn, and a uniformly random subset of ``num`` of them is kept.  Every kept
    index has the resampling marginal, so offspring counts stay unbiased
    (``E[count_i] = num * w_i``); when ``num == m`` the scheme is used as is.
    """
    lw = probinf.check_log_weights(np.asarray(log_weights, float))
    m = 1 << int(max(len(lw), num) - 1).bit_length()
    padded = np.full(m, -np.inf, np.float32)
    padded[: len(lw)] = lw - lw.max()
    seed = np.int32(rng.integers(0, 2**31 - 1))  # one draw per call: same seed, same result
    anc = np.asarray(_resample_seeded(seed, padded, m, method))
    if num < m:
        anc = anc[rng.permutation(m)[:num]]
    return anc


def run_smc(session: Session, n: int, opts: SMCOptions, *, reference: Particle | None = None,
            reference_at: Callable[[Particle, int], Particle] | None = None):
    """The shared SMC loop; returns ``(particles, log_weights, history)``.

    With ``reference`` this is conditional SMC (Andrieu, Doucet & Holenstein 2010):
    slot 0 holds ``reference_at(reference, t)``, the reference truncated to step ``t``
    WITH ITS STEP-``t`` PARTIAL REWARD, and only the other ``n - 1`` slots are
    resampled (multinomially, from all ``n`` weights) and extended.
    """
    cfg = session.config
    reference_at = reference_at or (lambda ref, t: ref.truncated(t))
    particles = [Particle() for _ in range(n)]
    lw = np.zeros(n)
    history = []
    t = 0
    while t < cfg.max_steps and any(not p.done for p in particles):
        t += 1
        skip = (0,) if reference is not None else ()
        particles = session.extend(particles, skip=skip)
        if reference is not None:
            others = session.score(particles[1:])
            particles = [reference_at(reference, t)] + others
        else:
            particles = session.score(particles)
        lw = lw + _increments(particles, opts)
        ess = float(_ess(lw))
        active = [not p.done for p in particles]
        rec = {"step": t, "ess": ess, "active": int(sum(active)), "resampled": False}
        if reference is not None:
            rec["reference_log_weight"] = float(lw[0])  # the weight the reference competes with at step t
        if any(active) and (opts.resampling == "every" or (opts.resampling == "ess" and ess < opts.ess_threshold * n)):
            rec["resampled"] = True
            if reference is not None:
                if n > 1:
                    anc = resample_indices(session.rng, lw, n - 1, "multinomial")
                    particles = [particles[0]] + [particles[a] for a in anc]
                lw = np.zeros(n)
            elif opts.resample_finished:
                anc = resample_indices(session.rng, lw, n, opts.method)
                particles = [particles[a] for a in anc]
                lw = np.zeros(n)
            else:
                idx = [i for i, a in enumerate(active) if a]
                anc = resample_indices(session.rng, lw[idx], len(idx), opts.method)
                new = [particles[idx[a]] for a in anc]
                for slot, p in zip(idx, new):
                    particles[slot] = p
                # the active particles' total weight is kept (split equally), finished ones keep theirs
                tot = np.logaddexp.reduce(lw[idx])
                lw[idx] = tot - np.log(len(idx))
        history.append(rec)
    return particles, lw, history


class ParticleFiltering:
    r"""Particle filtering (Puri et al. 2025), see the module docstring.

    Parameters
    ----------
    step : StepConfig
        Step definition (delimiter or token count), sampling parameters, retries.
    aggregation : str or callable
        PRM aggregation: ``"model"`` (default; best in the paper's ablation), ``"prod"``,
        ``"min"``, ``"last"``, ``"mean"`` or ``f(scores) -> float``.
    tau : float
        Softmax temperature of the resampling weights ``softmax(logit(r)/tau)``.
    potential : {"step", "twisted"}
    resampling : {"every", "ess", "never"}
    ess_threshold : float
        Relative ESS below which ``resampling="ess"`` resamples.
    method : {"multinomial", "systematic", "stratified", "residual"}
        ``probinf.resample`` scheme (paper: multinomial).
    resample_finished : bool
        Finished particles take part in resampling (paper's ``--resample-inactive``).
    final : {"argmax", "sample", "majority", "weighted"}
    answer_fn : callable, optional
        ``text -> canonical answer`` for voting and ``TTSResult.answer``.
    """

    name = "pf"

    def __init__(self, *, step: StepConfig = StepConfig(), aggregation="model", tau: float = 1.0,
                 potential: str = "step", resampling: str = "every", ess_threshold: float = 0.5,
                 method: str = "multinomial", resample_finished: bool = True, final: str = "argmax",
                 answer_fn: Callable[[str], Hashable] | None = None):
        self.step = step
        self.aggregation = aggregation
        self.tau = tau
        self.potential = potential
        self.resampling = resampling
        self.ess_threshold = ess_threshold
        self.method = method
        self.resample_finished = resample_finished
        self.final = final
        self.answer_fn = answer_fn

    def _options(self) -> SMCOptions:
        return SMCOptions(self.tau, self.potential, self.resampling, self.ess_threshold, self.method,
                          self.resample_finished).validate()

    def _check_final(self):
        if self.final not in _FINAL:
            raise ValueError(f"final must be one of {_FINAL}, got {self.final!r}")

    def infer(self, backend, prm, prompt: str, *, budget: int, seed: int = 0, question: str | None = None,
              usage: Usage | None = None) -> TTSResult:
        """Run the filter with ``budget`` particles on one prompt; same seed, same result."""
        n = check_budget(budget)
        opts = self._options()
        self._check_final()
        rng = np.random.default_rng(seed)
        session = Session(backend, prm, prompt, config=self.step, aggregation=self.aggregation, usage=usage,
                          rng=rng, question=question)
        if prm is None:
            raise ValueError("particle filtering needs a reward model (prm); use 'majority' for none")
        particles, lw, history = run_smc(session, n, opts)
        return finish(self.name, session, particles, lw, history, self.final, self.answer_fn)


def finish(name, session, particles, lw, history, final, answer_fn) -> TTSResult:
    """Normalize weights, make the final pick and package a :class:`TTSResult`."""
    lw = np.asarray(lw, float)
    lwn = lw - np.logaddexp.reduce(lw)
    i = select(session, particles, lwn, final, answer_fn, session.rng)
    text = session.text(particles[i])
    from llm_bridge.algorithms._engine import default_answer_fn

    ans = (answer_fn or default_answer_fn)(text)
    return TTSResult(name, text, ans, i, list(particles), lwn, session.usage, history, [text])


