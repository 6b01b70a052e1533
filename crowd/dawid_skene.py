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
from crowd._checks import check_int, check_real
from crowd.exceptions import CrowdWarning

__all__ = ["DawidSkene", "INITIAL_ERROR_STRATEGIES"]

INITIAL_ERROR_STRATEGIES = (None, "assign", "addition")

_EPS = 1e-10  # floor on confusion counts and priors (the value crowd-kit uses)


class DawidSkene:
    r"""Dawid-Skene EM with majority-vote or spectral initialisation and optional gold labels.

    Parameters
    ----------
    n_iter : int
        Maximum number of EM iterations; ``0`` returns the initial state (vote shares and the
        M-step on them), as crowd-kit does.
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
    initial_error_strategy : {None, "assign", "addition"}
        How ``fit(..., initial_error=...)`` enters the first M-step (crowd-kit's parameter):
        ``"assign"`` replaces the counts from the initial vote shares by ``initial_error`` (counts, or
        probabilities whose columns sum to 1 per worker; every worker must be present), ``"addition"``
        adds ``initial_error`` counts to them.

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
                 duplicates: str = "error", initial_error_strategy: str | None = None):
        self.n_iter = n_iter
        self.tol = tol
        self.init = init
        self.labels = labels
        self.duplicates = duplicates
        self.initial_error_strategy = initial_error_strategy

    def _check(self):
        check_int("n_iter", self.n_iter, 0)  # 0 returns the initial state
        if self.init not in ("mv", "spectral"):
            raise ValueError(f"init must be 'mv' or 'spectral', got {self.init!r}")
        check_real("tol", self.tol, 0.0, np.inf)
        if self.initial_error_strategy not in INITIAL_ERROR_STRATEGIES:
            raise ValueError(f"initial_error_strategy must be one of {INITIAL_ERROR_STRATEGIES}, "
                             f"got {self.initial_error_strategy!r}")

    def _set_empty(self, enc):
        """crowd-kit's results for an empty table: empty frames and series, no iterations."""
        self.n_iter_, self.loss_history_ = 0, []
        self.probas_ = pd.DataFrame(index=enc.tasks.copy(), columns=enc.labels.copy(), dtype=float)
        self.labels_ = pd.Series(index=enc.tasks.copy(), dtype=object, name="agg_label")
        self.priors_ = pd.Series(index=enc.labels.copy(), dtype=float, name="prior")
        idx = pd.MultiIndex.from_arrays([[], []], names=["worker", "label"])
        self.errors_ = pd.DataFrame(index=idx, columns=enc.labels.copy(), dtype=float)
        self.skills_ = pd.Series(index=enc.workers.copy(), dtype=float, name="skill")
        return self

    def _init_probas(self, enc):
        if self.init == "mv":
            c = enc.label_counts()
            return c / c.sum(axis=1, keepdims=True)
        from crowd.top_two import spectral_stage

        g = spectral_stage(enc).first
        T = np.zeros((enc.n_tasks, enc.n_labels))
        T[np.arange(enc.n_tasks), g] = 1.0
        return T

    def fit(self, data: pd.DataFrame, true_labels=None, initial_error=None) -> DawidSkene:
        """Run EM.

        Parameters
        ----------
        data : DataFrame
            ``task, worker, label``.  An empty table gives empty results (as in crowd-kit).
        true_labels : Series, optional
            Gold labels (task -> label), clamped during EM.
        initial_error : DataFrame, optional
            Prior error matrices, shaped like ``errors_`` (index ``(worker, label)``, one column per true
            label), used in the first M-step as ``initial_error_strategy`` says (crowd-kit's semantics).
        """
        self._check()
        enc = encode(data, self.labels, self.duplicates, min_labels=2, allow_empty=True)
        if enc.n_answers == 0:
            return self._set_empty(enc)
        n, K = enc.n_workers, enc.n_labels
        init_counts = self._initial_counts(enc, initial_error)
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

        def m_step(T, extra=None):
            counts = np.asarray(XT @ T).reshape(n, K, K)  # [worker, observed l, true c]
            if extra is not None:  # initial_error: "assign" replaces the counts, "addition" adds to them
                counts = extra if self.initial_error_strategy == "assign" else counts + extra
            counts = np.maximum(counts, _EPS)
            err = counts / counts.sum(axis=1, keepdims=True)
            prior = np.maximum(T.mean(axis=0), _EPS)
            return prior, err

        T = clamp(self._init_probas(enc))
        prior, err = m_step(T, init_counts)
        history, prev = [], -np.inf
        for _ in range(int(self.n_iter)):
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
            if self.tol > 0 and self.n_iter > 0:  # tol=0 asks for exactly n_iter iterations: nothing to warn about
                warnings.warn(f"DawidSkene: EM did not reach tol={self.tol} in n_iter={self.n_iter} iterations",
                              CrowdWarning, stacklevel=2)
        self.n_iter_ = len(history)  # one ELBO per completed iteration
        self.loss_history_ = history
        # every result gets its own Index objects: renaming one must not rename the others
        self.probas_ = pd.DataFrame(T, index=enc.tasks.copy(), columns=enc.labels.copy())
        self.labels_ = pd.Series(enc.labels[np.argmax(T, axis=1)], index=enc.tasks.copy(), name="agg_label")
        self.priors_ = pd.Series(prior, index=enc.labels.copy(), name="prior")
        idx = pd.MultiIndex.from_product([enc.workers, enc.labels], names=["worker", "label"])
        self.errors_ = pd.DataFrame(err.reshape(n * K, K), index=idx, columns=enc.labels.copy())
        acc = np.einsum("c,icc->i", prior, err)
        self.skills_ = pd.Series(acc, index=enc.workers.copy(), name="skill")
        return self

    def _initial_counts(self, enc, initial_error):
        """``initial_error`` as a dense ``[worker, observed, true]`` array (None if unused)."""
        if initial_error is None:
            return None
        if self.initial_error_strategy is None:
            raise ValueError("initial_error was given but initial_error_strategy is None (crowd-kit would silently "
                             "ignore it); pass initial_error_strategy='assign' or 'addition'")
        if not isinstance(initial_error, pd.DataFrame) or list(initial_error.index.names) != ["worker", "label"]:
            got = list(initial_error.index.names) if isinstance(initial_error, pd.DataFrame) else type(initial_error)
            raise ValueError(f"initial_error must be a DataFrame indexed by ('worker', 'label') with one column per "
                             f"true label, like a fitted errors_; got index names {got}")
        vals = initial_error.apply(pd.to_numeric, errors="coerce")
        if vals.isna().any().any() or not np.isfinite(vals.to_numpy(float)).all() or (vals < 0).any().any():
            raise ValueError("initial_error must hold finite non-negative counts (or probabilities)")
        missing_cols = [c for c in enc.labels if c not in vals.columns]
        if missing_cols:
            raise ValueError(f"initial_error has no column for true label(s) {missing_cols}; "
                             f"expected {list(enc.labels)}")
        n, K = enc.n_workers, enc.n_labels
        if self.initial_error_strategy == "assign":
            absent = enc.workers[~enc.workers.isin(vals.index.get_level_values("worker"))]
            if len(absent):
                raise ValueError(f"initial_error_strategy='assign' needs an error matrix for every worker in data; "
                                 f"{len(absent)} missing, e.g. {list(absent[:5])}; use 'addition' to add to the "
                                 "data's counts instead")
            per_worker = vals.groupby(level="worker").sum()
            if (vals <= 1.0).all().all() and not np.allclose(per_worker.to_numpy(float), 1.0):
                raise ValueError("initial_error looks like probabilities (all <= 1) but a worker's column does not "
                                 "sum to 1 over observed labels; normalise it or pass counts")
        idx = pd.MultiIndex.from_product([enc.workers, enc.labels], names=["worker", "label"])
        dense = vals.reindex(index=idx, columns=enc.labels).fillna(0.0).to_numpy(float)
        return dense.reshape(n, K, K)

    def fit_predict(self, data: pd.DataFrame, true_labels=None, initial_error=None) -> pd.Series:
        """Fit and return the most probable label per task."""
        return self.fit(data, true_labels, initial_error).labels_

    def fit_predict_proba(self, data: pd.DataFrame, true_labels=None, initial_error=None) -> pd.DataFrame:
        """Fit and return the tasks x labels posterior."""
        return self.fit(data, true_labels, initial_error).probas_

    def predict(self) -> pd.Series:
        check_fitted(self, "labels_")
        return self.labels_
