"""Oracle MLE of the top-two pair with the TRUE reliabilities and confusions (for experiments)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crowd._answers import encode
from crowd.top_two import _TopTwoBase, best_pairs, check_top_two, pair_scores

__all__ = ["OracleTopTwo"]


class OracleTopTwo(_TopTwoBase):
    r"""Per-task MLE of the ordered pair :math:`(g_j, h_j)` given the true :math:`p` and :math:`q`.

    The benchmark the two-stage :class:`crowd.TopTwo` is compared against: it maximises
    :math:`S_j(a, b)` of :func:`crowd.top_two.pair_scores` with the true parameters.

    Parameters
    ----------
    labels : sequence, optional
        Declared label set (``K = len(labels)``).
    duplicates : {"error", "keep", "first", "last"}

    Attributes
    ----------
    top_two_, labels_, probas_, skills_, pair_scores_
        As in :class:`crowd.TopTwo` (``confusion`` and ``skills_`` are the given true values).

    Examples
    --------
    >>> from crowd import OracleTopTwo, simulate_top_two
    >>> answers, truth, skills = simulate_top_two(30, 100, 4, 1.0, seed=0)
    >>> est = OracleTopTwo().fit(answers, skills=skills, confusion=truth["confusion"])
    >>> est.top_two_.shape
    (100, 3)
    """

    def __init__(self, labels=None, duplicates: str = "error"):
        self.labels = labels
        self.duplicates = duplicates

    def fit(self, data: pd.DataFrame, skills, confusion) -> OracleTopTwo:
        """``skills``: Series worker -> p; ``confusion``: Series task -> q (true values)."""
        enc = encode(data, self.labels, self.duplicates, min_labels=2)
        check_top_two(enc)
        p = pd.to_numeric(pd.Series(skills), errors="coerce").reindex(enc.workers)
        q = pd.to_numeric(pd.Series(confusion), errors="coerce").reindex(enc.tasks)
        if p.isna().any():
            raise ValueError("skills must give a number p for every worker in data (a Series indexed by worker), "
                             f"missing or non-numeric for {list(enc.workers[p.isna().to_numpy()][:5])}")
        if q.isna().any():
            raise ValueError("confusion must give a number q for every task in data (a Series indexed by task), "
                             f"missing or non-numeric for {list(enc.tasks[q.isna().to_numpy()][:5])}")
        p, q = p.to_numpy(float), q.to_numpy(float)
        if np.any((p < 0) | (p > 1)) or np.any((q < 0.5) | (q > 1)):
            raise ValueError("skills must lie in [0, 1] and confusion in [0.5, 1]")
        S = pair_scores(enc, p, q)
        first, second, proba = best_pairs(S)
        return self._finish(enc, first, second, p, q, proba, S)
