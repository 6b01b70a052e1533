r"""Particle Gibbs and parallel tempering (Puri et al. 2025, Sec. 3.3; Andrieu et al. 2010).

**Particle Gibbs (PG).**  ``T`` iterations of conditional SMC with ``N`` particles
(budget ``N * T``).  Iteration 1 is a particle filter; a reference particle is then
drawn from the final weights.  Each later iteration runs ``N - 1`` fresh particles
plus the reference in slot 0.  At step ``t`` the reference is its prefix truncated to
``t`` steps and weighted by the potential of its **partial** reward at step ``t``
(stored when it was generated), the same quantity every other particle is weighted
by at step ``t``; only the ``N - 1`` other slots are resampled (multinomially, from all
``N`` weights, so the reference's prefix can be forked).  This fixes its_hub #54, where
the reference's full-trajectory weight was compared with partial weights -- which
breaks the invariance of the conditional SMC kernel.  With the fake process, the
kernel leaves the target exactly invariant, which the tests check.

**Parallel tempering (PT).**  ``M`` PG chains at softmax temperatures
``tau * ladder[k]`` (targets :math:`p_M(x) \exp(S(x)/\tau_k)` with
:math:`S(x) = \sum_t \operatorname{logit} \hat r_t(x)`); after every iteration
neighbouring chains propose to swap references, accepted with probability
:math:`\min\{1, \exp((\beta_k - \beta_{k+1})(S(x_{k+1}) - S(x_k)))\}`, ``beta = 1/tau``.
Budget ``M * N * T``.

Example
-------
>>> from llm_bridge.testing import MarkovStepProcess, FakeBackend, FakePRM
>>> proc = MarkovStepProcess.default(fixed_length=3)
>>> res = ParticleGibbs(num_iterations=2).infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=8, seed=0)
>>> len(res.particles)
4
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import cast

import numpy as np

from llm_bridge.algorithms.config import StepConfig
from llm_bridge.algorithms.particle import Particle, TTSResult
from llm_bridge.algorithms.particle_filtering import ParticleFiltering
from llm_bridge.algorithms.selection import finish
from llm_bridge.algorithms.session import Session
from llm_bridge.algorithms.smc import SMCOptions, log_potential, run_smc
from llm_bridge.budget import Usage, check_budget

__all__ = ["ParticleGibbs", "ParallelTempering"]

_DEFAULT_STEP = StepConfig()  # frozen, so one shared default is safe


def _draw_reference(particles, lw, rng) -> Particle:
    w = np.exp(lw - lw.max())
    return particles[rng.choice(len(w), p=w / w.sum())]


class ParticleGibbs(ParticleFiltering):
    """Particle Gibbs: ``num_iterations`` conditional-SMC sweeps with ``budget // num_iterations`` particles.

    Parameters are those of :class:`~llm_bridge.algorithms.ParticleFiltering` plus
    ``num_iterations`` (``T``; ``budget`` must be a multiple of it).  Resampling is
    multinomial at every step (conditional SMC).
    """

    name = "pg"

    def __init__(self, *, num_iterations: int = 4, step: StepConfig = _DEFAULT_STEP, aggregation="model",
                 tau: float = 1.0, potential: str = "step", final: str = "argmax",
                 answer_fn: Callable[[str], Hashable] | None = None):
        super().__init__(step=step, aggregation=aggregation, tau=tau, potential=potential, final=final,
                         answer_fn=answer_fn)
        self.num_iterations = num_iterations

    @staticmethod
    def reference_at(reference: Particle, t: int) -> Particle:
        """The reference as at step ``t``: prefix ``x*_{1:t}`` and its PARTIAL reward ``r(x*_{1:t})``."""
        return reference.truncated(t)

    def sweep(self, session: Session, n: int, reference: Particle | None, opts: SMCOptions):
        """One conditional-SMC sweep; returns ``(particles, log_weights, history)``."""
        return run_smc(session, n, opts, reference=reference, reference_at=self.reference_at)

    def infer(self, backend, prm, prompt: str, *, budget: int, seed: int = 0, question: str | None = None,
              usage: Usage | None = None, reference: Particle | None = None) -> TTSResult:
        """Run PG; ``reference`` (optional) seeds the first sweep as a conditional one."""
        t_it = check_budget(self.num_iterations, "num_iterations")
        n = check_budget(budget, multiple_of=t_it) // t_it
        opts = SMCOptions(self.tau, self.potential, "every", 0.5, "multinomial", True).validate()
        self._check_final()
        if prm is None:
            raise ValueError("particle Gibbs needs a reward model (prm)")
        session = Session(backend, prm, prompt, config=self.step, aggregation=self.aggregation, usage=usage,
                          key=seed, question=question)
        rng = session.rng
        history = []
        for it in range(t_it):
            particles, lw, h = self.sweep(session, n, reference, opts)
            history += [dict(rec, iteration=it) for rec in h]
            reference = _draw_reference(particles, lw, rng)
        return finish(self.name, session, particles, lw, history, self.final, self.answer_fn, reference=reference)


class ParallelTempering(ParticleGibbs):
    """Parallel tempering over ``num_chains`` PG chains with temperatures ``tau * ladder``.

    ``ladder`` defaults to ``2 ** k`` (k = 0..M-1).  Budget ``= M * N * T``.  The final
    pick is made over the pooled final particles of all chains.
    """

    name = "pt"

    def __init__(self, *, num_chains: int = 2, num_iterations: int = 2, ladder=None, step: StepConfig = _DEFAULT_STEP,
                 aggregation="model", tau: float = 1.0, final: str = "argmax",
                 answer_fn: Callable[[str], Hashable] | None = None):
        super().__init__(num_iterations=num_iterations, step=step, aggregation=aggregation, tau=tau,
                         potential="step", final=final, answer_fn=answer_fn)
        self.num_chains = num_chains
        self.ladder = ladder

    def infer(self, backend, prm, prompt: str, *, budget: int, seed: int = 0, question: str | None = None,
              usage: Usage | None = None, reference=None) -> TTSResult:
        m = check_budget(self.num_chains, "num_chains")
        t_it = check_budget(self.num_iterations, "num_iterations")
        n = check_budget(budget, multiple_of=m * t_it) // (m * t_it)
        ladder = np.asarray(self.ladder if self.ladder is not None else 2.0 ** np.arange(m), float)
        if ladder.shape != (m,) or not (ladder > 0).all():
            raise ValueError(f"ladder must hold {m} positive temperature multipliers, got {self.ladder!r}")
        self._check_final()
        if prm is None:
            raise ValueError("parallel tempering needs a reward model (prm)")
        taus = self.tau * ladder
        opts = [SMCOptions(float(tk), "step", "every", 0.5, "multinomial", True).validate() for tk in taus]
        session = Session(backend, prm, prompt, config=self.step, aggregation=self.aggregation, usage=usage,
                          key=seed, question=question)
        rng = session.rng
        refs: list[Particle | None] = [None] * m
        history, swaps = [], 0
        for it in range(t_it):
            pools = []
            for k in range(m):
                particles, lw, h = self.sweep(session, n, refs[k], opts[k])
                history += [dict(rec, iteration=it, chain=k) for rec in h]
                refs[k] = _draw_reference(particles, lw, rng)
                pools.append((particles, lw))
            for k in range(it % 2, m - 1, 2):  # alternate even/odd neighbour pairs
                ref_k, ref_l = cast(Particle, refs[k]), cast(Particle, refs[k + 1])  # drawn in the sweep above
                s_k = float(np.sum(log_potential(np.array(ref_k.rewards))))
                s_l = float(np.sum(log_potential(np.array(ref_l.rewards))))
                log_acc = (1 / taus[k] - 1 / taus[k + 1]) * (s_l - s_k)
                if np.log(max(rng.random(), 1e-300)) < log_acc:
                    refs[k], refs[k + 1] = refs[k + 1], refs[k]
                    swaps += 1
        particles = [p for pool, _ in pools for p in pool]
        lw = np.concatenate([w - np.logaddexp.reduce(w) for _, w in pools])
        history.append({"swaps": swaps})
        return finish(self.name, session, particles, lw, history, self.final, self.answer_fn, reference=refs[0])
