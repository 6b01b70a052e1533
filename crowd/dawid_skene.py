r"""Dawid-Skene EM on sparse one-hot answers.

Worker :math:`i` has a confusion matrix :math:`\pi_i[c, l] = P(\text{answer } l \mid \text{truth } c)`;
truths have prior :math:`\rho`.  EM alternates

.. math::

    T_{jc} \propto \rho_c \prod_{(i, l) \in \mathcal A_j} \pi_i[c, l], \qquad
    \pi_i[c, l] \propto \sum_{j: (i, l) \in \mathcal A_j} T_{jc}, \qquad \rho_c = \frac1m \sum_j T_{jc}.

With the one-hot answer matrix :math:`X \in \{0,1\}^{m \times nK}` both steps are one sparse
product each (``X @ log pi`` and ``X.T @ T``), so an iteration costs :math:`O(\mathrm{nnz}\cdot K)`.

References
----------
A. P. Dawid, A. M. Skene, "Maximum likelihood estimation of observer error-rates using the
EM algorithm", JRSS C 28(1):20-28, 1979. doi:10.2307/2346806
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from crowd._answers import check_fitted, encode
from crowd.exceptions import CrowdWarning

__all__ = ["DawidSkene"]

_EPS = 1e-10  # floor on confusion counts and priors (the value crowd-kit uses)


class DawidSkene:
    r"""Dawid-Skene EM with majority-vote or spectral initialisation and optional gold labels.

    Parameters
    ----------
    n_iter : int
        Maximum number of EM iterations.
    tol : float
        Stop when the evidence lower bound per answer improves by less than ``tol``
        (crowd-kit's rule); a :class:`~crowd.CrowdWarning` is issued if ``n_iter`` is reached first
        (``tol=0`` runs exactly ``n_iter`` iterations, silently).
    init : {"mv", "spectral"}
        ``"mv"``: vote shares (crowd-kit's initialisation). ``"spectral"``: the top-two
        spectral stage of :class:`crowd.TopTwo` (one-hot on its estimated truth; needs ``K >= 3``).
    labels : sequence, optional
        Declared label set.
    duplicates : {"error", "keep", "first", "last"}
        Policy for repeated (task, worker) pairs.

    Attributes
    ----------
    probas_ : DataFrame
        tasks x labels posterior :math:`T`.
    labels_ : Series
        Most probable label per task (ties: first label).
    priors_ : Series
        :math:`\rho`.
    errors_ : DataFrame
        Indexed by (worker, observed label), one column per true label: :math:`\pi_i[c, l]`.
    skills_ : Series
        Per-worker accuracy :math:`\sum_c \rho_c \pi_i[c, c]`.
    loss_history_ : list of float
        Per answer, the evidence lower bound at each E-step (the marginal log-likelihood of the
        parameters entering it, or with gold labels its clamped lower bound); non-decreasing.
    n_iter_ : int

    Examples
    --------
    >>> from crowd import DawidSkene, simulate_top_two
    >>> answers, truth, _ = simulate_top_two(20, 100, 4, 1.0, confusion=(0.9, 1.0), seed=1)
    >>> ds = DawidSkene().fit(answers)
    >>> bool((ds.labels_ == truth["first"]).mean() > 0.8)
    True
    """

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, init: str = "mv", labels=None,
                 duplicates: str = "error"):
        self.n_iter = n_iter
        self.tol = tol
        self.init = init
        self.labels = labels
        self.duplicates = duplicates

    def _init_probas(self, enc):
        if self.init == "mv":
            c = enc.label_counts()
            return c / c.sum(axis=1, keepdims=True)
        from crowd.top_two import spectral_stage

        g = spectral_stage(enc).first
        T = np.zeros((enc.n_tasks, enc.n_labels))
        T[np.arange(enc.n_tasks), g] = 1.0
        return T

    def fit(self, data: pd.DataFrame, true_labels=None) -> "DawidSkene":
        """Run EM. ``true_labels``: optional Series (task -> label) of gold labels, clamped during EM."""
        if int(self.n_iter) != self.n_iter or self.n_iter < 1:
            raise ValueError(f"n_iter must be a positive integer, got {self.n_iter!r}")
        if self.init not in ("mv", "spectral"):
            raise ValueError(f"init must be 'mv' or 'spectral', got {self.init!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        enc = encode(data, self.labels, self.duplicates, min_labels=2)
        n, m, K = enc.n_workers, enc.n_tasks, enc.n_labels
        gold_rows = gold_cols = None
        if true_labels is not None:
            tl = pd.Series(true_labels)
            tl = tl[tl.index.isin(enc.tasks)]
            bad = ~tl.isin(enc.labels)
            if bad.any():
                raise ValueError(f"true_labels has labels outside {list(enc.labels)}: {list(pd.unique(tl[bad]))[:5]}")
            gold_rows = enc.tasks.get_indexer(tl.index)
            gold_cols = enc.labels.get_indexer(tl.to_numpy())
        X = enc.onehot()
        XT = X.T  # CSC view: the transposed product is ~4x faster than converting to CSR

        def clamp(T):
            if gold_rows is not None and len(gold_rows):
                T[gold_rows] = 0.0
                T[gold_rows, gold_cols] = 1.0
            return T

        def m_step(T):
            counts = np.asarray(XT @ T).reshape(n, K, K)  # [worker, observed l, true c]
            counts = np.maximum(counts, _EPS)
            err = counts / counts.sum(axis=1, keepdims=True)
            prior = np.maximum(T.mean(axis=0), _EPS)
            return prior, err

        T = clamp(self._init_probas(enc))
        prior, err = m_step(T)
        history, prev = [], -np.inf
        it = 0
        for it in range(1, int(self.n_iter) + 1):
            log_err = np.log(err).reshape(n * K, K)
            logit = np.log(prior)[None, :] + np.asarray(X @ log_err)
            mx = logit.max(axis=1, keepdims=True)
            ex = np.exp(logit - mx)
            tot = ex.sum(axis=1, keepdims=True)
            # with T the exact posterior the ELBO equals the marginal log-likelihood of the
            # current parameters, sum_j log sum_c exp(logit_jc): no second sparse product needed
            loglik = float(np.sum(mx) + np.sum(np.log(tot)))
            if gold_rows is not None and len(gold_rows):  # clamped rows: ELBO of the one-hot T
                lg = logit[gold_rows, gold_cols]
                loglik += float(np.sum(lg) - np.sum(mx[gold_rows, 0] + np.log(tot[gold_rows, 0])))
            T = clamp(ex / tot)
            prior, err = m_step(T)
            elbo = loglik / enc.n_answers
            history.append(elbo)
            if elbo - prev < self.tol:
                break
            prev = elbo
        else:
            if self.tol > 0:  # tol=0 asks for exactly n_iter iterations: nothing to warn about
                warnings.warn(f"DawidSkene: EM did not reach tol={self.tol} in n_iter={self.n_iter} iterations",
                              CrowdWarning, stacklevel=2)
        self.n_iter_ = it
        self.loss_history_ = history
        self.probas_ = pd.DataFrame(T, index=enc.tasks, columns=enc.labels)
        self.labels_ = pd.Series(enc.labels[np.argmax(T, axis=1)], index=enc.tasks, name="agg_label")
        self.priors_ = pd.Series(prior, index=enc.labels, name="prior")
        idx = pd.MultiIndex.from_product([enc.workers, enc.labels], names=["worker", "label"])
        self.errors_ = pd.DataFrame(err.reshape(n * K, K), index=idx, columns=enc.labels)
        acc = np.einsum("c,icc->i", prior, err)
        self.skills_ = pd.Series(acc, index=enc.workers, name="skill")
        return self

    def fit_predict(self, data: pd.DataFrame, true_labels=None) -> pd.Series:
        """Fit and return the most probable label per task."""
        return self.fit(data, true_labels).labels_

    def fit_predict_proba(self, data: pd.DataFrame, true_labels=None) -> pd.DataFrame:
        """Fit and return the tasks x labels posterior."""
        return self.fit(data, true_labels).probas_

    def predict(self) -> pd.Series:
        check_fitted(self, "labels_")
        return self.labels_
