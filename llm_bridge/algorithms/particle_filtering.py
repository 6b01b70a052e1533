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
through probinf's reweight / ESS / resampling blocks on an index population
(:mod:`llm_bridge.algorithms.smc`; multinomial by default, as in the paper).
Finished particles (EOS / ``final_stop`` / ``max_steps``) stay in
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

from collections.abc import Callable, Hashable

from llm_bridge.algorithms.config import StepConfig
from llm_bridge.algorithms.particle import TTSResult
from llm_bridge.algorithms.selection import check_final, finish
from llm_bridge.algorithms.session import Session
from llm_bridge.algorithms.smc import SMCOptions, run_smc
from llm_bridge.budget import Usage, check_budget

__all__ = ["ParticleFiltering", "SMCOptions", "run_smc", "finish"]

_DEFAULT_STEP = StepConfig()  # frozen, so one shared default is safe


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

    def __init__(self, *, step: StepConfig = _DEFAULT_STEP, aggregation="model", tau: float = 1.0,
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
        check_final(self.final)

    def infer(self, backend, prm, prompt: str, *, budget: int, seed: int = 0, question: str | None = None,
              usage: Usage | None = None) -> TTSResult:
        """Run the filter with ``budget`` particles on one prompt; same ``seed`` (an int or a JAX key), same result."""
        n = check_budget(budget)
        opts = self._options()
        self._check_final()
        if prm is None:
            raise ValueError("particle filtering needs a reward model (prm); use 'majority' for none")
        session = Session(backend, prm, prompt, config=self.step, aggregation=self.aggregation, usage=usage,
                          key=seed, question=question)
        particles, lw, history = run_smc(session, n, opts)
        return finish(self.name, session, particles, lw, history, self.final, self.answer_fn)
