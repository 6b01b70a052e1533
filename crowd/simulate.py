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

from crowd._checks import check_int, check_pair, check_real

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


def _as_floats(name, values) -> np.ndarray:
    try:
        return np.asarray(values, float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {values!r}") from None


def _check_range(name, rng_pair, lo, hi):
    a, b = check_pair(name, rng_pair)
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
    n, m = check_int("n_workers", n_workers, 1), check_int("n_tasks", n_tasks, 1)
    K = check_int("n_labels", n_labels, 2)
    check_real("observe_prob", observe_prob, 0.0, 1.0, lo_open=True)
    if seed is not None and not isinstance(seed, np.random.Generator) and not (
            isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise TypeError(f"seed must be None, a non-negative int or a numpy Generator, got {seed!r}")
    rng = np.random.default_rng(seed)
    if skills is None:
        a, b = _check_range("reliability", reliability, 0.0, 1.0)
        p = rng.uniform(a, b, n)
    else:
        p = _as_floats("skills", skills)
        if p.shape != (n,) or not np.all((p >= 0) & (p <= 1)):
            raise ValueError(f"skills must have shape ({n},) with values in [0, 1]")
    if confusions is None:
        a, b = _check_range("confusion", confusion, 0.5, 1.0)
        q = rng.uniform(a, b, m)
    else:
        q = _as_floats("confusions", confusions)
        if q.shape != (m,) or not np.all((q >= 0.5) & (q <= 1)):
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
