r"""Gibbs sampler for the top-two model (vectorised NumPy on the flat answer arrays).

Extended space: ordered pair :math:`(g_j, h_j)` uniform over the :math:`K(K-1)` ordered pairs,
:math:`q_j \sim U(0, 1)`, :math:`p_i \sim \mathrm{Beta}(a, b)`.  Because the likelihood satisfies
:math:`L(g, h, q) = L(h, g, 1 - q)`, mapping every state with :math:`q_j < 1/2` to
:math:`(h_j, g_j, 1 - q_j)` turns draws of this posterior into draws of the model's posterior
with :math:`q_j \sim U(1/2, 1)` (the map is 2-to-1 and preserves the density), so no truncated
distribution is ever sampled.  One sweep:

1. pair | p, q: enumerate all :math:`K^2` ordered pairs per task exactly (log space) and sample
   (Gumbel-max); the conditional pair probabilities are also averaged (Rao-Blackwellised
   pair posterior);
2. z | pair, p, q: for each answer equal to g (h), whether it came from the top two,
   Bernoulli :math:`p q / (p q + (1 - p)/K)` (resp. with :math:`1 - q`); other answers are guesses;
3. :math:`p_i \mid z \sim \mathrm{Beta}(a + \#\text{top}_i, b + \#\text{guess}_i)`;
4. :math:`q_j \mid z \sim \mathrm{Beta}(1 + \#\text{top-}g_j, 1 + \#\text{top-}h_j)`.

Chains run as disjoint copies of the problem in one vectorised sweep (the posterior of a
union of independent problems factorises), so a sweep costs :math:`O(C(\mathrm{nnz} + m K^2))`
with no per-chain Python loop; the same trick stacks SBC replicates.

Why NumPy and not a jitted JAX kernel: every update is an exact conjugate draw or an exact
enumeration, with no resampling, ESS or gradient; XLA compilation of the Beta/Gamma samplers
(tens of seconds on a 2-core CPU) would dominate any fit a user runs interactively.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

__all__ = ["GibbsState", "GibbsDraws", "pair_log_conditional", "run_gibbs"]

_PCLIP = 1e-9


class GibbsState(NamedTuple):
    """Sampler state for ``C`` chains: ``p`` (C, n), ``q`` (C, m) in (0, 1), ``g``, ``h`` (C, m) ints."""

    p: np.ndarray
    q: np.ndarray
    g: np.ndarray
    h: np.ndarray


class GibbsDraws(NamedTuple):
    """Kept draws: ``p`` (C, S, n); canonical ``q``, ``first``, ``second`` (C, S, m); ``pair_probs`` (C, m, K, K)."""

    p: np.ndarray
    q: np.ndarray
    first: np.ndarray
    second: np.ndarray
    pair_probs: np.ndarray


def pair_log_conditional(p, q, w, t, l, m: int, K: int) -> np.ndarray:
    """``(m, K, K)`` normalised log P(ordered pair | p, q, answers), diagonal ``-inf``."""
    p = np.clip(p, _PCLIP, 1.0 - _PCLIP)
    pw, qt = p[w], q[t]
    guess = (1.0 - pw) / K
    a1 = np.log(pw * qt + guess) - np.log(guess)
    a2 = np.log(pw * (1.0 - qt) + guess) - np.log(guess)
    idx = t * K + l
    s1 = np.bincount(idx, a1, m * K).reshape(m, K)
    s2 = np.bincount(idx, a2, m * K).reshape(m, K)
    S = s1[:, :, None] + s2[:, None, :]
    S[:, np.arange(K), np.arange(K)] = -np.inf
    return S - logsumexp(S, axis=(1, 2), keepdims=True)


def run_gibbs(rng: np.random.Generator, init: GibbsState, w, t, l, *, n: int, m: int, K: int, a_p: float = 1.0,
              b_p: float = 1.0, num_warmup: int = 200, num_samples: int = 500, thin: int = 1,
              progress_fn=None) -> GibbsDraws:
    """Run ``C = init.p.shape[0]`` chains on answers ``(w, t, l)`` (integer codes)."""
    C = init.p.shape[0]
    off_w = (np.arange(C) * n)[:, None]
    off_t = (np.arange(C) * m)[:, None]
    W = (w[None, :] + off_w).ravel()
    T = (t[None, :] + off_t).ravel()
    L = np.tile(l, C)
    nC, mC = n * C, m * C
    p, q = init.p.reshape(-1).astype(float), init.q.reshape(-1).astype(float)
    g, h = init.g.reshape(-1).copy(), init.h.reshape(-1).copy()
    n_all = np.bincount(W, minlength=nC).astype(float)
    total = num_warmup + num_samples * thin
    keep_p = np.empty((num_samples, nC))
    keep_q = np.empty((num_samples, mC))
    keep_f = np.empty((num_samples, mC), dtype=np.int64)
    keep_s = np.empty((num_samples, mC), dtype=np.int64)
    acc = np.zeros((mC, K, K))
    steps = range(total) if progress_fn is None else progress_fn(range(total))
    for it in steps:
        # 1. pair | p, q (exact enumeration, Gumbel-max draw)
        logc = pair_log_conditional(p, q, W, T, L, mC, K)
        flat = logc.reshape(mC, K * K)
        pick = np.argmax(flat + rng.gumbel(size=flat.shape), axis=1)
        if it >= num_warmup:
            probs = np.exp(logc)
            flip = q < 0.5
            probs[flip] = np.swapaxes(probs[flip], 1, 2)
            acc += probs
        g, h = pick // K, pick % K
        # 2. which answers came from the top two
        pc = np.clip(p, _PCLIP, 1.0 - _PCLIP)
        pw, qt = pc[W], q[T]
        guess = (1.0 - pw) / K
        is_g, is_h = L == g[T], L == h[T]
        prob_top = np.where(is_g, pw * qt / (pw * qt + guess),
                            np.where(is_h, pw * (1.0 - qt) / (pw * (1.0 - qt) + guess), 0.0))
        z = rng.random(prob_top.shape) < prob_top
        # 3-4. conjugate Beta updates
        n_top = np.bincount(W, z, nC)
        p = rng.beta(a_p + n_top, b_p + n_all - n_top)
        cg = np.bincount(T, z & is_g, mC)
        ch = np.bincount(T, z & is_h, mC)
        q = rng.beta(1.0 + cg, 1.0 + ch)
        j = it - num_warmup
        if j >= 0 and (j + 1) % thin == 0:
            s = j // thin
            flip = q < 0.5
            keep_p[s], keep_q[s] = p, np.where(flip, 1.0 - q, q)
            keep_f[s], keep_s[s] = np.where(flip, h, g), np.where(flip, g, h)
    acc /= num_samples * thin

    def per_chain(x, size):
        return np.swapaxes(x.reshape(num_samples, C, size), 0, 1)

    return GibbsDraws(per_chain(keep_p, n), per_chain(keep_q, m), per_chain(keep_f, m), per_chain(keep_s, m),
                      acc.reshape(C, m, K, K))
