"""Majority vote, with documented tie-breaking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crowd._answers import check_fitted, encode
from crowd._checks import check_random_state

__all__ = ["MajorityVote", "ON_MISSING_SKILL"]

ON_MISSING_SKILL = ("error", "ignore", "value")


def _check_skill_values(sk: pd.Series, name: str) -> None:
    vals = pd.to_numeric(sk, errors="coerce")
    bad = vals.isna() | ~np.isfinite(vals.fillna(0).to_numpy(float)) | (vals < 0)
    if bad.any():
        raise ValueError(
            f"{name} must be finite non-negative numbers (a worker's vote weight), got {list(sk[bad].iloc[:5])}; "
            "a negative weight would count a vote against its label: map skills to weights >= 0 first"
        )


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
    on_missing_skill : {"error", "ignore", "value"}
        With ``skills=``: what to do with a worker that has no skill (crowd-kit's parameter).
        ``"error"`` raises, ``"ignore"`` drops their answers (error if a task is left with none),
        ``"value"`` uses ``default_skill``.
    default_skill : float, optional
        The skill used for such workers when ``on_missing_skill="value"``.

    Attributes
    ----------
    labels_ : Series
        Winning label per task.
    probas_ : DataFrame
        tasks x labels vote shares (rows sum to 1).
    skills_ : Series
        Per-worker agreement with the majority (fraction of the worker's answers equal to ``labels_``;
        NaN for a worker whose every answer was ignored).

    Notes
    -----
    crowd-kit code runs unchanged: ``MajorityVote().fit_predict(df, skills)`` and the
    ``on_missing_skill``/``default_skill`` parameters behave as in crowd-kit.  Skills must be finite and
    non-negative (crowd-kit accepts negative ones, which count a vote against its label).  The former
    ``weights=`` argument is gone: pass the same Series as ``skills=``.

    Examples
    --------
    >>> import pandas as pd
    >>> from crowd import MajorityVote
    >>> df = pd.DataFrame({"task": [0, 0, 0, 1, 1], "worker": [0, 1, 2, 0, 1], "label": ["a", "a", "b", "b", "a"]})
    >>> MajorityVote().fit_predict(df).tolist()   # task 1 is a tie: first label "a" wins
    ['a', 'a']
    """

    def __init__(self, tie_break: str = "first", labels=None, duplicates: str = "error", random_state=None, *,
                 on_missing_skill: str = "error", default_skill: float | None = None):
        self.tie_break = tie_break
        self.labels = labels
        self.duplicates = duplicates
        self.random_state = random_state
        self.on_missing_skill = on_missing_skill
        self.default_skill = default_skill

    def _check(self) -> np.random.Generator:
        """Validate the hyperparameters; the fit's one Generator (``random_state``)."""
        if self.tie_break not in ("first", "random"):
            raise ValueError(f"tie_break must be 'first' or 'random', got {self.tie_break!r}")
        rng = check_random_state(self.random_state)
        if self.on_missing_skill not in ON_MISSING_SKILL:
            raise ValueError(f"on_missing_skill must be one of {ON_MISSING_SKILL}, got {self.on_missing_skill!r}")
        if self.on_missing_skill != "value" and self.default_skill is not None:
            raise ValueError(f"default_skill={self.default_skill!r} is used only with on_missing_skill='value', "
                             f"got on_missing_skill={self.on_missing_skill!r}; pass both or neither")
        if self.on_missing_skill == "value":
            _check_skill_values(pd.Series([self.default_skill], dtype=object), "default_skill")
        return rng

    def _answer_weights(self, enc, skills):
        """Per-answer weights and a keep-mask (``on_missing_skill="ignore"`` drops answers)."""
        sk = pd.Series(skills) if not isinstance(skills, pd.Series) else skills
        _check_skill_values(sk, "skills")
        wv = sk.reindex(enc.workers).astype(float)
        missing = wv.isna().to_numpy()
        if missing.any():
            miss = list(enc.workers[missing][:5])
            if self.on_missing_skill == "error":
                raise ValueError(
                    f"skills has no value for {int(missing.sum())} worker(s) in data, e.g. {miss}; give every "
                    "worker a skill, or pass on_missing_skill='ignore' (drop their answers) or "
                    "on_missing_skill='value' with default_skill=..."
                )
            if self.on_missing_skill == "value":
                wv[missing] = float(self.default_skill)
        wa = wv.to_numpy(float)[enc.w]
        keep = ~np.isnan(wa)
        if not keep.all():  # "ignore": every task must keep at least one answer
            left = np.bincount(enc.t[keep], minlength=enc.n_tasks)
            if (left == 0).any():
                raise ValueError(
                    f"on_missing_skill='ignore' leaves {int((left == 0).sum())} task(s) with no answer from a worker "
                    f"with a known skill, e.g. {list(enc.tasks[left == 0][:5])}; give those workers skills or use "
                    "on_missing_skill='value' with default_skill=..."
                )
        return np.where(keep, wa, 0.0), keep

    def fit(self, data: pd.DataFrame, skills=None) -> MajorityVote:
        """Count votes.

        Parameters
        ----------
        data : DataFrame
            ``task, worker, label``.  An empty table gives empty results (as in crowd-kit).
        skills : Series, optional
            Non-negative finite weight per worker (indexed by worker): each answer counts with its worker's
            skill.  Workers absent from it follow ``on_missing_skill``.
        """
        rng = self._check()
        enc = encode(data, self.labels, self.duplicates, min_labels=1, allow_empty=True)
        if enc.n_answers == 0:  # crowd-kit's empty results
            self.probas_ = pd.DataFrame(index=enc.tasks.copy(), columns=enc.labels.copy(), dtype=float)
            self.labels_ = pd.Series(index=enc.tasks.copy(), dtype=object, name="agg_label")
            self.skills_ = pd.Series(index=enc.workers.copy(), dtype=float, name="skill")
            return self
        wts, keep = (None, np.ones(enc.n_answers, bool)) if skills is None else self._answer_weights(enc, skills)
        counts = enc.label_counts(wts)
        best = counts.max(axis=1, keepdims=True)
        tied = counts >= best - 1e-12 * np.maximum(1.0, np.abs(best))
        if self.tie_break == "first":
            winner = np.argmax(tied, axis=1)
        else:
            noise = rng.random(counts.shape)
            winner = np.argmax(np.where(tied, noise, -1.0), axis=1)
        tot = counts.sum(axis=1, keepdims=True)
        self.probas_ = pd.DataFrame(counts / np.where(tot > 0, tot, 1.0), index=enc.tasks, columns=enc.labels.copy())
        self.labels_ = pd.Series(enc.labels[winner], index=enc.tasks.copy(), name="agg_label")
        agree = (winner[enc.t] == enc.l).astype(float)[keep]
        n_kept = np.bincount(enc.w[keep], minlength=enc.n_workers)
        acc = np.bincount(enc.w[keep], agree, enc.n_workers) / np.where(n_kept > 0, n_kept, 1)
        self.skills_ = pd.Series(np.where(n_kept > 0, acc, np.nan), index=enc.workers.copy(), name="skill")
        return self

    def fit_predict(self, data: pd.DataFrame, skills=None) -> pd.Series:
        """Fit and return the winning label per task (Series indexed by task)."""
        return self.fit(data, skills).labels_

    def fit_predict_proba(self, data: pd.DataFrame, skills=None) -> pd.DataFrame:
        """Fit and return the tasks x labels vote shares."""
        return self.fit(data, skills).probas_

    def predict(self) -> pd.Series:
        check_fitted(self, "labels_")
        return self.labels_
