r"""The two provable release mechanisms for the cell histogram, and the product-limit post-processing.

Both mechanisms release the ``L = 2K + 1`` cell counts of :mod:`privacy.survival.data`
(one record lies in exactly one cell) under pure :math:`\varepsilon`-DP; everything that
follows (clipping, at-risk sums, product-limit, intervals, plots) reads only the noisy
release, so by post-processing the whole fitted object is :math:`\varepsilon`-DP.

``histogram``
    Laplace noise of scale :math:`\Delta/\varepsilon` on every cell, :math:`\Delta = 1`
    (add-remove) or 2 (replace-one). The cells are disjoint, so no budget split is
    needed (parallel composition): the whole :math:`\varepsilon` goes to every cell.
``tree``
    The binary (hierarchical) mechanism: noisy counts of every dyadic block of cells
    (a complete binary tree over the cells padded to a power of two, Dwork et al. 2010;
    Chan, Shi & Song 2011). A record touches one node per level, so the L1 sensitivity
    is :math:`h` (the number of levels) under add-remove, and each node gets Laplace
    noise of scale :math:`h/\varepsilon` (equivalently :math:`\varepsilon/h` per
    level, sequential composition over levels); under replace-one the root's change cancels
    and :math:`\Delta = 2(h - 1)`. The leaves are then estimated by
    ordinary least squares, which is the consistent, minimum-variance estimate of Hay
    et al. (2010): any prefix or suffix sum uses :math:`O(\log L)` nodes.

Post-processing (:func:`product_limit`): deaths :math:`\hat d_b = \max(\tilde d_b, 0)`; the
number at risk :math:`\tilde n_b` is the suffix sum of the *unclipped* noisy cells from
:math:`d_b` on (unbiased; few cells and little noise in the tail); under replace-one the
size :math:`N` is public, so :math:`N` minus the prefix sum is a second independent
unbiased estimate and the two are combined by inverse variance. Then
:math:`\hat n_b = \max(\tilde n_b + \tfrac12 \tilde w_b, \hat d_b)` (actuarial; without the
:math:`\tfrac12 \tilde w_b` for ``convention="product-limit"``), hazard :math:`\hat h_b = \hat d_b/\hat n_b`
(0 if :math:`\hat n_b = 0`) and :math:`\hat S(t_b) = \prod_{j \le b}(1 - \hat h_j)`, which is
non-increasing and in :math:`[0, 1]` for any noise.

References
----------
Dwork, Naor, Pitassi & Rothblum (2010), Differential privacy under continual observation, STOC,
doi:10.1145/1806689.1806787. Chan, Shi & Song (2011), Private and continual release of statistics,
ACM TISSEC, doi:10.1145/2043621.2043626. Hay, Rastogi, Miklau & Suciu (2010), Boosting the accuracy of
differentially private histograms through consistency, PVLDB, doi:10.14778/1920841.1920970.
Gondara & Wang (2020), Differentially private survival function estimation, MLHC, PMLR 126.
"""

from __future__ import annotations

import functools

import numpy as np

from privacy._numbers import real_number

__all__ = [
    "ADJACENCIES",
    "CONVENTIONS",
    "cell_sensitivity",
    "tree_matrix",
    "tree_levels",
    "tree_sensitivity",
    "release_histogram",
    "release_tree",
    "product_limit",
]

ADJACENCIES = ("add-remove", "replace-one")
CONVENTIONS = ("actuarial", "product-limit")


def cell_sensitivity(adjacency: str) -> float:
    """L1 sensitivity of the cell histogram: 1 (add-remove) or 2 (replace-one)."""
    if adjacency not in ADJACENCIES:
        raise ValueError(f"adjacency must be one of {ADJACENCIES}, got {adjacency!r}")
    return 1.0 if adjacency == "add-remove" else 2.0


def tree_levels(n_cells: int) -> int:
    """Number of levels of the complete binary tree over ``n_cells`` leaves (padded to a power of 2)."""
    return int(np.ceil(np.log2(max(n_cells, 1)))) + 1


@functools.lru_cache(maxsize=32)
def tree_matrix(n_cells: int) -> np.ndarray:
    """0/1 matrix ``A`` (nodes x cells): node ``j`` sums the cells of its dyadic block.

    The tree is complete over ``2**(levels-1)`` leaves; padding leaves are known zeros
    (public), so their columns are dropped.
    """
    levels = tree_levels(n_cells)
    width = 2 ** (levels - 1)
    rows = []
    for lev in range(levels):
        block = 2**lev
        for start in range(0, width, block):
            row = np.zeros(width)
            row[start : start + block] = 1.0
            if row[:n_cells].any():
                rows.append(row[:n_cells])
    a = np.array(rows)
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=32)
def _tree_pinv(n_cells: int) -> np.ndarray:
    a = tree_matrix(n_cells)
    p = np.linalg.solve(a.T @ a, a.T)  # OLS: (A'A)^{-1} A'
    p.setflags(write=False)
    return p


def tree_sensitivity(n_cells: int, adjacency: str) -> float:
    """L1 sensitivity of the tree's node vector.

    Add-remove: one leaf changes by 1, so one node per level: ``h``. Replace-one: one leaf
    loses 1 and another gains 1; the two paths share at least the root, where the changes
    cancel, so at most ``2 (h - 1)`` (attained by leaves in different halves).
    """
    h = tree_levels(n_cells)
    if cell_sensitivity(adjacency) == 1.0:
        return float(h)
    return float(2 * max(h - 1, 1))


def _check_epsilon(epsilon) -> float:
    eps = real_number(epsilon, "epsilon")
    if np.isnan(eps) or eps <= 0:
        raise ValueError(f"epsilon must be > 0 (np.inf for no noise), got {epsilon!r}")
    return eps


def release_histogram(cells, epsilon, adjacency, rng, size=()):
    """Noisy cells ``cells + Laplace(Delta/epsilon)``, shape ``size + (L,)`` (float)."""
    eps = _check_epsilon(epsilon)
    cells = np.asarray(cells, dtype=float)
    shape = tuple(np.atleast_1d(size)) if size != () else ()
    if np.isinf(eps):
        return np.broadcast_to(cells, shape + cells.shape).copy()
    scale = cell_sensitivity(adjacency) / eps
    return cells + rng.laplace(0.0, scale, size=shape + cells.shape)


def release_tree(cells, epsilon, adjacency, rng, size=()):
    """Tree mechanism: noisy node counts, then OLS leaf estimates, shape ``size + (L,)``.

    Returns ``(leaves, nodes)``; ``nodes`` is the raw release (shape ``size + (M,)``).
    """
    eps = _check_epsilon(epsilon)
    cells = np.asarray(cells, dtype=float)
    n_cells = cells.shape[-1]
    exact = cells @ tree_matrix(n_cells).T
    shape = tuple(np.atleast_1d(size)) if size != () else ()
    if np.isinf(eps):
        nodes = np.broadcast_to(exact, shape + exact.shape).copy()
    else:
        scale = tree_sensitivity(n_cells, adjacency) / eps
        nodes = exact + rng.laplace(0.0, scale, size=shape + exact.shape)
    leaves = nodes @ _tree_pinv(n_cells).T
    return leaves, nodes


def product_limit(noisy_cells, *, n_public=None, convention="actuarial"):
    """Post-process noisy cells into ``(S, at_risk, deaths)``, each of shape ``(..., K)``.

    Parameters
    ----------
    noisy_cells : array, shape (..., 2K+1)
        Released cells in the order ``(w_1, d_1, ..., w_K, d_K, r)``.
    n_public : float, optional
        Public number of records (replace-one adjacency); combined with the suffix sums.
    convention : {"actuarial", "product-limit"}
        ``"product-limit"``: censorings of bin ``b`` leave the risk set before its deaths
        (exactly Kaplan-Meier when the grid holds the event times). ``"actuarial"``: half of
        them are still at risk (the life-table rule; much smaller binning bias on a coarse grid:
        RMSE 0.0009 instead of 0.005 on lung with 30-day bins, no noise).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    x = np.asarray(noisy_cells, dtype=float)
    k = (x.shape[-1] - 1) // 2
    d_idx = 2 * np.arange(k) + 1
    suffix = np.cumsum(x[..., ::-1], axis=-1)[..., ::-1]  # suffix[j] = sum_{i >= j} x_i
    n_tilde = suffix[..., d_idx]
    if n_public is not None:
        prefix = float(n_public) - (suffix[..., 0:1] - suffix[..., d_idx])  # N - sum_{i < d_b} x_i
        m_suf = x.shape[-1] - d_idx  # cells in the suffix (noise variance is proportional)
        m_pre = d_idx
        w_suf = m_pre / (m_pre + m_suf)  # inverse-variance weight of the suffix estimate
        n_tilde = w_suf * n_tilde + (1.0 - w_suf) * prefix
    if convention == "actuarial":
        n_tilde = n_tilde + 0.5 * x[..., d_idx - 1]  # half of the bin's censorings still at risk
    deaths = np.maximum(x[..., d_idx], 0.0)
    at_risk = np.maximum(n_tilde, deaths)
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(at_risk > 0, deaths / np.where(at_risk > 0, at_risk, 1.0), 0.0)
    hazard = np.clip(hazard, 0.0, 1.0)
    surv = np.cumprod(1.0 - hazard, axis=-1)
    return surv, at_risk, deaths
