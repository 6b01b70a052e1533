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

from crowd.exceptions import AnswersFormatError, DuplicateAnswersError, MissingColumnError, NotFittedError

__all__ = ["Encoded", "encode", "DUPLICATE_POLICIES", "check_fitted", "check_columns"]

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


def _factorize(values, column: str):
    """Integer codes and the sorted unique ids (order of first appearance if unorderable)."""
    try:
        try:
            codes, uniq = pd.factorize(values, sort=True)
        except TypeError:  # mixed, unorderable ids
            codes, uniq = pd.factorize(values, sort=False)
    except TypeError as e:  # unhashable ids (lists, dicts, arrays in cells)
        raise AnswersFormatError(f"column {column!r} holds unhashable values ({e}); ids and labels must be "
                                 "hashable scalars such as int or str") from None
    uniq = pd.Index(uniq)
    check_mixed_ids(uniq, column)
    return codes.astype(np.int64), uniq


def check_mixed_ids(uniq: pd.Index, column: str) -> None:
    """Refuse distinct ids that print the same (``3`` and ``'3'``): they would silently count twice."""
    if uniq.dtype != object or len(uniq) < 2:
        return
    as_text = pd.Index([str(v) for v in uniq])
    if as_text.has_duplicates:
        clash = as_text[as_text.duplicated()][0]
        same = [v for v in uniq if str(v) == clash]
        raise AnswersFormatError(
            f"column {column!r} mixes types: {same!r} (types {[type(v).__name__ for v in same]}) are different "
            f"values that print the same, so they would count as {len(same)} different {column}s; convert the "
            f"column to one type first, e.g. data[{column!r}] = data[{column!r}].astype(str)"
        )


def check_columns(data) -> pd.DataFrame:
    """The ``task, worker, label`` columns of ``data``; TypeError / :class:`MissingColumnError` otherwise."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame with columns {list(_COLUMNS)}, got {type(data).__name__}")
    missing = [c for c in _COLUMNS if c not in data.columns]
    if missing:
        raise MissingColumnError(
            f"data is missing column(s) {missing}; got columns {list(data.columns)}, expected {list(_COLUMNS)} "
            "(rename yours with data.rename(columns={...}))"
        )
    return data.loc[:, list(_COLUMNS)]


def encode(data, labels=None, duplicates: str = "error", *, min_labels: int = 2, allow_empty: bool = False) -> Encoded:
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
        Smallest acceptable ``K`` (not checked for empty data).
    allow_empty : bool
        Accept a table with no rows (crowd-kit's baselines return empty results for it).

    Raises
    ------
    TypeError
        ``data`` is not a DataFrame.
    MissingColumnError
        A required column is absent (a ``KeyError`` and an :class:`AnswersFormatError`).
    AnswersFormatError
        Empty data (unless ``allow_empty``), missing values, unhashable ids, ids mixing types that print
        the same (``3`` and ``'3'``), labels outside the declared set.
    """
    df = check_columns(data)
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    if len(df) == 0 and not allow_empty:
        raise AnswersFormatError("data is empty: at least one (task, worker, label) answer is needed")
    nulls = df.isna().any()
    if nulls.any():
        raise AnswersFormatError(f"data has missing values in column(s) {list(nulls[nulls].index)}; drop or fill them")
    t, tasks = _factorize(df["task"].to_numpy(), "task")
    w, workers = _factorize(df["worker"].to_numpy(), "worker")
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
        l, label_index = _factorize(df["label"].to_numpy(), "label")
    else:
        if isinstance(labels, (str, bytes)) or not np.iterable(labels):
            raise TypeError(f"labels must be a sequence of label values (e.g. range(K)), got {labels!r}")
        label_index = pd.Index(list(labels))
        if label_index.has_duplicates:
            raise ValueError(f"labels must be distinct, got {list(labels)}")
        if label_index.isna().any():
            raise ValueError(f"labels must not contain missing values, got {list(labels)}")
        check_mixed_ids(label_index.astype(object), "labels")
        l = label_index.get_indexer(df["label"]).astype(np.int64)
        unknown = l < 0
        if unknown.any():
            bad = pd.unique(df.loc[unknown, "label"])[:5]
            raise AnswersFormatError(
                f"{int(unknown.sum())} answers carry labels outside the declared set {list(label_index)}, "
                f"e.g. {list(bad)}; fix the data or declare all labels"
            )
    if len(label_index) < min_labels and len(df) > 0:
        raise AnswersFormatError(f"need at least {min_labels} labels, got {len(label_index)}: {list(label_index)}")
    # tasks/workers whose every answer was dropped cannot occur: policies keep one row per pair
    return Encoded(t=t, w=w, l=l, tasks=tasks.rename("task"), workers=workers.rename("worker"),
                   labels=label_index.rename("label"))


def check_fitted(est, attr: str) -> None:
    """Raise :class:`NotFittedError` unless ``est`` has fitted attribute ``attr``."""
    if not hasattr(est, attr):
        raise NotFittedError(f"{type(est).__name__} is not fitted yet; call fit(data) first")
