r"""Bayesian top-two model: posterior over reliabilities, confusions and the top-two pairs.

Priors: :math:`p_i \sim \mathrm{Beta}(a, b)`, :math:`(g_j, h_j)` uniform over ordered pairs,
:math:`q_j \sim U(1/2, 1)`; likelihood as in :class:`crowd.TopTwo`.  Sampling is by the
data-augmentation Gibbs sampler of :mod:`crowd._gibbs` (exact conjugate updates; the discrete
pair is enumerated exactly and its conditional probabilities Rao-Blackwellised), vectorised over
the flat answer arrays (cost per sweep :math:`O(\mathrm{nnz} + m K^2)` per chain), chains stacked.
Output follows the probinf convention: ArviZ ``InferenceData`` (``idata_``) for diagnostics.
Validated against exact quadrature on a tiny problem and by simulation-based calibration
(``tests/crowd/test_bayes.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd

from crowd._answers import check_fitted, encode
from crowd._checks import check_int, check_pair, check_random_state, check_real
from crowd._gibbs import GibbsDraws, GibbsState, run_gibbs
from crowd.exceptions import CrowdDeprecationWarning
from crowd.top_two import best_pairs, check_top_two, confusion_mle, pair_scores, spectral_stage
from probinf.deprecation import renamed_argument
from probinf.progress import progress
from probinf.randomness import key_from_generator

if TYPE_CHECKING:
    from crowd.smc import TopTwoSMCResult

__all__ = ["BayesianTopTwo"]


class BayesianTopTwo:
    r"""Posterior inference in the top-two model by Gibbs sampling.

    Parameters
    ----------
    num_samples : int
        Kept draws per chain.
    num_warmup : int
        Discarded sweeps per chain.
    num_chains : int
        Independent chains (vmapped).
    thin : int
        Sweeps between kept draws (the pair posterior averages every sweep).
    reliability_prior : (float, float)
        Beta(a, b) prior of :math:`p_i` (default uniform).
    confidence_level : float
        Level of the equal-tailed credible intervals in ``top_two_`` and ``skills_interval_``.
    init : {"top_two", "prior"}
        Start every chain at the :class:`crowd.TopTwo` estimates (default) or at prior draws.
    labels : sequence, optional
        Declared label set (``K = len(labels) >= 3``).
    duplicates : {"error", "keep", "first", "last"}
    method : {"gibbs", "smc"}
        ``"gibbs"`` (default): the data-augmentation Gibbs sampler.  ``"smc"``: adaptive tempered
        SMC from :func:`probinf.tempered_smc` on :math:`(p, q)` with the pairs summed out exactly
        (:mod:`crowd.smc`; ``num_samples`` particles, one run; also sets ``log_evidence_``).  For
        small problems and model comparison: its random-walk moves scale poorly with ``n + m``.
    random_state : None, int or numpy Generator
        Same seed, same draws, on both methods; ``None`` is fresh entropy on both (the JAX key of
        ``method="smc"`` is drawn from the same Generator).
    credible_level : float, optional
        Former name of ``confidence_level`` (deprecated for one release; it warns in ``fit``).

    Attributes
    ----------
    top_two_ : DataFrame
        Indexed by task: MAP pair ``first``, ``second``, its posterior probability ``pair_prob``,
        posterior mean ``confusion`` and its interval ``confusion_low``, ``confusion_high``.
    pair_probas_ : DataFrame
        Long table (task, first, second, prob) of candidate pairs with probability >= 1e-3,
        sorted by task and decreasing probability.
    pair_proba_array_ : ndarray (m, K, K)
        Full posterior over ordered pairs (Rao-Blackwellised over all sweeps and chains).
    probas_ : DataFrame
        tasks x labels posterior of the truth :math:`P(g_j = a)`.
    labels_ : Series
        Posterior mode of :math:`g_j`.
    skills_ : Series
        Posterior mean of :math:`p_i`; ``skills_interval_``: DataFrame ``low, high``.
    idata_ : arviz.InferenceData
        Draws of ``p`` (worker) and ``q`` (task), dims (chain, draw, ...) (``az.rhat``, ``az.ess``).
    draws_ : GibbsDraws or TopTwoSMCResult
        Raw kept draws (Gibbs: also the canonical ``first``/``second`` pair draws).
    log_evidence_ : float
        ``method="smc"`` only: log marginal likelihood estimate (unbiased in Z).

    Examples
    --------
    >>> from crowd import BayesianTopTwo, simulate_top_two
    >>> answers, truth, skills = simulate_top_two(8, 10, 3, 1.0, seed=0)
    >>> est = BayesianTopTwo(num_samples=100, num_warmup=50, num_chains=2, random_state=0).fit(answers)
    >>> bool(np.allclose(est.probas_.sum(axis=1), 1.0, atol=1e-4))
    True
    """

    def __init__(self, num_samples: int = 500, num_warmup: int = 200, num_chains: int = 2, thin: int = 1,
                 reliability_prior=(1.0, 1.0), confidence_level: float = 0.9, init: str = "top_two", labels=None,
                 duplicates: str = "error", method: str = "gibbs", random_state=None, credible_level=None):
        self.method = method
        self.num_samples = num_samples
        self.num_warmup = num_warmup
        self.num_chains = num_chains
        self.thin = thin
        self.reliability_prior = reliability_prior
        self.confidence_level = confidence_level
        self.init = init
        self.labels = labels
        self.duplicates = duplicates
        self.random_state = random_state
        self.credible_level = credible_level

    def _check(self) -> tuple[float, np.random.Generator]:
        """Validate the hyperparameters; the confidence level and the fit's one Generator."""
        for name in ("num_samples", "num_chains", "thin"):
            check_int(name, getattr(self, name), 1)
        check_int("num_warmup", self.num_warmup, 0)
        a, b = check_pair("reliability_prior", self.reliability_prior)
        if not (a > 0 and b > 0):
            raise ValueError(f"reliability_prior must be two positive Beta parameters, got {self.reliability_prior!r}")
        if self.credible_level is not None:
            check_real("credible_level", self.credible_level, 0.0, 1.0, lo_open=True, hi_open=True)
        level = renamed_argument(self.credible_level, self.confidence_level, old="credible_level",
                                 new="confidence_level", default=0.9, category=CrowdDeprecationWarning, stacklevel=4)
        check_real("confidence_level", level, 0.0, 1.0, lo_open=True, hi_open=True)
        rng = check_random_state(self.random_state)
        if self.method not in ("gibbs", "smc"):
            raise ValueError(f"method must be 'gibbs' or 'smc', got {self.method!r}")
        if self.init not in ("top_two", "prior"):
            raise ValueError(f"init must be 'top_two' or 'prior', got {self.init!r}")
        return float(level), rng

    def _init_states(self, rng, enc, C):
        n, m, K = enc.n_workers, enc.n_tasks, enc.n_labels
        if self.init == "top_two":
            st1 = spectral_stage(enc)
            first, second, _ = best_pairs(pair_scores(enc, st1.skills, st1.confusion))
            q = confusion_mle(enc, st1.skills, first, second)
            return GibbsState(np.tile(st1.skills, (C, 1)), np.tile(q, (C, 1)), np.tile(first, (C, 1)),
                              np.tile(second, (C, 1)))
        a, b = self.reliability_prior
        g = rng.integers(0, K, (C, m))
        h = (g + rng.integers(1, K, (C, m))) % K
        return GibbsState(rng.beta(a, b, (C, n)), rng.uniform(0.5, 1.0, (C, m)), g, h)

    def fit(self, data: pd.DataFrame) -> BayesianTopTwo:
        confidence_level, rng = self._check()
        enc = encode(data, self.labels, self.duplicates, min_labels=2)
        check_top_two(enc)
        n, m, K, C = enc.n_workers, enc.n_tasks, enc.n_labels, int(self.num_chains)
        a, b = (float(v) for v in self.reliability_prior)
        if self.method == "smc":
            import jax

            import probinf
            from crowd.smc import top_two_smc

            key_smc, key_resample = jax.random.split(key_from_generator(rng))
            res = top_two_smc(enc.w, enc.t, enc.l, n=n, m=m, K=K, key=key_smc,
                              num_particles=int(self.num_samples), a_p=a, b_p=b, num_chains=1)
            # equal-weight draws: probinf's systematic resampling of the final population
            idx = np.asarray(probinf.resample(key_resample, res.log_weights))
            p, q, P = res.p[idx][None], res.q[idx][None], res.pair_probs.astype(float)
            self.draws_: TopTwoSMCResult | GibbsDraws = res
            self.log_evidence_ = res.log_evidence
        else:
            init = self._init_states(rng, enc, C)
            draws = run_gibbs(rng, init, enc.w, enc.t, enc.l, n=n, m=m, K=K, a_p=a, b_p=b,
                              num_warmup=int(self.num_warmup), num_samples=int(self.num_samples),
                              thin=int(self.thin), progress_fn=lambda it: progress(it, desc="BayesianTopTwo Gibbs"))
            self.draws_ = draws
            p = np.asarray(draws.p, float)  # (C, S, n)
            q = np.asarray(draws.q, float)  # (C, S, m)
            P = np.asarray(draws.pair_probs, float).mean(axis=0)  # (m, K, K)
        P = P / P.sum(axis=(1, 2), keepdims=True)
        alpha = (1.0 - confidence_level) / 2
        flat = P.reshape(m, K * K)
        best = flat.argmax(axis=1)
        first, second = best // K, best % K
        qf = q.reshape(-1, m)
        self.top_two_ = pd.DataFrame({
            "first": enc.labels[first], "second": enc.labels[second], "pair_prob": flat[np.arange(m), best],
            "confusion": qf.mean(axis=0), "confusion_low": np.quantile(qf, alpha, axis=0),
            "confusion_high": np.quantile(qf, 1 - alpha, axis=0)}, index=enc.tasks)
        self.pair_proba_array_ = P
        tt, aa, bb = np.nonzero(P >= 1e-3)
        pp = pd.DataFrame({"task": enc.tasks[tt], "first": enc.labels[aa], "second": enc.labels[bb],
                           "prob": P[tt, aa, bb], "_t": tt})
        self.pair_probas_ = (pp.sort_values(["_t", "prob"], ascending=[True, False]).drop(columns="_t")
                             .reset_index(drop=True))
        marg = P.sum(axis=2)
        self.probas_ = pd.DataFrame(marg, index=enc.tasks, columns=enc.labels)
        self.labels_ = pd.Series(enc.labels[marg.argmax(axis=1)], index=enc.tasks, name="agg_label")
        pf = p.reshape(-1, n)
        self.skills_ = pd.Series(pf.mean(axis=0), index=enc.workers, name="skill")
        self.skills_interval_ = pd.DataFrame({"low": np.quantile(pf, alpha, axis=0),
                                              "high": np.quantile(pf, 1 - alpha, axis=0)}, index=enc.workers)
        self.idata_ = az.from_dict(posterior={"p": p, "q": q},
                                   coords={"worker": np.asarray(enc.workers, dtype=object).astype(str),
                                           "task": np.asarray(enc.tasks, dtype=object).astype(str)},
                                   dims={"p": ["worker"], "q": ["task"]})
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series:
        """Fit and return the posterior mode of the truth per task."""
        return self.fit(data).labels_

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """Fit and return the tasks x labels posterior of the truth."""
        return self.fit(data).probas_

    def predict(self) -> pd.Series:
        check_fitted(self, "labels_")
        return self.labels_
