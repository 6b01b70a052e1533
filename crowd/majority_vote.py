"""Majority vote, with documented tie-breaking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crowd._answers import check_fitted, encode

__all__ = ["MajorityVote"]


class MajorityVote:
    r"""(Weighted) majority vote over a long answers table.

    Parameters
    ----------
    tie_break : {"first", "random"}
        ``"first"`` (default) picks the first tied label in label order (sorted labels,
        or the order of ``labels``), which is crowd-kit's ``idxmax`` rule; ``"random"``
        picks uniformly among tied labels using ``random_state``.
    labels : sequence, optional
        Declared label set; answers outside it raise.
    duplicates : {"error", "keep", "first", "last"}
        Policy for repeated (task, worker) pairs (see :func:`crowd.datasets.load`).
    random_state : int or numpy Generator, optional
        Seed for ``tie_break="random"``.

    Attributes
    ----------
    labels_ : Series
        Winning label per task.
    probas_ : DataFrame
        tasks x labels vote shares (rows sum to 1).
    skills_ : Series
        Per-worker agreement with the majority (fraction of the worker's answers equal to ``labels_``).

    Examples
    --------
    >>> import pandas as pd
    >>> from crowd import MajorityVote
    >>> df = pd.DataFrame({"task": [0, 0, 0, 1, 1], "worker": [0, 1, 2, 0, 1], "label": ["a", "a", "b", "b", "a"]})
    >>> MajorityVote().fit_predict(df).tolist()   # task 1 is a tie: first label "a" wins
    ['a', 'a']
    """

    def __init__(self, tie_break: str = "first", labels=None, duplicates: str = "error", random_state=None):
        self.tie_break = tie_break
        self.labels = labels
        self.duplicates = duplicates
        self.random_state = random_state

    def fit(self, data: pd.DataFrame, weights=None) -> "MajorityVote":
        """Count votes. ``weights`` (optional Series indexed by worker) weights each worker's votes."""
        if self.tie_break not in ("first", "random"):
            raise ValueError(f"tie_break must be 'first' or 'random', got {self.tie_break!r}")
        enc = encode(data, self.labels, self.duplicates, min_labels=1)
        wts = None
        if weights is not None:
            wv = pd.Series(weights).reindex(enc.workers)
            if wv.isna().any():
                raise ValueError("weights must give a number for every worker in data")
            wts = wv.to_numpy(float)[enc.w]
        counts = enc.label_counts(wts)
        best = counts.max(axis=1, keepdims=True)
        tied = counts >= best - 1e-12 * np.maximum(1.0, np.abs(best))
        if self.tie_break == "first":
            winner = np.argmax(tied, axis=1)
        else:
            rng = np.random.default_rng(self.random_state)
            noise = rng.random(counts.shape)
            winner = np.argmax(np.where(tied, noise, -1.0), axis=1)
        tot = counts.sum(axis=1, keepdims=True)
        self.probas_ = pd.DataFrame(counts / np.where(tot > 0, tot, 1.0), index=enc.tasks, columns=enc.labels)
        self.labels_ = pd.Series(enc.labels[winner], index=enc.tasks, name="agg_label")
        agree = (winner[enc.t] == enc.l).astype(float)
        self.skills_ = pd.Series(np.bincount(enc.w, agree, enc.n_workers) / np.bincount(enc.w, minlength=enc.n_workers),
                                 index=enc.workers, name="skill")
        return self

    def fit_predict(self, data: pd.DataFrame, weights=None) -> pd.Series:
        """Fit and return the winning label per task (Series indexed by task)."""
        return self.fit(data, weights).labels_

    def fit_predict_proba(self, data: pd.DataFrame, weights=None) -> pd.DataFrame:
        """Fit and return the tasks x labels vote shares."""
        return self.fit(data, weights).probas_

    def predict(self) -> pd.Series:
        check_fitted(self, "labels_")
        return self.labels_
