r"""Top-two answers and confusion probabilities: spectral stage + plug-in MLE.

Model (Jeong & Chung 2023): an answer of worker :math:`i` on task :math:`j` is
:math:`g_j` w.p. :math:`p_i q_j + (1-p_i)/K`, :math:`h_j` w.p. :math:`p_i(1-q_j) + (1-p_i)/K`,
any other label w.p. :math:`(1-p_i)/K`; each pair is observed w.p. :math:`s`.

**Stage 1 (spectral).**  For :math:`k = 1..K-1` binarise the ``n x m`` answer matrix
(label index :math:`< k \mapsto -1`, otherwise :math:`+1`, missing :math:`0`) and centre it,
:math:`A_k = B_k - s\frac{K-2k}{K}\mathbf 1\mathbf 1^\top`.  Then
:math:`\mathbb E A_k = -2s\,p\,(F_{\cdot}(k) - k/K)^\top` is rank one, with :math:`F_j(k)` the
top-two mass on the first :math:`k` labels.  The leading left singular vector (top
eigenvector of the ``n x n`` Gram matrix, computed from the sparse :math:`B_k` plus the
rank-one correction, never densifying the ``n x m`` matrix) estimates :math:`p/\|p\|`;
projecting gives :math:`w_j(k)`, and :math:`\mu_j(l) = -(w_j(l+1) - w_j(l))/(2s)` estimates
:math:`\|p\|(f_j(l) - 1/K)`, so :math:`\hat g_j, \hat h_j` are the two largest :math:`\mu_j`.
Then :math:`\hat p_i = (\text{share of } i\text{'s answers in } \{\hat g_j, \hat h_j\} - 2/K)/(1-2/K)`
and :math:`\hat q_j = 1/K + \mu_j(\hat g_j)/\|\hat p\|` (clipped).  Unlike the authors' released
script, :math:`\hat q` uses the *estimated* :math:`\hat g` only (theirs indexes it with the truth).

**Stage 2 (plug-in MLE).**  With :math:`r_i = \hat p_i/(1-\hat p_i)` choose the ordered pair
maximising

.. math:: S_j(a, b) = \sum_{i \to a} \log(K \hat q_j r_i + 1) + \sum_{i \to b} \log(K (1-\hat q_j) r_i + 1),

the log-likelihood ratio of ":math:`(g_j, h_j) = (a, b)`" against "all answers are guesses".
Cost :math:`O(\mathrm{nnz} + m K^2)`.

References
----------
H. Jeong, H. W. Chung, "Recovering Top-Two Answers and Confusion Probability in Multi-Choice
Crowdsourcing", ICML 2023, PMLR 202:14836-14868. arXiv:2301.00006
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from crowd._answers import Encoded, check_fitted, encode
from crowd.exceptions import DegenerateModelError

__all__ = ["TopTwo", "SpectralResult", "spectral_stage", "pair_scores", "confusion_mle", "skills_from_pairs"]

P_CLIP = (0.001, 0.999)
Q_CLIP = (0.501, 0.999)


class SpectralResult(NamedTuple):
    r"""Stage-1 estimates (integer label codes): ``first``, ``second`` (m,), ``skills`` (n,), ``confusion`` (m,),
    and the label scores ``mu`` (m, K) estimating :math:`\|p\|(f_j(l) - 1/K)`."""

    first: np.ndarray
    second: np.ndarray
    skills: np.ndarray
    confusion: np.ndarray
    mu: np.ndarray


def check_top_two(enc: Encoded) -> None:
    if enc.n_labels < 3:
        raise DegenerateModelError(
            f"the top-two model needs K >= 3 labels, got K = {enc.n_labels} ({list(enc.labels)}): with two labels "
            "g and h exhaust the choices and p, q are not identifiable; use crowd.DawidSkene or crowd.MajorityVote, "
            "or declare the full label set with labels=[...]"
        )


def _leading_eigvec(G: np.ndarray | spla.LinearOperator, n: int) -> np.ndarray:
    if isinstance(G, np.ndarray) and n <= 32:
        vals, vecs = sla.eigh(G, subset_by_index=[n - 1, n - 1])
        return vecs[:, -1]
    # Lanczos (ARPACK) for the top eigenpair; deterministic start, positive overlap with p >= 0.
    # (Much faster than LAPACK's dense eigh here, which is BLAS-3 bound.)
    vals, vecs = spla.eigsh(G, k=1, which="LA", v0=np.ones(n))
    return vecs[:, 0]


def skills_from_pairs(enc: Encoded, first, second) -> np.ndarray:
    """Moment estimate of :math:`p_i` from the share of worker i's answers in the pair, clipped."""
    K = enc.n_labels
    hit = ((enc.l == first[enc.t]) | (enc.l == second[enc.t])).astype(float)
    share = np.bincount(enc.w, hit, enc.n_workers) / np.maximum(np.bincount(enc.w, minlength=enc.n_workers), 1)
    return np.clip((share - 2.0 / K) / (1.0 - 2.0 / K), *P_CLIP)


def spectral_stage(enc: Encoded) -> SpectralResult:
    """Stage 1 of :class:`TopTwo` on encoded answers (see the module docstring)."""
    check_top_two(enc)
    n, m, K = enc.n_workers, enc.n_tasks, enc.n_labels
    s = enc.n_answers / (n * m)
    ones_n = np.ones(n)
    us, cs = [], []
    for k in range(1, K):
        vals = np.where(enc.l < k, -1.0, 1.0)
        B = sp.csr_matrix((vals, (enc.w, enc.t)), shape=(n, m))
        c = s * (K - 2 * k) / K
        b1 = np.asarray(B.sum(axis=1)).ravel()  # B 1
        if n <= 3000:
            G = (B @ B.T).toarray() - c * (b1[:, None] + b1[None, :]) + c * c * m
        else:
            BT = B.T.tocsr()

            def mv(x, B=B, BT=BT, c=c, b1=b1):
                x = np.ravel(x)
                return B @ (BT @ x) - c * b1 * x.sum() - c * (b1 @ x) * ones_n + c * c * m * x.sum() * ones_n

            G = spla.LinearOperator((n, n), matvec=mv, dtype=float)
        u = _leading_eigvec(G, n)
        if u.sum() < 0:
            u = -u
        us.append(u)
        cs.append(c)
    u = np.clip(np.mean(us, axis=0), 0.0, 1.0)
    norm = np.linalg.norm(u)
    u = u / norm if norm > 0 else np.full(n, 1.0 / np.sqrt(n))
    # w_j(k) = u^T A_k[:, j]; w_j(0) = w_j(K) = 0 in expectation
    W = np.zeros((m, K + 1))
    for k in range(1, K):
        vals = np.where(enc.l < k, -1.0, 1.0)
        W[:, k] = np.bincount(enc.t, vals * u[enc.w], m) - cs[k - 1] * u.sum()
    mu = -(np.diff(W, axis=1)) / (2.0 * s)  # (m, K): ||p|| (f_j(l) - 1/K)
    order = np.argsort(-mu, axis=1, kind="stable")
    first, second = order[:, 0], order[:, 1]
    p_hat = skills_from_pairs(enc, first, second)
    q_hat = 1.0 / K + mu[np.arange(m), first] / np.linalg.norm(p_hat)
    return SpectralResult(first, second, p_hat, np.clip(q_hat, *Q_CLIP), mu)


def pair_scores(enc: Encoded, skills, confusion) -> np.ndarray:
    r"""``(m, K, K)`` log-likelihood ratios :math:`S_j(a, b)` (diagonal ``-inf``)."""
    K, m = enc.n_labels, enc.n_tasks
    p = np.clip(np.asarray(skills, float), 0.0, 1.0 - 1e-12)
    q = np.asarray(confusion, float)
    r = p / (1.0 - p)
    rw, qt = r[enc.w], q[enc.t]
    idx = enc.t * K + enc.l
    s1 = np.bincount(idx, np.log1p(K * qt * rw), m * K).reshape(m, K)
    s2 = np.bincount(idx, np.log1p(K * (1.0 - qt) * rw), m * K).reshape(m, K)
    S = s1[:, :, None] + s2[:, None, :]
    S[:, np.arange(K), np.arange(K)] = -np.inf
    return S


def best_pairs(S: np.ndarray):
    """Argmax ordered pair per task and the marginal posterior of the first label (uniform pair prior)."""
    m, K, _ = S.shape
    flat = S.reshape(m, K * K)
    best = np.argmax(flat, axis=1)
    first, second = best // K, best % K
    mx = flat.max(axis=1)[:, None, None]
    e = np.exp(S - mx)  # exp(-inf) = 0 on the diagonal
    marg = e.sum(axis=2)  # (m, K): sum_b exp S(a, b), up to the row constant
    proba = marg / marg.sum(axis=1, keepdims=True)
    return first, second, proba


def confusion_mle(enc: Encoded, skills, first, second, n_bisect: int = 30) -> np.ndarray:
    r"""Per-task MLE of :math:`q_j \in [1/2, 1]` given :math:`p` and the pair.

    The log-likelihood is concave in :math:`q_j`, so its score is decreasing: bisection on the
    score, ``n_bisect = 30`` halvings of [1/2, 1] (width 5e-10), then clipped to [0.501, 0.999].
    """
    K, m = enc.n_labels, enc.n_tasks
    p = np.asarray(skills, float)
    is_g = enc.l == first[enc.t]
    is_h = enc.l == second[enc.t]
    tg, pg = enc.t[is_g], p[enc.w[is_g]]
    th, ph = enc.t[is_h], p[enc.w[is_h]]
    cg, ch = (1 - pg) / K, (1 - ph) / K

    def score(q):
        return (np.bincount(tg, pg / (pg * q[tg] + cg), m)
                - np.bincount(th, ph / (ph * (1 - q[th]) + ch), m))

    lo, hi = np.full(m, 0.5), np.full(m, 1.0)
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        up = score(mid) > 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    return np.clip(0.5 * (lo + hi), *Q_CLIP)


class _TopTwoBase:
    """Shared output formatting for :class:`TopTwo` and :class:`crowd.OracleTopTwo`."""

    fit: Callable[..., Any]  # each subclass defines it (a declaration: no class attribute is created)

    def _finish(self, enc: Encoded, first, second, skills, confusion, proba, S):
        m = enc.n_tasks
        self.top_two_ = pd.DataFrame({"first": enc.labels[first], "second": enc.labels[second],
                                      "confusion": confusion}, index=enc.tasks)
        self.labels_ = pd.Series(enc.labels[first], index=enc.tasks, name="agg_label")
        self.probas_ = pd.DataFrame(proba, index=enc.tasks, columns=enc.labels)
        self.skills_ = pd.Series(skills, index=enc.workers, name="skill")
        self.pair_scores_ = S[np.arange(m), first, second]
        return self

    def fit_predict(self, data: pd.DataFrame, *args, **kwargs) -> pd.Series:
        """Fit and return the estimated truth g per task (Series indexed by task)."""
        return self.fit(data, *args, **kwargs).labels_

    def fit_predict_proba(self, data: pd.DataFrame, *args, **kwargs) -> pd.DataFrame:
        """Fit and return P(g_j = label) given the plug-in p, q (uniform prior over ordered pairs)."""
        return self.fit(data, *args, **kwargs).probas_

    def predict(self) -> pd.Series:
        check_fitted(self, "labels_")
        return self.labels_


class TopTwo(_TopTwoBase):
    r"""Two-stage top-two estimator (spectral initialisation, then plug-in MLE per task).

    Parameters
    ----------
    labels : sequence, optional
        Declared label set; ``K = len(labels)`` enters the model (a label nobody chose still
        counts in the uniform guess).  ``None`` uses the labels seen.
    refine_confusion : bool
        After stage 2, re-estimate :math:`q_j` by its MLE given :math:`\hat p` and the chosen pair
        (default).  ``False`` reports the stage-1 spectral :math:`\hat q_j` (from :math:`\hat g`).
    duplicates : {"error", "keep", "first", "last"}
        Policy for repeated (task, worker) pairs.

    Attributes
    ----------
    top_two_ : DataFrame
        Indexed by task: ``first`` (:math:`\hat g`), ``second`` (:math:`\hat h`), ``confusion`` (:math:`\hat q`).
    labels_ : Series
        :math:`\hat g` per task.
    probas_ : DataFrame
        tasks x labels, :math:`P(g_j = a \mid \text{answers}, \hat p, \hat q)`.
    skills_ : Series
        :math:`\hat p_i` per worker.
    spectral_ : SpectralResult
        Stage-1 estimates (integer label codes).
    pair_scores_ : ndarray (m,)
        :math:`S_j(\hat g_j, \hat h_j)`.

    Raises
    ------
    DegenerateModelError
        If ``K < 3`` (the model is degenerate for two labels).

    Examples
    --------
    >>> from crowd import TopTwo, simulate_top_two
    >>> answers, truth, skills = simulate_top_two(50, 300, 5, 0.5, seed=0)
    >>> tt = TopTwo().fit(answers)
    >>> list(tt.top_two_.columns)
    ['first', 'second', 'confusion']
    >>> bool(tt.skills_.corr(skills) > 0.8)
    True
    """

    def __init__(self, labels=None, refine_confusion: bool = True, duplicates: str = "error"):
        self.labels = labels
        self.refine_confusion = refine_confusion
        self.duplicates = duplicates

    def fit(self, data: pd.DataFrame) -> TopTwo:
        enc = encode(data, self.labels, self.duplicates, min_labels=2)
        check_top_two(enc)
        st1 = spectral_stage(enc)
        S = pair_scores(enc, st1.skills, st1.confusion)
        first, second, proba = best_pairs(S)
        q = confusion_mle(enc, st1.skills, first, second) if self.refine_confusion else st1.confusion
        self.spectral_ = st1
        return self._finish(enc, first, second, st1.skills, q, proba, S)
