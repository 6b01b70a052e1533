r"""The imperfect-verifier ceiling of resampling ("Inference Scaling fLaws", Stroebl et al. 2024).

Resampling: draw answers one at a time and return the first that the verifier accepts (at
most ``K`` draws; none accepted = no answer, scored wrong).  If a sample is correct with
probability ``s`` and the verifier accepts a correct answer with probability ``1 - fnr``
and a wrong one with probability ``f`` (its false-positive rate), then with
``p = s (1 - fnr)`` and ``q = (1 - s) f``

.. math:: \mathrm{acc}(K) = \frac{p}{p+q}\,\bigl(1 - (1-p-q)^K\bigr) \;\to\; \frac{p}{p+q} < 1,

averaged over problems (:func:`predicted_resampling_accuracy`, built on
:func:`llm_bridge.estimators.verifier_ceiling`), while pass@K (a perfect verifier)
tends to 1 for every problem with ``s > 0``.  :func:`simulate_resampling` measures the
same thing on sampled answers with independent verifier verdicts.
"""

from __future__ import annotations

import numpy as np

from llm_bridge.estimators import verifier_ceiling

__all__ = ["predicted_resampling_accuracy", "predicted_ceiling", "simulate_resampling"]


def _check_rates(f, fnr):
    for nm, v in (("false_positive_rate", f), ("false_negative_rate", fnr)):
        if not (isinstance(v, (int, float, np.floating)) and 0 <= v <= 1):
            raise ValueError(f"{nm} must be a probability in [0, 1], got {v!r}")


def _pq(s, f, fnr):
    s = np.asarray(s, float)
    if s.ndim != 1 or s.size == 0 or np.any((s < 0) | (s > 1)) or np.any(np.isnan(s)):
        raise ValueError(f"success_probs must be a non-empty 1-d array of probabilities, got shape {s.shape}")
    _check_rates(f, fnr)
    p, q = s * (1 - fnr), (1 - s) * f
    keep = p + q > 0  # problems the verifier never accepts score 0 at every K
    return p, q, keep


def predicted_resampling_accuracy(success_probs, ks, false_positive_rate: float, false_negative_rate: float = 0.0):
    """Mean over problems of :math:`\\frac{p}{p+q}(1-(1-p-q)^K)` for each ``K`` in ``ks``."""
    p, q, keep = _pq(success_probs, false_positive_rate, false_negative_rate)
    out = []
    for k in np.atleast_1d(ks):
        acc = np.zeros(p.shape)
        if keep.any():
            acc[keep] = verifier_ceiling(p[keep], q[keep], int(k))
        out.append(acc.mean())
    return np.array(out)


def predicted_ceiling(success_probs, false_positive_rate: float, false_negative_rate: float = 0.0) -> float:
    """The ``K -> inf`` limit: mean over problems of ``p / (p + q)``."""
    p, q, keep = _pq(success_probs, false_positive_rate, false_negative_rate)
    acc = np.zeros(p.shape)
    if keep.any():
        acc[keep] = verifier_ceiling(p[keep], q[keep])
    return float(acc.mean())


def simulate_resampling(correct, ks, false_positive_rate: float, false_negative_rate: float = 0.0, *,
                        num_orders: int = 8, random_state=0) -> np.ndarray:
    """Resampling accuracy measured on sampled answers, per problem and ``K``.

    Parameters
    ----------
    correct : array_like of bool, shape (problems, n)
        Whether each of ``n`` sampled answers is correct.
    ks : sequence of int
        Draw limits, each ``<= n``.
    num_orders : int
        Random orders (with fresh independent verdicts) averaged per problem.

    Returns
    -------
    ndarray, shape (problems, len(ks))
    """
    c = np.asarray(correct, bool)
    if c.ndim != 2:
        raise ValueError(f"correct must have shape (problems, n), got {c.shape}")
    ks = np.atleast_1d(np.asarray(ks, int))
    if np.any(ks < 1) or np.any(ks > c.shape[1]):
        raise ValueError(f"ks must lie in [1, {c.shape[1]}], got {ks.tolist()}")
    _check_rates(false_positive_rate, false_negative_rate)
    rng = np.random.default_rng(random_state)
    out = np.zeros((c.shape[0], len(ks)))
    for _ in range(num_orders):
        order = np.argsort(rng.random(c.shape), axis=1)
        cc = np.take_along_axis(c, order, axis=1)
        u = rng.random(c.shape)
        accept = np.where(cc, u >= false_negative_rate, u < false_positive_rate)
        first = np.where(accept.any(axis=1), accept.argmax(axis=1), c.shape[1])  # index of the first acceptance
        first_ok = np.take_along_axis(cc, np.minimum(first, c.shape[1] - 1)[:, None], axis=1)[:, 0]
        out += (first[:, None] < ks[None, :]) & first_ok[:, None]
    return out / num_orders
