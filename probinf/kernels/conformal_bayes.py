r"""Conformal-Bayes scores: add-one-in importance weights without the T x G x n tensor.

Conformal Bayes (Fong & Holmes 2021) turns one set of posterior draws
:math:`\theta_1, \dots, \theta_T` (possibly weighted, log-weights :math:`\ell_t`)
into full conformal prediction.  For a candidate value :math:`y_g` of the test
response, the posterior given the augmented data is reached by *add-one-in*
importance weights

.. math::

    \log \tilde w_{tg} = \ell_t + \log f_{\theta_t}(y_g \mid x_{n+1}),
    \qquad \bar w_{tg} = \tilde w_{tg} / \textstyle\sum_s \tilde w_{sg},

and the conformity score of point :math:`i` (the posterior predictive density of
:math:`y_i` after adding :math:`y_g`) is

.. math::

    \sigma_i(y_g) = \sum_t \bar w_{tg}\, f_{\theta_t}(y_i \mid x_i), \quad
    \sigma_{n+1}(y_g) = \sum_t \bar w_{tg}\, f_{\theta_t}(y_g \mid x_{n+1}).

The conformal p-value is :math:`\pi(y_g) = \#\{i \le n+1 : \sigma_i \le \sigma_{n+1}\} / (n+1)`
and the importance-sampling effective sample size of the weights is
:math:`\mathrm{ESS}_g = (\sum_t \tilde w_{tg})^2 / \sum_t \tilde w_{tg}^2`.

Inputs: ``loglik_train`` (T, n) with entries :math:`\log f_{\theta_t}(y_i\mid x_i)`,
``loglik_grid`` (T, G) with entries :math:`\log f_{\theta_t}(y_g\mid x_{n+1})`.

Backends
--------
``"reference"``
    Plain NumPy/SciPy in float64 over the full T x G x n tensor: the test oracle.
``"cpu"`` (what ``"auto"`` runs, on CPU and on GPU)
    Fused and chunked JAX (XLA; the name is historical, it runs on any device).  The log-sum-exp over draws factorises
    as a matrix product after max-shifting each column,
    :math:`\sum_t e^{a_{tg}} e^{b_{ti}} = e^{m_g + M_i} (A^\top B)_{gi}` with
    :math:`A = e^{a - m}, B = e^{b - M} \in [0, 1]`, so the work is a BLAS
    product over G-chunks and memory is :math:`O(T(n + G) + c\,n)` for chunk
    size :math:`c` (plus the G x n output when requested).  Terms of the product
    that underflow carry at most :math:`T \cdot \text{tiny}` of mass; when an
    entry of a chunk falls below :math:`T \cdot \text{tiny} / \epsilon` (where
    that loss could exceed one ulp) the chunk is recomputed by an exact
    row-wise log-sum-exp, so extreme log-values (``-1e30``, ``+-700``) stay
    accurate.  Computation is in the JAX default float dtype (float32 unless
    x64 is enabled): log-scores agree with the reference to about
    ``1e-4 + 4 eps * max|input|`` absolute.
``"pallas"`` (opt-in)
    Two Pallas kernels for GPUs.  Measured 2.4x to 10x *slower* than the XLA path on an
    H200 (the XLA path turns the log-sum-exp into a BLAS product; these kernels pay
    :math:`T G n` exponentials), so ``"auto"`` does not pick them
    (:mod:`probinf.kernels._backend_table`).  The first, over blocks of grid columns, streams
    the draws in slices and keeps a running max and rescaled exp-sum (a
    max-subtracted online log-sum-exp) for the add-one-in normalizer
    :math:`\log\sum_t \tilde w_{tg}`, the test score and the ESS; the second,
    over (grid block, training block) tiles, does the same for the train scores
    and also writes, per grid value and training block, the count of train
    scores at or below the test score.  Plain ``jnp`` around them: padding,
    the sum of the per-block counts and the p-value
    :math:`(1 + \text{count}) / (n + 1)`.  Every log-sum-exp is exact (no matrix
    product, hence no underflow fallback), at the cost of :math:`T G n`
    exponentials instead of a BLAS product; memory is :math:`O(T(n + G))` plus
    :math:`G n / b_n` counts (and the G x n output when requested).  Same dtype
    and tolerance as ``"cpu"``.  Without a GPU it runs only with
    ``interpret=True`` (used by the tests); otherwise it raises
    :class:`probinf.kernels.BackendUnavailableError`.

NaN inputs raise ``ValueError`` (a density is never NaN); ``+inf`` raises;
``-inf`` (zero likelihood) is allowed except for a grid column whose weights are
all zero, where the add-one-in posterior is undefined.  ``T = 0`` raises (an
empty reduction over draws has no posterior); ``n = 0`` gives p-values of 1.

References
----------
Fong, E. and Holmes, C. (2021). Conformal Bayesian computation. NeurIPS 34.
arXiv:2106.06137.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import logsumexp as _jlse
from jax.typing import ArrayLike
from numpy.typing import NDArray
from scipy.special import logsumexp as _nlse

from probinf.kernels._backend_table import choose_backend
from probinf.kernels._conformal_bayes_pallas import pallas_scores as _pallas
from probinf.kernels._device import jax_has_gpu as _has_gpu
from probinf.kernels._device import require_pallas_device

__all__ = ["ConformalBayesScores", "conformal_bayes_scores", "CONFORMAL_BAYES_BACKENDS"]

CONFORMAL_BAYES_BACKENDS = ("auto", "reference", "cpu", "pallas")


class ConformalBayesScores(NamedTuple):
    """Output of :func:`conformal_bayes_scores` (NumPy arrays).

    pvalues : (G,) conformal p-values :math:`\\pi(y_g)` in ``[1/(n+1), 1]``.
    log_score_test : (G,) :math:`\\log \\sigma_{n+1}(y_g)`.
    ess : (G,) importance-sampling ESS of the add-one-in weights, in ``[1, T]``.
    log_scores_train : (G, n) :math:`\\log \\sigma_i(y_g)`, or ``None`` when not requested.
    """

    pvalues: np.ndarray
    log_score_test: np.ndarray
    ess: np.ndarray
    log_scores_train: np.ndarray | None


def _validate(loglik_train: ArrayLike, loglik_grid: ArrayLike,
              log_weights: ArrayLike | None) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    lt = np.asarray(loglik_train)
    lg = np.asarray(loglik_grid)
    for name, a in (("loglik_train", lt), ("loglik_grid", lg)):
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D (draws T, points), got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"{name} must be a real array, got dtype {a.dtype}")
    if lt.shape[0] != lg.shape[0]:
        raise ValueError(
            f"loglik_train has {lt.shape[0]} draws and loglik_grid has {lg.shape[0]}; "
            "both must have one row per posterior draw"
        )
    T = lt.shape[0]
    if T == 0:
        raise ValueError("at least one posterior draw is needed (T = 0 rows received)")
    if log_weights is None:
        lw0 = np.zeros(T)
    else:
        lw0 = np.asarray(log_weights, dtype=float)
        if lw0.shape != (T,):
            raise ValueError(f"log_weights must have shape ({T},) (one per draw), got {lw0.shape}")
    for name, a in (("loglik_train", lt), ("loglik_grid", lg), ("log_weights", lw0)):
        if np.isnan(a).any():
            raise ValueError(f"{name} contains NaN at {np.argwhere(np.isnan(a))[:3].tolist()}; "
                             "log-likelihoods must be numbers or -inf")
        if np.isposinf(a).any():
            raise ValueError(f"{name} contains +inf at {np.argwhere(np.isposinf(a))[:3].tolist()}")
    if lg.shape[1] > 0:
        dead = np.all(np.isneginf(lw0[:, None] + lg), axis=0)
        if dead.any():
            raise ValueError(
                f"every add-one-in weight is zero for grid columns {np.flatnonzero(dead)[:5].tolist()}: "
                "the candidate value has zero likelihood under all draws; drop it from the grid"
            )
    return lt, lg, lw0


def _reference(lt: NDArray[Any], lg: NDArray[Any], lw0: NDArray[Any], return_train: bool) -> ConformalBayesScores:
    lt = lt.astype(np.float64)
    lg = lg.astype(np.float64)
    lw = lw0[:, None] + lg  # (T, G)
    lse_lw = _nlse(lw, axis=0)  # (G,)
    full = lw[:, :, None] + lt[:, None, :]  # (T, G, n): the tensor the fast path avoids
    log_train = _nlse(full, axis=0) - lse_lw[:, None] if lt.shape[1] else np.zeros((lg.shape[1], 0))
    log_test = _nlse(lw + lg, axis=0) - lse_lw
    ess = np.exp(2.0 * lse_lw - _nlse(2.0 * lw, axis=0))
    counts = np.sum(log_train <= log_test[:, None], axis=1)
    pvalues = (1.0 + counts) / (lt.shape[1] + 1.0)
    return ConformalBayesScores(pvalues, log_test, ess, log_train if return_train else None)


@partial(jax.jit, static_argnames=("chunk", "return_train"))
def _fast(lt: jax.Array, lg: jax.Array, lw0: jax.Array, chunk: int,
          return_train: bool) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None]:
    T, n = lt.shape
    G = lg.shape[1]
    dtype = lt.dtype
    finfo = jnp.finfo(dtype)  # type: ignore[no-untyped-call]  # unannotated in jax
    # Below this, the mass lost to underflowed product terms (<= T * tiny) may exceed one ulp.
    thresh = T * finfo.tiny / finfo.eps

    lw = lw0[:, None] + lg  # (T, G) add-one-in log-weights
    m = jnp.max(lw, axis=0)
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    A = jnp.exp(lw - m)  # in [0, 1], one entry equal to 1 per column
    lse_lw = m + jnp.log(jnp.sum(A, axis=0))
    ess = jnp.exp(2.0 * lse_lw - _jlse(2.0 * lw, axis=0))
    log_test = _jlse(lw + lg, axis=0) - lse_lw

    M = jnp.max(lt, axis=0)
    M = jnp.where(jnp.isfinite(M), M, 0.0)
    B = jnp.exp(lt - M)  # (T, n)

    n_chunks = -(-G // chunk)
    pad = n_chunks * chunk - G
    lw_p = jnp.pad(lw, ((0, 0), (0, pad)))  # padded columns are finite (0) and discarded
    A_p = jnp.pad(A, ((0, 0), (0, pad)), constant_values=1.0)
    m_p = jnp.pad(m, (0, pad))
    lse_p = jnp.pad(lse_lw, (0, pad))
    test_p = jnp.pad(log_test, (0, pad))

    def exact_rows(lw_c: jax.Array, lse_c: jax.Array) -> jax.Array:
        # Row-wise exact log-sum-exp over draws, memory T * n per row.
        rows: jax.Array = lax.map(lambda col: _jlse(col[0][:, None] + lt, axis=0) - col[1], (lw_c.T, lse_c))
        return rows

    def one_chunk(args: tuple[jax.Array, ...]) -> tuple[jax.Array | None, jax.Array]:
        A_c, lw_c, m_c, lse_c, test_c = args
        # HIGHEST: on GPUs a float32 matmul defaults to TF32 (10-bit mantissa), ~1e-3 relative error in S
        S = jnp.matmul(A_c.T, B, precision=lax.Precision.HIGHEST)  # (c, n)
        fast = jnp.log(S) + m_c[:, None] + M[None, :] - lse_c[:, None]
        scores = lax.cond(jnp.any(S < thresh), exact_rows, lambda *_: fast, lw_c, lse_c)
        counts = jnp.sum(scores <= test_c[:, None], axis=1)
        return (scores if return_train else None), counts

    xs = (
        A_p.reshape(T, n_chunks, chunk).transpose(1, 0, 2),
        lw_p.reshape(T, n_chunks, chunk).transpose(1, 0, 2),
        m_p.reshape(n_chunks, chunk),
        lse_p.reshape(n_chunks, chunk),
        test_p.reshape(n_chunks, chunk),
    )
    scores, counts = lax.map(one_chunk, xs)
    counts = counts.reshape(-1)[:G]
    pvalues = (1.0 + counts) / (n + 1.0)
    log_train = scores.reshape(n_chunks * chunk, n)[:G] if return_train else None
    return pvalues, log_test, ess, log_train


def default_chunk_size(T: int, n: int, G: int) -> int:
    """Grid columns per fused block of the ``"cpu"`` path: a block of about 4M entries."""
    return int(max(1, min(G, 4_194_304 // max(n, T, 1))))


def conformal_bayes_scores(
    loglik_train: ArrayLike,
    loglik_grid: ArrayLike,
    log_weights: ArrayLike | None = None,
    *,
    return_train_scores: bool = True,
    chunk_size: int | None = None,
    backend: str = "auto",
    interpret: bool = False,
) -> ConformalBayesScores:
    r"""Add-one-in conformity scores, conformal p-values and IS ESS for conformal Bayes.

    Parameters
    ----------
    loglik_train : array_like, shape (T, n)
        :math:`\log f_{\theta_t}(y_i \mid x_i)` for T posterior draws and n training points.
    loglik_grid : array_like, shape (T, G)
        :math:`\log f_{\theta_t}(y_g \mid x_{n+1})` for G candidate values of one test point.
    log_weights : array_like, shape (T,), optional
        Log-weights of the posterior draws (weighted SMC particles, quadrature nodes);
        uniform when omitted.  Any additive constant is irrelevant.
    return_train_scores : bool
        Return the (G, n) log-scores.  With ``False`` only the p-values, test scores
        and ESS are kept and memory stays :math:`O(T(n+G))`.
    chunk_size : int, optional
        Grid columns per fused block (``"cpu"`` backend; ``"pallas"`` ignores it); default keeps a block near
        4M elements.
    backend : {"auto", "reference", "cpu", "pallas"}
        ``"auto"`` runs the path measured fastest for the device and size (today ``"cpu"``,
        the fused XLA path, on CPU and GPU alike: see :mod:`probinf.kernels._backend_table`);
        ``"reference"`` is the NumPy float64 oracle; ``"pallas"`` the GPU kernels.
    interpret : bool
        Run the ``"pallas"`` kernels in interpreter mode (CPU testing of the GPU path).

    Returns
    -------
    ConformalBayesScores
        ``pvalues`` (G,), ``log_score_test`` (G,), ``ess`` (G,), ``log_scores_train`` (G, n) or None.

    Raises
    ------
    ValueError
        On shape mismatches, NaN or +inf inputs, ``T = 0``, an all-zero weight column,
        or an unknown backend.
    probinf.kernels.BackendUnavailableError
        For ``backend="pallas"`` without a GPU visible to JAX and without ``interpret=True``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(size=500)                        # posterior draws of a mean
    >>> y = rng.normal(size=20); grid = np.linspace(-3, 3, 7)
    >>> logf = lambda v: -0.5 * (v[None, :] - theta[:, None]) ** 2 - 0.5 * np.log(2 * np.pi)
    >>> out = conformal_bayes_scores(logf(y), logf(grid))
    >>> out.pvalues.shape, bool(out.pvalues[3] > out.pvalues[0])
    ((7,), True)
    """
    if backend not in CONFORMAL_BAYES_BACKENDS:
        raise ValueError(f"backend must be one of {CONFORMAL_BAYES_BACKENDS}, got {backend!r}")
    lt, lg, lw0 = _validate(loglik_train, loglik_grid, log_weights)
    T, n = lt.shape
    G = lg.shape[1]
    if backend == "auto":
        backend = choose_backend("conformal_bayes", "gpu" if _has_gpu() else "cpu", T * n * G)
    if backend == "reference":
        return _reference(lt, lg, lw0, return_train_scores)
    if backend == "pallas":
        require_pallas_device(interpret, _has_gpu())
    if G == 0:
        empty = np.zeros((0,))
        return ConformalBayesScores(empty, empty, empty, np.zeros((0, n)) if return_train_scores else None)
    dtype = jnp.result_type(float)
    if backend == "pallas":
        p, lt_, ess, ltr = _pallas(
            jnp.asarray(lt, dtype), jnp.asarray(lg, dtype), jnp.asarray(lw0, dtype),
            return_train=bool(return_train_scores), interpret=bool(interpret),
        )
        return ConformalBayesScores(
            np.asarray(p), np.asarray(lt_), np.asarray(ess), None if ltr is None else np.asarray(ltr)
        )
    if chunk_size is None:
        chunk_size = default_chunk_size(T, n, G)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    p, lt_, ess, ltr = _fast(
        jnp.asarray(lt, dtype), jnp.asarray(lg, dtype), jnp.asarray(lw0, dtype),
        int(min(chunk_size, G)), bool(return_train_scores),
    )
    return ConformalBayesScores(
        np.asarray(p), np.asarray(lt_), np.asarray(ess), None if ltr is None else np.asarray(ltr)
    )
