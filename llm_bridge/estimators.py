r"""Estimators of the test-time-scaling literature: pass@k, coverage, verifier ceilings, budget curves.

- :func:`pass_at_k`: the unbiased estimator of Chen et al. (2021),
  :math:`1 - \binom{n-c}{k} / \binom{n}{k}`, computed as the stable product
  :math:`1 - \prod_{i=n-c+1}^{n} (1 - k/i)` (exactly 1 when ``n - c < k``); NumPy
  broadcasting over ``n``, ``c`` and ``k``.
- :func:`coverage_curve`: mean pass@k over problems for a range of ``k``
  (Large Language Monkeys' "coverage", Brown et al. 2024), with a bootstrap band.
- :func:`verifier_ceiling`: resampling with an imperfect verifier (Stroebl, Kapoor &
  Narayanan 2024): with per-sample correct probability ``p`` and false-positive
  probability ``q`` (wrong yet accepted), resampling up to ``K`` times returns a correct
  answer with probability :math:`\frac{p}{p+q}\,(1 - (1-p-q)^K)`, capped by
  :math:`p/(p+q)` however large ``K``.
- :func:`accuracy_vs_budget`: accuracy per (method, budget) with percentile bootstrap
  bands over problems, from a long table of per-problem outcomes;
  :func:`subsample_curve`: search-and-learn's way to get BoN/majority curves for every
  ``n <= N`` from one run of ``N`` samples (subsets of the samples, averaged).

References
----------
Chen et al. (2021), Evaluating Large Language Models Trained on Code, arXiv:2107.03374.
Brown et al. (2024), Large Language Monkeys, arXiv:2407.21787.
Stroebl, Kapoor & Narayanan (2024), Inference Scaling fLaws, arXiv:2411.17501.

Example
-------
>>> float(pass_at_k(10, 3, 1))
0.3
>>> pass_at_k([10, 10], [0, 10], 5).tolist()
[0.0, 1.0]
>>> round(verifier_ceiling(0.3, 0.1), 3)
0.75
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from llm_bridge.exceptions import LLMBridgeDeprecationWarning
from probinf.deprecation import renamed_argument

__all__ = ["pass_at_k", "coverage_curve", "verifier_ceiling", "accuracy_vs_budget", "subsample_curve", "bootstrap_mean",
           "renamed_level"]


def _as_int_array(x, name):
    a = np.asarray(x)
    whole_floats = np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(a == np.round(a))
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or whole_floats):
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype} ({np.ravel(a)[:3].tolist()})")
    return a.astype(np.int64)


def pass_at_k(n, c, k):
    r"""Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al. 2021, eq. 1).

    Parameters
    ----------
    n, c, k : int or array_like of int
        Samples, correct samples and the ``k`` of pass@k; broadcast together.
        Requires ``0 <= c <= n`` and ``1 <= k <= n``.

    Returns
    -------
    ndarray of float (0-d for scalar inputs)
        :math:`1 - \binom{n-c}{k}/\binom{n}{k}` in ``[0, 1]``.

    Raises
    ------
    ValueError
        ``c`` outside ``[0, n]`` or ``k`` outside ``[1, n]``.
    """
    n, c, k = (_as_int_array(v, name) for v, name in ((n, "n"), (c, "c"), (k, "k")))
    n, c, k = np.broadcast_arrays(n, c, k)
    if np.any(c < 0) or np.any(c > n):
        raise ValueError(f"c must satisfy 0 <= c <= n; got c={c[(c < 0) | (c > n)][:3].tolist()} for "
                         f"n={n[(c < 0) | (c > n)][:3].tolist()}")
    if np.any(k < 1) or np.any(k > n):
        raise ValueError(f"k must satisfy 1 <= k <= n; got k={k[(k < 1) | (k > n)][:3].tolist()} with "
                         f"n={n[(k < 1) | (k > n)][:3].tolist()}")
    out = np.empty(n.shape, float)
    flat_n, flat_c, flat_k, flat_o = n.ravel(), c.ravel(), k.ravel(), out.ravel()
    for j in range(flat_n.size):
        nn, cc, kk = int(flat_n[j]), int(flat_c[j]), int(flat_k[j])
        if nn - cc < kk:
            flat_o[j] = 1.0
        else:
            i = np.arange(nn - cc + 1, nn + 1, dtype=float)
            # log-space product: stable for n in the thousands
            flat_o[j] = 0.0 - np.expm1(np.sum(np.log1p(-kk / i)))  # 0.0 - x: no negative zero
    return out.reshape(n.shape) if out.ndim else out[()]


def renamed_level(level, confidence_level, default: float = 0.95):
    """``confidence_level``, or its former name ``level`` (deprecated for one release: it warns)."""
    return renamed_argument(level, confidence_level, old="level", new="confidence_level", default=default,
                            category=LLMBridgeDeprecationWarning, stacklevel=4)


def bootstrap_mean(values, *, num_resamples: int = 1000, confidence_level: float = 0.95, seed: int = 0, level=None):
    """Mean of ``values`` (axis 0 = problems) and a percentile bootstrap interval over problems.

    The interval is at ``confidence_level``; ``level`` is its former name (deprecated; it warns).
    """
    level = renamed_level(level, confidence_level)
    v = np.asarray(values, float)
    if v.ndim == 0 or v.shape[0] == 0:
        raise ValueError("values must hold at least one problem")
    if not (0 < level < 1):
        raise ValueError(f"confidence_level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.shape[0], size=(num_resamples, v.shape[0]))
    boots = v[idx].mean(axis=1)
    a = (1 - level) / 2
    return v.mean(axis=0), np.quantile(boots, a, axis=0), np.quantile(boots, 1 - a, axis=0)


def coverage_curve(n, c, ks: Sequence[int], *, num_resamples: int = 1000, confidence_level: float = 0.95,
                   seed: int = 0, level=None) -> pd.DataFrame:
    """Coverage (mean pass@k over problems) for each ``k`` in ``ks``, with a bootstrap band over problems.

    The band is at ``confidence_level`` (``level``: its former name, deprecated; it warns).

    ``n`` and ``c`` are per-problem arrays (or ``n`` a scalar shared by all).
    Returns a DataFrame with columns ``k, coverage, lower, upper``.
    """
    c = np.atleast_1d(c)
    n = np.broadcast_to(np.asarray(n), c.shape)
    if isinstance(ks, (str, bytes)) or np.ndim(ks) != 1 or len(ks) == 0:
        raise ValueError(f"ks must be a non-empty sequence of ints (the k of pass@k), got {ks!r}")
    k_arr = np.asarray(ks)
    per = np.stack([pass_at_k(n, c, k) for k in k_arr], axis=1)  # (problems, ks)
    mean, lo, hi = bootstrap_mean(per, num_resamples=num_resamples, confidence_level=renamed_level(
        level, confidence_level), seed=seed)
    return pd.DataFrame({"k": k_arr, "coverage": mean, "lower": lo, "upper": hi})


def verifier_ceiling(p, q, k=None):
    r"""Accuracy of resampling until the verifier accepts, at most ``k`` tries (``None``: unlimited).

    :math:`\frac{p}{p+q}(1 - (1-p-q)^k)`; with ``k=None`` the ceiling :math:`p/(p+q)`.
    ``p``: probability a sample is correct (and accepted); ``q``: probability a sample
    is wrong but accepted (false positive).  Broadcasts over arrays.
    """
    p, q = np.asarray(p, float), np.asarray(q, float)
    if np.any((p < 0) | (p > 1) | np.isnan(p)) or np.any((q < 0) | (q > 1) | np.isnan(q)) or np.any(p + q > 1 + 1e-12):
        raise ValueError(f"p and q must be probabilities with p + q <= 1; got p={p}, q={q}")
    if np.any(p + q == 0):
        raise ValueError("p + q must be > 0 (otherwise the verifier never accepts)")
    ceil = p / (p + q)
    if k is None:
        return ceil if ceil.ndim else float(ceil)
    k = np.asarray(k)
    if np.any(k < 1):
        raise ValueError(f"k must be >= 1, got {k}")
    out = ceil * (1 - (1 - p - q) ** k)
    return out if np.ndim(out) else float(out)


def accuracy_vs_budget(df: pd.DataFrame, *, value: str = "correct", by: Sequence[str] = ("method", "budget"),
                       problem: str = "problem", num_resamples: int = 1000, confidence_level: float = 0.95,
                       seed: int = 0, level=None) -> pd.DataFrame:
    """Accuracy per group with a percentile bootstrap band over problems.

    The band is at ``confidence_level`` (``level``: its former name, deprecated; it warns).

    ``df`` is long: one row per (problem, method, budget[, repeat]) with a numeric
    ``value`` column (0/1 correctness or an expected accuracy).  Repeats of a problem
    are averaged first, so the bootstrap resamples problems.  Returns columns
    ``*by, accuracy, lower, upper, problems``.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame (one row per problem, method, budget), got {type(df).__name__}")
    missing = [c for c in (*by, value, problem) if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}; it has {list(df.columns)}")
    confidence_level = renamed_level(level, confidence_level)
    rows = []
    per = df.groupby([*by, problem], sort=True)[value].mean().reset_index()
    for key, g in per.groupby(list(by), sort=True):
        m, lo, hi = bootstrap_mean(g[value].to_numpy(float), num_resamples=num_resamples,
                                   confidence_level=confidence_level, seed=seed)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key, strict=True)), "accuracy": float(m), "lower": float(lo), "upper": float(hi),
                     "problems": len(g)})
    return pd.DataFrame(rows)


def subsample_curve(samples: Sequence, budgets: Sequence[int], rule: Callable[[Sequence], float], *,
                    num_subsets: int = 16, seed: int = 0) -> dict[int, float]:
    """Expected score of ``rule`` on random size-``b`` subsets of one problem's ``samples``.

    ``rule(subset) -> score`` (e.g. 1.0 if the majority answer is correct).  For
    ``b == len(samples)`` the full set is used once.  This is how search-and-learn
    turns one run at ``N`` samples into BoN / majority curves for every ``b <= N``.
    """
    samples = list(samples)
    if isinstance(budgets, (str, bytes)) or not len(budgets):
        raise ValueError(f"budgets must be a non-empty sequence of ints, got {budgets!r}")
    if not callable(rule):
        raise TypeError(f"rule must be a callable subset -> score, got {type(rule).__name__}")
    rng = np.random.default_rng(seed)
    out = {}
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= len(samples):
            raise ValueError(f"budgets must lie in [1, {len(samples)}], got {b}")
        if b == len(samples):
            out[b] = float(rule(samples))
            continue
        out[b] = float(np.mean([rule([samples[i] for i in rng.choice(len(samples), b, replace=False)])
                                for _ in range(num_subsets)]))
    return out
