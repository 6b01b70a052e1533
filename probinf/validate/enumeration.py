r"""Exact enumeration of resampling and particle filtering on tiny discrete models.

The idea is monad-bayes's (Scibior, Kammar & Ghahramani 2018,
doi:10.1145/3236778): enumerate *all* of the algorithm's own randomness (every
proposal draw and every resampling outcome, each with its exact probability),
collapse, and compare with the exact answer.  For a particle filter this checks,
exactly and to rounding,

.. math::

    E[\hat Z_t] = Z_t = p(y_{0:t}), \qquad
    E\Big[\hat Z_t \sum_i W_t^i \varphi(X_t^i)\Big] = Z_t\, E[\varphi(X_t) \mid y_{0:t}],

i.e. unbiasedness of the evidence and proper weighting of the particles, jointly.

Resampling is enumerated exactly over the cells of its uniforms
(:mod:`probinf.validate.resampling_cells`, whose functions are re-exported here); everything runs in
float64 (``jax.enable_x64(True)``).

Users can plug in their own blocks: a resampler ``(log_weights, M, u) -> ancestors``
with its breakpoints, and a ``reweight(population, log_increment)`` block.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp

from probinf._compat import enable_x64
from probinf.population import Population
from probinf.population import reweight as _reweight_block
from probinf.validate.resampling_cells import (
    Resampler,
    enumerate_resampling,
    offspring_distribution,
    resampling_breakpoints,
)

__all__ = [
    "EnumerationResult",
    "resampling_breakpoints",
    "enumerate_resampling",
    "offspring_distribution",
    "exact_hmm_posterior",
    "enumerate_particle_filter",
    "exact_path_posterior",
    "enumerate_csmc_kernel",
]

_Floats = NDArray[np.float64]
#: ``(Population, log_increment) -> (Population, info)``
ReweightFn = Callable[[Population, jax.Array], tuple[Population, Any]]
#: ``(weights (N,), M) -> breakpoints``, one sorted array in [0, 1] per uniform coordinate
BreakpointsFn = Callable[[_Floats, int], Sequence[_Floats]]
#: a particle system up to its probability: (states (N,), log-weights (N,), log-evidence)
_State = tuple[tuple[int, ...], tuple[float, ...], float]
#: (probability, states (N,), previous log-weights (N,), previous log-evidence, log increments (N,))
_Branch = tuple[float, NDArray[np.int_], _Floats, float, _Floats]


_BATCHED_REWEIGHT: dict[Callable[..., Any], Callable[..., Any]] = {}


def _batched_reweight(rw: ReweightFn) -> Callable[..., Any]:
    if rw not in _BATCHED_REWEIGHT:
        def one(lw: jax.Array, lz: jax.Array, inc: jax.Array) -> tuple[jax.Array, jax.Array]:
            pop, _ = rw(Population(jnp.zeros(lw.shape[0]), lw, lz), inc)
            return pop.log_weights, pop.log_evidence

        _BATCHED_REWEIGHT[rw] = jax.jit(jax.vmap(one))
    return _BATCHED_REWEIGHT[rw]


def exact_hmm_posterior(initial_probs: ArrayLike, transition_matrix: ArrayLike,
                        obs_log_lik: ArrayLike) -> tuple[_Floats, _Floats]:
    r"""Forward algorithm for a finite-state HMM.

    Parameters
    ----------
    initial_probs : (K,) array, :math:`p(X_0 = k)`.
    transition_matrix : (K, K) array, ``P[j, k] = p(X_t = k | X_{t-1} = j)``.
    obs_log_lik : (T, K) array, :math:`\log p(y_t \mid X_t = k)`.

    Returns
    -------
    log_evidence : (T,) array, :math:`\log p(y_{0:t})` for every t.
    filtering : (T, K) array, :math:`p(X_t = k \mid y_{0:t})`.
    """
    p0 = np.asarray(initial_probs, np.float64)
    P = np.asarray(transition_matrix, np.float64)
    ll = np.asarray(obs_log_lik, np.float64)
    log_z: list[float] = []
    filt: list[_Floats] = []
    pred = p0
    lz = 0.0
    for t in range(ll.shape[0]):
        joint = np.log(pred) + ll[t]
        inc = logsumexp(joint)
        lz += inc
        post = np.exp(joint - inc)
        log_z.append(lz)
        filt.append(post)
        pred = post @ P
    return np.array(log_z), np.array(filt)


class EnumerationResult(NamedTuple):
    """Collapsed output of an enumerated particle filter and the exact answers.

    ``expected_evidence[t]`` is :math:`E[\\hat Z_t]`, ``exact_evidence[t]`` is
    :math:`Z_t`; ``collapsed_filtering[t, k]`` is
    :math:`E[\\hat Z_t \\sum_i W^i_t 1\\{X^i_t = k\\}] / Z_t`, to compare with
    ``exact_filtering[t, k]``.  ``total_probability`` should be 1 and
    ``num_branches`` counts the merged outcomes enumerated.
    """

    expected_evidence: _Floats
    exact_evidence: _Floats
    collapsed_filtering: _Floats
    exact_filtering: _Floats
    total_probability: _Floats
    num_branches: int

    @property
    def max_evidence_rel_error(self) -> float:
        return float(np.max(np.abs(self.expected_evidence / self.exact_evidence - 1.0)))

    @property
    def max_filtering_error(self) -> float:
        return float(np.max(np.abs(self.collapsed_filtering - self.exact_filtering)))


def enumerate_particle_filter(initial_probs: ArrayLike, transition_matrix: ArrayLike, obs_log_lik: ArrayLike,
                              num_particles: int, *, method: str = "systematic", ess_threshold: float = 0.5,
                              proposal: tuple[ArrayLike, ArrayLike] | None = None, reweight: ReweightFn | None = None,
                              resampler: Resampler | None = None, breakpoints: BreakpointsFn | None = None
                              ) -> EnumerationResult:
    r"""Enumerate every outcome of a particle filter on a finite-state HMM.

    The filter is the one :func:`probinf.particle_filter` runs, composed from the
    same blocks: ESS-triggered resampling (``ESS < ess_threshold * N``, decided
    by :func:`probinf.ess`), the real resampling scheme, propagation by the
    model (bootstrap) or by ``proposal = (q0, Q)`` (guided, tables like
    ``initial_probs`` / ``transition_matrix``), and :func:`probinf.reweight`
    with :math:`G_t = g_t f_t / q_t`.

    Parameters
    ----------
    initial_probs, transition_matrix, obs_log_lik
        The HMM (see :func:`exact_hmm_posterior`).
    num_particles : int
        ``N`` (keep ``N <= 3``; outcomes grow as ``K^N`` per step).
    method, ess_threshold, proposal
        Filter configuration.
    reweight : callable, optional
        Your own ``reweight(Population, log_increment) -> (Population, info)`` block.
    resampler, breakpoints : callable, optional
        Your own resampler (see :func:`enumerate_resampling`); ``breakpoints`` is
        then a function ``(weights, M) -> list of arrays``.

    Returns
    -------
    EnumerationResult

    Examples
    --------
    >>> import numpy as np
    >>> r = enumerate_particle_filter([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]],
    ...                               np.log([[0.8, 0.3], [0.1, 0.7]]), 2)
    >>> r.max_evidence_rel_error < 1e-12, r.max_filtering_error < 1e-12
    (True, True)
    """
    # One function on purpose (about 100 lines): the nested helpers share the enumeration's
    # state (resampling cache, batched reweight), and the time loop reads as the filter it mirrors.
    p0 = np.asarray(initial_probs, np.float64)
    P = np.asarray(transition_matrix, np.float64)
    ll = np.asarray(obs_log_lik, np.float64)
    k_states = p0.shape[0]
    n = int(num_particles)
    q0, Q = (p0, P) if proposal is None else (np.asarray(proposal[0], np.float64), np.asarray(proposal[1], np.float64))
    with np.errstate(divide="ignore"):
        lp0, lP, lq0, lQ = np.log(p0), np.log(P), np.log(q0), np.log(Q)
    rw = reweight if reweight is not None else _reweight_block
    rw_batch = _batched_reweight(rw)
    configs = np.array(list(itertools.product(range(k_states), repeat=n)), dtype=int)  # (K^N, N)
    res_cache: dict[tuple[float, ...], dict[tuple[int, ...], float]] = {}

    def ancestors_dist(lw: _Floats) -> dict[tuple[int, ...], float]:
        key = tuple(np.round(lw, 14))
        if key not in res_cache:
            w = np.exp(lw - lw.max())
            if resampler is None:
                res_cache[key] = enumerate_resampling(w, method, n)
            else:
                if breakpoints is None:
                    raise TypeError("a custom resampler needs breakpoints=(weights, M) -> list of arrays, got None")
                res_cache[key] = enumerate_resampling(w, method, n, resampler=resampler, breakpoints=breakpoints(w, n))
        return res_cache[key]

    def collapse(states: dict[_State, float]) -> tuple[float, _Floats, float]:
        z = sum(p * np.exp(lz) for (_, _, lz), p in states.items())
        phi = np.zeros(k_states)
        for (x, lw, lz), p in states.items():
            np.add.at(phi, np.asarray(x), p * np.exp(lz) * np.exp(np.asarray(lw)))
        return z, phi, sum(states.values())

    def advance(branches: list[_Branch]) -> dict[_State, float]:
        # branches: list of (prob, x (N,), prev_lw (N,), prev_lz, log_increment (N,))
        probs = np.array([b[0] for b in branches])
        xs = np.array([b[1] for b in branches])
        nbr = len(branches)
        size = 1 << max(int(nbr - 1).bit_length(), 0)  # pad: few compiled shapes

        def padded(col: int) -> jax.Array:
            a = np.array([b[col] for b in branches], dtype=np.float64)
            return jnp.asarray(np.concatenate([a, np.repeat(a[:1], size - nbr, axis=0)]))

        with enable_x64(True):
            lw, lz = rw_batch(padded(2), padded(3), padded(4))
        lw, lz = np.asarray(lw)[:nbr], np.asarray(lz)[:nbr]
        states: dict[_State, float] = {}
        for p, x, w, z in zip(probs, xs, lw, lz, strict=True):
            if p == 0.0:
                continue
            key = (tuple(x.tolist()), tuple(w.tolist()), float(z))
            states[key] = states.get(key, 0.0) + p
        return states

    branches: list[_Branch] = []
    uniform = np.full(n, -np.log(n))
    for x in configs:
        prob = np.prod(q0[x])
        inc = ll[0, x] + lp0[x] - lq0[x]
        branches.append((prob, x, uniform, 0.0, inc))
    states = advance(branches)
    exp_z: list[float] = []
    filt: list[_Floats] = []
    tot: list[float] = []
    nb = len(branches)
    for t in range(ll.shape[0]):
        if t > 0:
            branches = []
            for (x, lw_t, lz), p in states.items():
                lw = np.asarray(lw_t)
                # The ESS rule of probinf.maybe_resample (ESS itself is tested elsewhere).
                ess_val = np.exp(2 * logsumexp(lw) - logsumexp(2 * lw))
                do = ess_val < ess_threshold * n or ess_threshold >= 1.0
                if do:
                    adist = ancestors_dist(lw)
                    base_lw = uniform
                else:
                    adist = {tuple(range(n)): 1.0}
                    base_lw = lw
                xprev = np.asarray(x)
                for anc, pa in adist.items():
                    xp = xprev[list(anc)]
                    for xn in configs:
                        prob = p * pa * np.prod(Q[xp, xn])
                        if prob == 0.0:
                            continue
                        inc = ll[t, xn] + lP[xp, xn] - lQ[xp, xn]
                        branches.append((prob, xn, base_lw, lz, inc))
            nb += len(branches)
            states = advance(branches)
        z, phi, total = collapse(states)
        exp_z.append(z)
        filt.append(phi)
        tot.append(total)
    log_z, exact_filt = exact_hmm_posterior(p0, P, ll)
    z_exact = np.exp(log_z)
    return EnumerationResult(
        expected_evidence=np.array(exp_z),
        exact_evidence=z_exact,
        collapsed_filtering=np.array(filt) / z_exact[:, None],
        exact_filtering=exact_filt,
        total_probability=np.array(tot),
        num_branches=nb,
    )


def exact_path_posterior(initial_probs: ArrayLike, transition_matrix: ArrayLike,
                         obs_log_lik: ArrayLike) -> tuple[NDArray[np.int_], _Floats]:
    """Exact posterior over all ``K^T`` state paths of a finite HMM: ``(paths (K^T, T), probs (K^T,))``."""
    p0 = np.asarray(initial_probs, np.float64)
    P = np.asarray(transition_matrix, np.float64)
    ll = np.asarray(obs_log_lik, np.float64)
    t_len, k = ll.shape
    paths = np.array(list(itertools.product(range(k), repeat=t_len)), dtype=int)
    with np.errstate(divide="ignore"):
        lp = np.log(p0[paths[:, 0]]) + ll[np.arange(t_len), paths].sum(1)
        lp = lp + np.log(P[paths[:, :-1], paths[:, 1:]]).sum(1)
    return paths, np.exp(lp - logsumexp(lp))


def enumerate_csmc_kernel(initial_probs: ArrayLike, transition_matrix: ArrayLike, obs_log_lik: ArrayLike,
                          num_particles: int, *, ancestor_sampling: bool = True,
                          conditional: bool = True) -> tuple[NDArray[np.int_], _Floats]:
    r"""Exact transition matrix of conditional SMC on the paths of a finite HMM.

    Enumerates every draw of one CSMC sweep (bootstrap proposals, multinomial
    resampling of the free particles, the reference pinned to the last slot
    with its ancestor redrawn :math:`\propto W^i_{t-1} f(x^*_t \mid x^i_{t-1})`
    when ``ancestor_sampling``, final index :math:`\propto W_{T-1}`), the
    algorithm of :func:`probinf.csmc_kernel`.  ``conditional=False`` drops the
    reference (plain SMC path sampling): a negative control that is *not*
    posterior-invariant for finite N.

    Returns
    -------
    paths : (K^T, T) int array
    kernel : (K^T, K^T) array, ``kernel[r, s] = P(new path = s | reference = r)``.
    The CSMC kernel satisfies ``pi @ kernel == pi`` for the exact path posterior
    ``pi`` (:func:`exact_path_posterior`).
    """
    p0 = np.asarray(initial_probs, np.float64)
    P = np.asarray(transition_matrix, np.float64)
    ll = np.asarray(obs_log_lik, np.float64)
    t_len, k = ll.shape
    n = int(num_particles)
    paths = np.array(list(itertools.product(range(k), repeat=t_len)), dtype=int)
    index = {tuple(p): i for i, p in enumerate(paths)}
    n_free = n - 1 if conditional else n
    kernel = np.zeros((len(paths), len(paths)))
    for r_i, ref in enumerate(paths):
        # state: (lineages tuple of tuples, prob); weights recomputed from the last states.
        states: list[tuple[list[tuple[int, ...]], float]] = []
        for xs in itertools.product(range(k), repeat=n_free):
            prob = float(np.prod(p0[list(xs)]))
            lin: list[tuple[int, ...]] = [(x,) for x in xs]
            if conditional:
                lin.append((int(ref[0]),))
            states.append((lin, prob))
        for t in range(1, t_len):
            new_states: list[tuple[list[tuple[int, ...]], float]] = []
            for lin, prob in states:
                last = np.array([lineage[-1] for lineage in lin])
                w = np.exp(ll[t - 1, last])
                w = w / w.sum()
                ref_anc: list[tuple[int | None, float]]
                if conditional and ancestor_sampling:
                    wa = w * P[last, ref[t]]
                    ref_anc = [(a, wa[a] / wa.sum()) for a in range(n) if wa[a] > 0]
                elif conditional:
                    ref_anc = [(n - 1, 1.0)]
                else:
                    ref_anc = [(None, 1.0)]
                for ancs in itertools.product(range(n), repeat=n_free):
                    pa = float(np.prod(w[list(ancs)]))
                    if pa == 0.0:
                        continue
                    for xs in itertools.product(range(k), repeat=n_free):
                        px = float(np.prod(P[last[list(ancs)], list(xs)]))
                        if px == 0.0:
                            continue
                        for a_ref, pr in ref_anc:
                            nl = [lin[a] + (x,) for a, x in zip(ancs, xs, strict=True)]
                            if a_ref is not None:  # conditional: the reference's lineage
                                nl.append(lin[a_ref] + (int(ref[t]),))
                            new_states.append((nl, prob * pa * px * pr))
            states = new_states
        for lin, prob in states:
            last = np.array([lineage[-1] for lineage in lin])
            w = np.exp(ll[t_len - 1, last])
            w = w / w.sum()
            for b in range(n):
                kernel[r_i, index[lin[b]]] += prob * w[b]
    return paths, kernel
