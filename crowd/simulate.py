r"""Synthetic answers from the top-two model of Jeong & Chung (ICML 2023).

Worker :math:`i` has reliability :math:`p_i`; task :math:`j` has truth :math:`g_j`,
most-confusing answer :math:`h_j \ne g_j` and confusion :math:`q_j \in (1/2, 1]`.
Each (worker, task) pair is observed independently with probability :math:`s`, and an
observed answer is

.. math::

    P(Y_{ij} = g_j) = p_i q_j + \frac{1 - p_i}{K},\quad
    P(Y_{ij} = h_j) = p_i (1 - q_j) + \frac{1 - p_i}{K},\quad
    P(Y_{ij} = c) = \frac{1 - p_i}{K} \text{ otherwise}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["TopTwoSample", "simulate_top_two"]


@dataclass
class TopTwoSample:
    """Simulated answers and the ground truth.

    Attributes
    ----------
    answers : DataFrame
        Long table ``task, worker, label`` (integer ids, labels ``0..K-1``).
    truth : DataFrame
        Indexed by task: ``first`` (g), ``second`` (h), ``confusion`` (q).
    skills : Series
        Indexed by worker: reliability p.
    """

    answers: pd.DataFrame
    truth: pd.DataFrame
    skills: pd.Series

    def __iter__(self):  # allows ``answers, truth, skills = simulate_top_two(...)``
        return iter((self.answers, self.truth, self.skills))


def _check_range(name, rng_pair, lo, hi):
    a, b = (float(v) for v in rng_pair)
    if not (lo <= a <= b <= hi):
        raise ValueError(f"{name} must be an interval (a, b) with {lo} <= a <= b <= {hi}, got {rng_pair}")
    return a, b


def simulate_top_two(n_workers: int, n_tasks: int, n_labels: int, observe_prob: float = 1.0, *,
                     reliability=(0.001, 0.999), confusion=(0.501, 0.599), skills=None, confusions=None,
                     seed=None) -> TopTwoSample:
    r"""Draw answers from the top-two model.

    Parameters
    ----------
    n_workers, n_tasks, n_labels : int
        ``n``, ``m`` and ``K >= 2``.
    observe_prob : float
        ``s`` in (0, 1]: probability that a (worker, task) pair is answered.
    reliability, confusion : (float, float)
        Uniform ranges for :math:`p_i` and :math:`q_j` (the paper's defaults).
    skills, confusions : array_like, optional
        Fixed :math:`p` (length ``n_workers``) / :math:`q` (length ``n_tasks``) instead of draws.
    seed : int or numpy Generator, optional

    Returns
    -------
    TopTwoSample
        ``answers`` (long DataFrame, ``s * n * m`` rows on average), ``truth``, ``skills``.
        g is uniform on the labels and h uniform on the other ``K - 1`` (as in the authors' code).

    Examples
    --------
    >>> from crowd import simulate_top_two
    >>> answers, truth, skills = simulate_top_two(10, 20, 4, 0.5, seed=0)
    >>> sorted(answers.columns)
    ['label', 'task', 'worker']
    >>> bool((truth["first"] != truth["second"]).all())
    True
    """
    for name, v in (("n_workers", n_workers), ("n_tasks", n_tasks)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if int(n_labels) != n_labels or n_labels < 2:
        raise ValueError(f"n_labels must be an integer >= 2, got {n_labels!r}")
    if not (0.0 < observe_prob <= 1.0):
        raise ValueError(f"observe_prob must be in (0, 1], got {observe_prob!r}")
    n, m, K = int(n_workers), int(n_tasks), int(n_labels)
    rng = np.random.default_rng(seed)
    if skills is None:
        a, b = _check_range("reliability", reliability, 0.0, 1.0)
        p = rng.uniform(a, b, n)
    else:
        p = np.asarray(skills, float)
        if p.shape != (n,) or np.any((p < 0) | (p > 1)):
            raise ValueError(f"skills must have shape ({n},) with values in [0, 1]")
    if confusions is None:
        a, b = _check_range("confusion", confusion, 0.5, 1.0)
        q = rng.uniform(a, b, m)
    else:
        q = np.asarray(confusions, float)
        if q.shape != (m,) or np.any((q < 0.5) | (q > 1)):
            raise ValueError(f"confusions must have shape ({m},) with values in [0.5, 1]")
    g = rng.integers(0, K, m)
    h = (g + rng.integers(1, K, m)) % K  # uniform over the other K - 1 labels
    if observe_prob >= 1.0:
        w = np.tile(np.arange(n), m)
        t = np.repeat(np.arange(m), n)
    else:
        # number of observed pairs per task, then distinct workers for each (vectorised)
        mask = rng.random((m, n)) < observe_prob
        t, w = np.nonzero(mask)
    u = rng.random(len(t))
    from_top = u < p[w]
    pick_g = rng.random(len(t)) < q[t]
    guess = rng.integers(0, K, len(t))
    label = np.where(from_top, np.where(pick_g, g[t], h[t]), guess)
    answers = pd.DataFrame({"task": t, "worker": w, "label": label})
    truth = pd.DataFrame({"first": g, "second": h, "confusion": q}, index=pd.RangeIndex(m, name="task"))
    return TopTwoSample(answers=answers, truth=truth, skills=pd.Series(p, index=pd.RangeIndex(n, name="worker"),
                                                                       name="skill"))
