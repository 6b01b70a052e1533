r"""Result containers of the samplers, convertible to ArviZ ``InferenceData``.

:class:`SMCResult` holds the final weighted population of an SMC sampler (one
run, or several independent runs stacked on a leading ``chain`` axis), its
log-evidence and per-step diagnostics.  ``.to_arviz()`` returns an
``InferenceData`` with

- ``posterior``: equally weighted draws, dims ``(chain, draw, ...)``; when the
  final weights are not uniform they are resampled (systematic) so that the
  draws are an unweighted sample, as every ArviZ diagnostic assumes;
- ``sample_stats``: ``log_evidence`` (constant along ``draw``), ``log_weight``
  (the final normalized log-weights of the draws before any resampling),
  ``acceptance_rate`` / ``ess`` of the last SMC step, and the per-step traces
  ``exponent_per_step``, ``log_evidence_increment_per_step``, ``ess_per_step``,
  ``acceptance_rate_per_step`` (extra dim ``smc_step``, NaN-padded; constant along ``draw``);
- ``log_likelihood`` (when the sampler recorded it, as :func:`probinf.smc` does):
  pointwise log-likelihood of every observed site at every draw, so that
  ``az.loo`` / ``az.waic`` / ``az.compare`` work;
- ``observed_data`` (same condition): the observed values;
- ``attrs``: the full per-step traces (tempering exponents, acceptance rates,
  ESS) as lists, and the sampler name.

NumPyro-style access: ``get_samples(group_by_chain=False)`` and ``print_summary()``
(:func:`numpyro.diagnostics.print_summary`).  Results are immutable: a frozen
dataclass whose NumPy arrays are read-only.

Several independent runs give R-hat across chains (:func:`arviz.rhat`).
Other samplers (PMMH, particle Gibbs) may reuse :func:`to_inference_data`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from arviz import InferenceData

__all__ = ["SMCResult", "to_inference_data", "print_samples_summary"]


def _import_arviz() -> ModuleType:
    # ArviZ 0.2x emits a FutureWarning about its refactor on first import; it is
    # not actionable for our users and would fail test suites run with -W error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def to_inference_data(posterior: dict[str, Any], sample_stats: dict[str, Any] | None = None, *,
                      attrs: dict[str, Any] | None = None, observed_data: dict[str, Any] | None = None,
                      log_likelihood: dict[str, Any] | None = None,
                      dims: dict[str, list[str]] | None = None) -> InferenceData:
    """``arviz.from_dict`` with NumPy conversion; arrays must have leading ``(chain, draw)`` axes
    (except ``observed_data``).  Observed sites get dims ``<site>_dim_<j>`` shared by
    ``log_likelihood`` and ``observed_data``."""
    az = _import_arviz()
    post = {k: np.asarray(v) for k, v in posterior.items()}
    stats = None if sample_stats is None else {k: np.asarray(v) for k, v in sample_stats.items()}
    dims = dict(dims or {})
    kw: dict[str, dict[str, NDArray[Any]]] = {}
    if observed_data:
        kw["observed_data"] = {k: np.asarray(v) for k, v in observed_data.items()}
        for k, v in kw["observed_data"].items():
            dims.setdefault(k, [f"{k}_dim_{j}" for j in range(np.ndim(v))])
    if log_likelihood:
        kw["log_likelihood"] = {k: np.asarray(v) for k, v in log_likelihood.items()}
    if stats is not None:
        for k in stats:
            if k.endswith("_per_step"):
                dims.setdefault(k, ["smc_step"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ArviZ warns about dims it infers itself
        idata: InferenceData = az.from_dict(posterior=post, sample_stats=stats, attrs=attrs or {},
                                            dims=dims or None, **kw)
    return idata


def print_samples_summary(samples_by_chain: dict[str, Any], *, prob: float = 0.9, header: str | None = None) -> None:
    """NumPyro's :func:`numpyro.diagnostics.print_summary` over ``{name: (chain, draw, ...)}`` draws.

    Shared by the result classes that offer ``print_summary()``.
    """
    from numpyro.diagnostics import print_summary

    if header:
        print(header)
    print_summary({k: np.asarray(v) for k, v in samples_by_chain.items()}, prob=prob, group_by_chain=True)


def _read_only(tree: Any) -> Any:
    def freeze(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            x = x.view()
            x.flags.writeable = False
        return x

    return jax.tree_util.tree_map(freeze, tree)


@dataclass(frozen=True)
class SMCResult:
    r"""Output of :func:`probinf.tempered_smc` and :func:`probinf.smc` (immutable).

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
    pointwise_log_likelihood : dict or None
        For :func:`probinf.smc`: observed site -> log-likelihood of each observation at each
        particle, ``(N, *obs_shape)`` (or ``(C, N, ...)``); the ``log_likelihood`` group of ArviZ.
    observed_data : dict or None
        For :func:`probinf.smc`: observed site -> observed values.
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
    extra: dict[str, Any] = field(default_factory=dict)
    pointwise_log_likelihood: Any = None
    observed_data: Any = None

    def __post_init__(self) -> None:
        for name in ("particles", "log_weights", "log_evidence", "exponents", "acceptance_rates", "ess",
                     "log_evidence_increments", "num_steps", "unconstrained", "pointwise_log_likelihood",
                     "observed_data"):
            object.__setattr__(self, name, _read_only(getattr(self, name)))

    @property
    def num_chains(self) -> int:
        return 1 if np.ndim(self.log_evidence) == 0 else int(np.shape(self.log_evidence)[0])

    def _batched(self, x: Any) -> NDArray[Any]:
        a: NDArray[Any] = np.asarray(x)
        return a[None] if np.ndim(self.log_evidence) == 0 else a

    def _equal_weight_indices(self, resample_seed: int = 0) -> NDArray[np.int_]:
        """(C, N) indices giving an unweighted sample: identity when the final weights are uniform,
        a systematic resample otherwise."""
        from probinf.resampling import RESAMPLING_METHODS

        lw = self._batched(self.log_weights)
        c, n = lw.shape
        idx = np.tile(np.arange(n), (c, 1))
        for i in range(c):
            w = np.exp(lw[i] - lw[i].max())
            if np.ptp(w / w.sum()) > 1e-6 / n:  # non-uniform: resample to an unweighted sample
                key = jax.random.fold_in(jax.random.key(resample_seed), i)
                idx[i] = np.asarray(RESAMPLING_METHODS["systematic"](key, lw[i], n))
        return idx

    def _named_leaves(self) -> list[tuple[str, Any]]:
        leaves_tree = jax.tree_util.tree_map(self._batched, self.particles)
        if isinstance(leaves_tree, dict):
            return list(leaves_tree.items())
        flat, _ = jax.tree_util.tree_flatten_with_path(leaves_tree)
        return [(jax.tree_util.keystr(p) or "x", v) for p, v in flat]

    def _posterior(
        self, resample_seed: int = 0
    ) -> tuple[dict[str, NDArray[Any]], NDArray[np.int_], Callable[[Any], NDArray[Any]]]:
        idx = self._equal_weight_indices(resample_seed)

        def take(v: Any) -> NDArray[Any]:
            return np.take_along_axis(np.asarray(v), idx.reshape(idx.shape + (1,) * (np.ndim(v) - 2)), axis=1)

        return {name: take(v) for name, v in self._named_leaves()}, idx, take

    def get_samples(self, group_by_chain: bool = False, *, resample_seed: int = 0) -> dict[str, NDArray[Any]]:
        """Equally weighted posterior draws, ``{site: array}``, as :meth:`numpyro.infer.MCMC.get_samples`.

        ``group_by_chain=True`` keeps a leading chain axis ``(C, N, ...)`` (C = 1 for one run);
        otherwise chains are concatenated, ``(C * N, ...)``.  Weighted final populations are
        resampled (systematic, ``resample_seed``) first.
        """
        post, _, _ = self._posterior(resample_seed)
        if group_by_chain:
            return post
        return {k: v.reshape((-1,) + v.shape[2:]) for k, v in post.items()}

    def print_summary(self, prob: float = 0.9, exclude_deterministic: bool = True) -> None:
        """Mean, sd, median, the ``prob`` interval, n_eff and R-hat of each site (NumPyro's table),
        after the log-evidence.  n_eff treats the particles as one chain's draws (an indication)."""
        post = self.get_samples(group_by_chain=True)
        latent = self.extra.get("latent_sites") if exclude_deterministic else None
        if latent:
            post = {k: v for k, v in post.items() if k in latent}
        le = np.atleast_1d(np.asarray(self.log_evidence, float))
        header = (f"{self.sampler}: log evidence {le.mean():.4f}"
                  + (f" (+- {le.std(ddof=1) / np.sqrt(le.size):.4f} over {le.size} runs)" if le.size > 1 else "")
                  + f", {int(np.max(self.num_steps))} tempering steps")
        print_samples_summary(post, prob=prob, header=header)

    def to_arviz(self, *, resample_seed: int = 0) -> InferenceData:
        """ArviZ ``InferenceData`` (see module docstring for the groups)."""
        posterior, idx, take = self._posterior(resample_seed)
        lw = self._batched(self.log_weights)
        c, n = lw.shape
        le = self._batched(self.log_evidence)
        ns = self._batched(self.num_steps).astype(int)
        acc = self._batched(self.acceptance_rates)
        ess = self._batched(self.ess)
        expo = self._batched(self.exponents)
        incr = self._batched(self.log_evidence_increments)

        def last(a: NDArray[Any]) -> NDArray[Any]:
            return np.array([a[i, ns[i] - 1] if ns[i] > 0 else np.nan for i in range(c)])

        def per_step(a: NDArray[Any]) -> NDArray[Any]:  # (C, steps) -> (C, N, steps), constant along draw
            return np.broadcast_to(a[:, None, :], (c, n, a.shape[1]))

        stats = {
            "log_evidence": np.repeat(le[:, None], n, axis=1),
            "log_weight": np.take_along_axis(lw, idx, axis=1),
            "acceptance_rate": np.repeat(last(acc)[:, None], n, axis=1),
            "ess": np.repeat(last(ess)[:, None], n, axis=1),
            "exponent_per_step": per_step(expo[:, 1:]),
            "log_evidence_increment_per_step": per_step(incr),
            "ess_per_step": per_step(ess),
            "acceptance_rate_per_step": per_step(acc),
        }
        attrs = {
            "sampler": self.sampler,
            "num_steps": ns.tolist(),
            "exponents": [expo[i, : ns[i] + 1].tolist() for i in range(c)],
            "acceptance_rates": [acc[i, : ns[i]].tolist() for i in range(c)],
            "ess_trace": [ess[i, : ns[i]].tolist() for i in range(c)],
        }
        log_lik = None
        if self.pointwise_log_likelihood:
            log_lik = {k: take(self._batched(v)) for k, v in self.pointwise_log_likelihood.items()}
        return to_inference_data(posterior, stats, attrs=attrs, observed_data=self.observed_data,
                                 log_likelihood=log_lik)
