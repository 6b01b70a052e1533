r"""Tempered SMC for the top-two model with the discrete pairs summed out (probinf core).

The marginal likelihood of the continuous parameters sums the :math:`K(K-1)` ordered pairs
of every task exactly,

.. math:: \log L(p, q) = \sum_j \log \frac{1}{K(K-1)} \sum_{a \ne b} e^{S_j(a, b)} + \sum_{(i,j)} \log\frac{1-p_i}{K},

with :math:`S_j` the log-likelihood ratios of :func:`crowd.top_two.pair_scores`, so
:func:`probinf.tempered_smc` (adaptive tempering, resample-move; resampling and ESS are the
probinf blocks) samples :math:`(p, q)` in unconstrained coordinates
(:math:`p = \sigma(x)`, :math:`q = \tfrac12 + \tfrac12\sigma(y)`) and estimates the evidence.
The pair posterior is Rao-Blackwellised: the weighted average over particles of the exact
conditional pair probabilities.  Meant for small problems and model comparison (evidence);
the random-walk moves scale poorly with :math:`n + m`, for which :class:`crowd.BayesianTopTwo`'s
default Gibbs sampler is the tool.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betaln, logsumexp

import probinf

__all__ = ["TopTwoSMCResult", "top_two_smc"]


class TopTwoSMCResult(NamedTuple):
    """``p`` (N, n), ``q`` (N, m) particles, ``log_weights`` (N,), ``pair_probs`` (m, K, K), ``log_evidence``."""

    p: np.ndarray
    q: np.ndarray
    log_weights: np.ndarray
    pair_probs: np.ndarray
    log_evidence: float
    smc: object


def _pair_logits(p, q, w, t, l, m, K):
    pw, qt = p[w], q[t]
    guess = (1.0 - pw) / K
    a1 = jnp.log(pw * qt + guess) - jnp.log(guess)
    a2 = jnp.log(pw * (1.0 - qt) + guess) - jnp.log(guess)
    idx = t * K + l
    s1 = jax.ops.segment_sum(a1, idx, num_segments=m * K).reshape(m, K)
    s2 = jax.ops.segment_sum(a2, idx, num_segments=m * K).reshape(m, K)
    S = s1[:, :, None] + s2[:, None, :]
    return jnp.where(jnp.eye(K, dtype=bool)[None], -jnp.inf, S)


def top_two_smc(w, t, l, *, n: int, m: int, K: int, key, num_particles: int = 1000, a_p: float = 1.0,
                b_p: float = 1.0, num_mcmc_steps: int = 10, num_chains: int = 1) -> TopTwoSMCResult:
    """Run tempered SMC on integer-coded answers ``(w, t, l)``; see the module docstring."""
    w, t, l = (jnp.asarray(x, jnp.int32) for x in (w, t, l))
    eps = 1e-6

    def unpack(z):
        p = jnp.clip(jax.nn.sigmoid(z[:n]), eps, 1 - eps)
        q = 0.5 + 0.5 * jax.nn.sigmoid(z[n:])
        return p, q

    def log_prior(z):
        x, y = z[:n], z[n:]
        # Beta(a, b) on p = sigmoid(x) and U(1/2, 1) on q, with the log-Jacobians of the maps
        lp = jnp.sum(a_p * jax.nn.log_sigmoid(x) + b_p * jax.nn.log_sigmoid(-x)) - n * betaln(a_p, b_p)
        lq = jnp.sum(jax.nn.log_sigmoid(y) + jax.nn.log_sigmoid(-y))
        return lp + lq

    def log_lik(z):
        p, q = unpack(z)
        S = _pair_logits(p, q, w, t, l, m, K)
        base = jnp.sum(jnp.log((1.0 - p[w]) / K))
        return jnp.sum(logsumexp(S.reshape(m, K * K), axis=1)) - m * jnp.log(K * (K - 1.0)) + base

    def sample_prior(k, N):
        kp, kq = jax.random.split(k)
        p = jax.random.beta(kp, a_p, b_p, (N, n))
        x = jnp.log(p) - jnp.log1p(-p)
        y = jax.random.logistic(kq, (N, m))
        return jnp.concatenate([x, y], axis=1)

    keys = key if num_chains == 1 else jax.random.split(key, num_chains)
    res = probinf.tempered_smc(keys, log_prior, log_lik, sample_prior, num_particles,
                               num_mcmc_steps=num_mcmc_steps)
    Z = jnp.asarray(res.particles).reshape(-1, n + m)
    lw = jnp.asarray(res.log_weights).reshape(-1)
    lw = probinf.normalize(lw)
    p, q = jax.vmap(unpack)(Z)

    def cond(pi, qi):
        S = _pair_logits(pi, qi, w, t, l, m, K).reshape(m, K * K)
        return jnp.exp(S - logsumexp(S, axis=1, keepdims=True)).reshape(m, K, K)

    P = jnp.einsum("s,sjab->jab", jnp.exp(lw), jax.lax.map(lambda pq: cond(*pq), (p, q), batch_size=64))
    return TopTwoSMCResult(np.asarray(p), np.asarray(q), np.asarray(lw), np.asarray(P),
                           float(np.mean(np.asarray(res.log_evidence))), res)
