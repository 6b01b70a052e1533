r"""Result containers of the samplers, convertible to ArviZ ``InferenceData``.

:class:`SMCResult` holds the final weighted population of an SMC sampler (one
run, or several independent runs stacked on a leading ``chain`` axis), its
log-evidence and per-step diagnostics.  ``.to_arviz()`` returns an
``InferenceData`` with

- ``posterior``: equally weighted draws, dims ``(chain, draw, ...)``; when the
  final weights are not uniform they are resampled (systematic) so that the
  draws are an unweighted sample, as every ArviZ diagnostic assumes;
- ``sample_stats``: ``log_evidence`` (constant along ``draw``), ``log_weight``
  (the final normalized log-weights of the draws before any resampling), and
  ``acceptance_rate`` / ``ess`` of the last SMC step;
- ``attrs``: the full per-step traces (tempering exponents, acceptance rates,
  ESS) as lists, and the sampler name.

Several independent runs give R-hat across chains (:func:`arviz.rhat`).
Other samplers (PMMH, particle Gibbs) may reuse :func:`to_inference_data`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

__all__ = ["SMCResult", "to_inference_data"]


def _import_arviz():
    # ArviZ 0.2x emits a FutureWarning about its refactor on first import; it is
    # not actionable for our users and would fail test suites run with -W error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def to_inference_data(posterior: dict, sample_stats: dict | None = None, *, attrs: dict | None = None,
                      observed_data: dict | None = None, dims: dict | None = None):
    """``arviz.from_dict`` with NumPy conversion; arrays must have leading ``(chain, draw)`` axes."""
    az = _import_arviz()
    post = {k: np.asarray(v) for k, v in posterior.items()}
    stats = None if sample_stats is None else {k: np.asarray(v) for k, v in sample_stats.items()}
    kw = {}
    if observed_data:
        kw["observed_data"] = {k: np.asarray(v) for k, v in observed_data.items()}
    return az.from_dict(posterior=post, sample_stats=stats, attrs=attrs or {}, dims=dims, **kw)


@dataclass
class SMCResult:
    r"""Output of :func:`probinf.tempered_smc` and :func:`probinf.smc`.

    Attributes
    ----------
    particles : pytree
        Final particles, leaves of shape ``(N, ...)`` (or ``(C, N, ...)`` for
        ``C`` independent runs).  For :func:`probinf.smc` a dict of constrained
        site values (deterministic sites included).
    log_weights : array, shape (N,) or (C, N)
        Final normalized log-weights (uniform after the last resample-move step).
    log_evidence : float or array (C,)
        :math:`\log \hat Z`; :math:`\hat Z` is unbiased for :math:`Z = \int p(x) L(x) dx`.
    exponents : array, shape (T+1,) or (C, max_steps+1)
        Tempering exponents :math:`0 = \lambda_0 < \dots < \lambda_T = 1` (NaN-padded for C runs).
    acceptance_rates : array, shape (T,) or (C, max_steps)
        Mean MH acceptance rate of the moves at each step.
    ess : array, shape (T,) or (C, max_steps)
        ESS after reweighting at each step (before resampling).
    log_evidence_increments : array, like ``ess``
        :math:`\log \hat Z_t / \hat Z_{t-1}`.
    num_steps : int or array (C,)
        Number of tempering steps T.
    unconstrained : pytree or None
        For :func:`probinf.smc`: the particles in NumPyro's unconstrained space.
    """

    particles: Any
    log_weights: Any
    log_evidence: Any
    exponents: Any
    acceptance_rates: Any
    ess: Any
    log_evidence_increments: Any
    num_steps: Any
    unconstrained: Any = None
    sampler: str = "tempered_smc"
    extra: dict = field(default_factory=dict)

    @property
    def num_chains(self) -> int:
        return 1 if np.ndim(self.log_evidence) == 0 else int(np.shape(self.log_evidence)[0])

    def _batched(self, x):
        x = np.asarray(x)
        return x[None] if np.ndim(self.log_evidence) == 0 else x

    def to_arviz(self, *, resample_seed: int = 0):
        """ArviZ ``InferenceData`` (see module docstring for the groups)."""
        from probinf.resampling import RESAMPLING_METHODS

        lw = self._batched(self.log_weights)
        c, n = lw.shape
        leaves_tree = jax.tree_util.tree_map(self._batched, self.particles)
        idx = np.tile(np.arange(n), (c, 1))
        for i in range(c):
            w = np.exp(lw[i] - lw[i].max())
            if np.ptp(w / w.sum()) > 1e-6 / n:  # non-uniform: resample to an unweighted sample
                key = jax.random.fold_in(jax.random.key(resample_seed), i)
                idx[i] = np.asarray(RESAMPLING_METHODS["systematic"](key, lw[i], n))
        if isinstance(leaves_tree, dict):
            items = leaves_tree.items()
        else:
            flat, _ = jax.tree_util.tree_flatten_with_path(leaves_tree)
            items = [(jax.tree_util.keystr(p) or "x", v) for p, v in flat]
        posterior = {name: np.take_along_axis(
            np.asarray(v), idx.reshape(idx.shape + (1,) * (np.ndim(v) - 2)), axis=1) for name, v in items}
        le = self._batched(self.log_evidence)
        ns = self._batched(self.num_steps).astype(int)
        acc = self._batched(self.acceptance_rates)
        ess = self._batched(self.ess)
        last = lambda a: np.array([a[i, ns[i] - 1] if ns[i] > 0 else np.nan for i in range(c)])
        stats = {
            "log_evidence": np.repeat(le[:, None], n, axis=1),
            "log_weight": np.take_along_axis(lw, idx, axis=1),
            "acceptance_rate": np.repeat(last(acc)[:, None], n, axis=1),
            "ess": np.repeat(last(ess)[:, None], n, axis=1),
        }
        expo = self._batched(self.exponents)
        attrs = {
            "sampler": self.sampler,
            "num_steps": ns.tolist(),
            "exponents": [expo[i, : ns[i] + 1].tolist() for i in range(c)],
            "acceptance_rates": [acc[i, : ns[i]].tolist() for i in range(c)],
            "ess_trace": [ess[i, : ns[i]].tolist() for i in range(c)],
        }
        return to_inference_data(posterior, stats, attrs=attrs)
