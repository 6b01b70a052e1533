"""Validation and integer encoding of long answer tables (``task, worker, label``).

Every estimator calls :func:`encode` in ``fit``: it checks the table, applies the
duplicate policy and returns integer codes plus the original ids, so the numerics
work on flat ``int`` arrays / :mod:`scipy.sparse` matrices and the results are
mapped back to the user's ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crowd.exceptions import AnswersFormatError, DuplicateAnswersError, NotFittedError

__all__ = ["Encoded", "encode", "DUPLICATE_POLICIES", "check_fitted"]

DUPLICATE_POLICIES = ("error", "keep", "first", "last")
_COLUMNS = ("task", "worker", "label")


@dataclass(frozen=True)
class Encoded:
    """Integer-coded answers: ``t[a], w[a], l[a]`` for answer ``a``; ids in ``tasks, workers, labels``."""

    t: np.ndarray
    w: np.ndarray
    l: np.ndarray
    tasks: pd.Index
    workers: pd.Index
    labels: pd.Index

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def n_answers(self) -> int:
        return len(self.t)

    def label_counts(self, weights=None) -> np.ndarray:
        """``(n_tasks, K)`` (weighted) vote counts."""
        K = self.n_labels
        c = np.bincount(self.t * K + self.l, weights=weights, minlength=self.n_tasks * K)
        return c.reshape(self.n_tasks, K).astype(float)

    def onehot(self) -> sp.csr_matrix:
        """Sparse ``(n_tasks, n_workers * K)`` indicator, column ``w * K + l``."""
        K = self.n_labels
        data = np.ones(self.n_answers)
        return sp.csr_matrix((data, (self.t, self.w * K + self.l)), shape=(self.n_tasks, self.n_workers * K))


def _factorize(values):
    """Integer codes and the sorted unique ids (order of first appearance if unorderable)."""
    try:
        codes, uniq = pd.factorize(values, sort=True)
    except TypeError:  # mixed, unorderable ids
        codes, uniq = pd.factorize(values, sort=False)
    return codes.astype(np.int64), pd.Index(uniq)


def encode(data, labels=None, duplicates: str = "error", *, min_labels: int = 2) -> Encoded:
    """Validate a long answers table and integer-encode it.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``task``, ``worker``, ``label`` (any hashable ids; extra columns ignored).
    labels : sequence, optional
        The declared label set (its size is ``K``).  ``None`` uses the sorted labels seen.
    duplicates : {"error", "keep", "first", "last"}
        Policy for a (task, worker) pair answered more than once.
    min_labels : int
        Smallest acceptable ``K``.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame with columns {list(_COLUMNS)}, got {type(data).__name__}")
    missing = [c for c in _COLUMNS if c not in data.columns]
    if missing:
        raise AnswersFormatError(
            f"data is missing column(s) {missing}; got columns {list(data.columns)}, expected {list(_COLUMNS)} "
            "(rename yours with data.rename(columns={...}))"
        )
    if len(data) == 0:
        raise AnswersFormatError("data is empty: at least one (task, worker, label) answer is needed")
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    df = data.loc[:, list(_COLUMNS)]
    nulls = df.isna().any()
    if nulls.any():
        raise AnswersFormatError(f"data has missing values in column(s) {list(nulls[nulls].index)}; drop or fill them")
    t, tasks = _factorize(df["task"].to_numpy())
    w, workers = _factorize(df["worker"].to_numpy())
    # duplicate (task, worker) pairs, on the integer codes (a hash of one int64 column: fast)
    pair = t * len(workers) + w
    n_cells = len(tasks) * len(workers)
    if n_cells <= 20 * len(pair) + 1_000_000:  # dense counts: one bincount instead of hashing
        dup = np.bincount(pair, minlength=n_cells)[pair] > 1
    else:
        dup = pd.Series(pair).duplicated(keep=False).to_numpy()
    if dup.any():
        if duplicates == "error":
            ex = df[dup].head(3).to_dict("records")
            raise DuplicateAnswersError(
                f"{int(dup.sum())} rows repeat a (task, worker) pair (e.g. {ex}); pass duplicates='last' "
                "(the TopTwo authors' policy), 'first', or 'keep' (count every row as an independent answer)"
            )
        if duplicates in ("first", "last"):
            keep = ~pd.Series(pair).duplicated(keep=duplicates).to_numpy()
            df, t, w = df[keep], t[keep], w[keep]
    if labels is None:
        l, label_index = _factorize(df["label"].to_numpy())
    else:
        label_index = pd.Index(list(labels))
        if label_index.has_duplicates:
            raise ValueError(f"labels must be distinct, got {list(labels)}")
        l = label_index.get_indexer(df["label"]).astype(np.int64)
        unknown = l < 0
        if unknown.any():
            bad = pd.unique(df.loc[unknown, "label"])[:5]
            raise AnswersFormatError(
                f"{int(unknown.sum())} answers carry labels outside the declared set {list(label_index)}, "
                f"e.g. {list(bad)}; fix the data or declare all labels"
            )
    if len(label_index) < min_labels:
        raise AnswersFormatError(f"need at least {min_labels} labels, got {len(label_index)}: {list(label_index)}")
    # tasks/workers whose every answer was dropped cannot occur: policies keep one row per pair
    return Encoded(t=t, w=w, l=l, tasks=tasks.rename("task"), workers=workers.rename("worker"),
                   labels=label_index.rename("label"))


def check_fitted(est, attr: str) -> None:
    """Raise :class:`NotFittedError` unless ``est`` has fitted attribute ``attr``."""
    if not hasattr(est, attr):
        raise NotFittedError(f"{type(est).__name__} is not fitted yet; call fit(data) first")
