r"""Thresholdout: a reusable holdout for adaptive data analysis (Dwork et al. 2015).

An analyst asks a sequence of (possibly adaptively chosen) statistical queries
:math:`\phi`, each answered from the training set unless the training value
:math:`a_t = \mathbb{E}_t[\phi]` and the holdout value :math:`a_h = \mathbb{E}_h[\phi]` disagree
by more than a noisy threshold (the sparse-vector technique):

.. math::

    \text{if } |a_h - a_t| > T + \gamma + \eta:\ \text{answer } a_h + \xi,\ B \leftarrow B - 1,\
    \gamma \text{ redrawn};\quad\text{else answer } a_t,

with :math:`\gamma \sim \mathrm{Lap}(2\sigma)`, :math:`\eta \sim \mathrm{Lap}(4\sigma)` fresh for
every query and :math:`\xi \sim \mathrm{Lap}(\sigma)`. Only the (few) over-threshold answers touch
the holdout, and they do so through a differentially private mechanism, which is what keeps
the holdout's answers valid for very many adaptive queries.

Reference: Dwork, Feldman, Hardt, Pitassi, Reingold & Roth (2015), The reusable holdout: preserving
validity in adaptive data analysis, Science 349(6248):636-638, doi:10.1126/science.aaa9375
(their experiment: :math:`T = 0.04`, :math:`\sigma = 0.01`).
"""

from __future__ import annotations

import numpy as np

from probinf.randomness import check_random_state

from .exceptions import BudgetExhaustedError

__all__ = ["ReusableHoldout", "adaptive_overfitting_demo"]


class ReusableHoldout:
    r"""Thresholdout with threshold ``T``, noise scale ``sigma`` and budget ``B`` over-threshold answers.

    Parameters
    ----------
    threshold : float
        :math:`T > 0`, tolerated train/holdout disagreement (in the units of the query, e.g. accuracy).
    sigma : float
        :math:`\sigma > 0`, Laplace noise scale.
    budget : int
        :math:`B \ge 1`, number of over-threshold (holdout) answers before the holdout is spent.
    random_state : None, int or numpy.random.Generator

    Attributes
    ----------
    budget_left_ : int
    n_queries_ : int
    n_overfit_ : int
        Queries answered from the holdout (train/holdout disagreement detected).

    Examples
    --------
    >>> from privacy import ReusableHoldout
    >>> h = ReusableHoldout(threshold=0.04, sigma=0.01, budget=10, random_state=0)
    >>> h.query(0.71, 0.70)  # close: the training value is returned
    0.71
    >>> round(h.query(0.90, 0.50), 1)  # far apart: a noisy holdout value, one unit of budget spent
    0.5
    >>> h.budget_left_
    9
    """

    def __init__(self, threshold, sigma, budget, *, random_state=None):
        self.threshold = threshold
        self.sigma = sigma
        self.budget = budget
        self.random_state = random_state

    def _start(self):
        for name in ("threshold", "sigma"):
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        b = self.budget
        if isinstance(b, (bool, np.bool_)) or not isinstance(b, (int, float, np.integer, np.floating)) \
                or not np.isfinite(b) or int(b) != b or b < 1:
            raise ValueError(f"budget must be a positive integer, got {self.budget!r}")
        self._rng = check_random_state(self.random_state)
        self.budget_left_ = int(self.budget)
        self.n_queries_ = 0
        self.n_overfit_ = 0
        self._gamma = self._rng.laplace(0.0, 2 * self.sigma)

    @staticmethod
    def _value(x, name):
        if x is None or isinstance(x, (str, bytes)):
            raise TypeError(f"{name} must be a number or an array of per-record values, got {type(x).__name__}")
        try:
            arr = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or an array of per-record values, got {x!r}") from None
        if arr.size == 0 or not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be a finite number or a non-empty array of per-record values")
        return float(arr.mean())

    def query(self, train_value, holdout_value):
        """Answer one query from its training and holdout values (scalars, or per-record arrays averaged).

        Raises
        ------
        BudgetExhaustedError
            When the budget is spent: the holdout can no longer be trusted.
        """
        if not hasattr(self, "_rng"):
            self._start()
        a_t = self._value(train_value, "train_value")
        a_h = self._value(holdout_value, "holdout_value")
        if self.budget_left_ < 1:
            raise BudgetExhaustedError(
                f"Thresholdout budget of {self.budget} over-threshold answers is spent after "
                f"{self.n_queries_} queries; collect a fresh holdout"
            )
        self.n_queries_ += 1
        eta = self._rng.laplace(0.0, 4 * self.sigma)
        if abs(a_h - a_t) > self.threshold + self._gamma + eta:
            self.budget_left_ -= 1
            self.n_overfit_ += 1
            self._gamma = self._rng.laplace(0.0, 2 * self.sigma)
            return a_h + float(self._rng.laplace(0.0, self.sigma))
        return a_t



def adaptive_overfitting_demo(*, n=1000, d=20, n_queries=(50, 100, 200, 400), threshold=0.04, sigma=0.01,
                              random_state=0):
    r"""Overfit a holdout by adaptive queries (the "boosting attack"), with and without Thresholdout.

    Labels are independent of the ``d`` Gaussian features, so every classifier has true accuracy
    0.5. The analyst draws random linear classifiers :math:`\mathrm{sign}(x^\top v_i)`, asks for the
    holdout accuracy of each, keeps those reported above 0.5, and reports the holdout accuracy of
    their majority vote (Blum & Hardt 2015, the attack behind leaderboard overfitting). Read
    directly, the holdout answers steer the vote towards the holdout's noise and the reported
    accuracy climbs like :math:`\sqrt{m/n}`; through Thresholdout (budget ``m + 1``, never exhausted)
    the answers are the training values unless the two disagree, so the reported accuracy stays
    near the truth.

    Returns a DataFrame with, per number of queries ``m``: the reported holdout accuracy of the
    final classifier and its accuracy on fresh data, for the standard holdout and for Thresholdout.
    """
    import pandas as pd

    rng = np.random.default_rng(random_state)
    x = rng.standard_normal((3, n, d))
    y = rng.choice([-1.0, 1.0], size=(3, n))
    m_max = max(n_queries)
    v = rng.standard_normal((d, m_max))
    preds = np.sign(x @ v)  # (3, n, m): each query's predictions on train, holdout, fresh
    acc = np.mean(preds == y[:, :, None], axis=1)  # (3, m)
    rows = []
    for m in n_queries:
        tho = ReusableHoldout(threshold, sigma, m + 1, random_state=rng)
        answers = {"standard": acc[1, :m],
                   "thresholdout": np.array([tho.query(acc[0, i], acc[1, i]) for i in range(m)])}
        row = {"queries": m}
        for name, ans in answers.items():
            keep = ans > 0.5
            vote = np.sign(preds[:, :, :m][:, :, keep].sum(axis=2) + 1e-9)
            a = np.mean(vote == y, axis=1)  # train, holdout, fresh accuracy of the final classifier
            row[f"reported_{name}"] = float(a[1]) if name == "standard" else tho.query(a[0], a[1])
            row[f"fresh_{name}"] = float(a[2])
        rows.append(row)
    return pd.DataFrame(rows)
