r"""NumPy (host) twins of the weight, reweighting and resampling blocks, for small populations.

At a few hundred particles a compiled JAX call costs more to dispatch (tens of microseconds on
XLA CPU, plus a device-to-host copy) than the arithmetic it runs.  Algorithms whose particles
live on the host anyway -- the LLM filters of ``llm_bridge``, whose particles are Python
strings -- use these twins instead:

- :func:`host_ess` is :func:`probinf.weights.ess`;
- :func:`host_reweight` is :func:`probinf.population.reweight` on the weights alone
  (normalized log-weights, log-evidence increment :math:`\log\sum_i W_i G_i`, ESS, validity);
- :data:`HOST_RESAMPLING_FROM_UNIFORMS` are the schemes of
  :data:`probinf.resampling.RESAMPLING_FROM_UNIFORMS` driven by the same uniforms: slot ``k``
  takes the first particle whose scaled cumulative weight exceeds its target, clipped to the last
  particle of positive weight;
- :func:`host_resample` draws those uniforms from a ``numpy.random.Generator``
  (:func:`host_uniforms`) and resamples.

Equality with the JAX blocks (same uniforms, same ancestors) is tested on every cell of the
uniforms at tiny ``N`` (``tests/probinf/test_host.py``), so the host path has the JAX path's exact
resampling law.  Arithmetic is float64, so the cumulative weights are exact to far below one
offspring for ``N`` up to ~1e7; past a few thousand particles use the JAX blocks.

Calling convention: NumPy in, NumPy out; nothing is traced.  ``random_state`` (``None``, an ``int``
or a ``Generator``) follows the estimators' convention, a ``Generator`` being passed down unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from probinf._checks import check_positive_int
from probinf.weights import check_log_weights

__all__ = [
    "HostReweight",
    "HOST_RESAMPLING_FROM_UNIFORMS",
    "host_ess",
    "host_reweight",
    "host_uniforms",
    "host_resample",
    "as_generator",
]

_F64 = NDArray[np.float64]
_I64 = NDArray[np.int64]


class HostReweight(NamedTuple):
    """What :func:`host_reweight` returns (the fields of ``Population`` and ``ReweightInfo`` that are weights)."""

    log_weights: _F64  # (N,) normalized
    log_evidence_increment: float  # log sum_i W_i G_i
    ess: float  # after reweighting
    valid: bool  # finite increment, no NaN / +inf incremental weight


def host_ess(log_weights: ArrayLike) -> float:
    r"""Effective sample size :math:`(\sum_i w_i)^2 / \sum_i w_i^2` of 1-D log-weights, as :func:`probinf.ess`.

    Shifted by the maximum first, so huge log-weights neither overflow nor cancel.
    """
    lw = np.asarray(log_weights, np.float64)
    mx = lw.max()
    e = np.exp(lw - mx) if np.isfinite(mx) else np.exp(lw)
    s1 = e.sum()
    return float(s1 * s1 / np.dot(e, e))


def host_reweight(log_weights: ArrayLike, log_increment: ArrayLike) -> HostReweight:
    r"""Multiply normalized weights by ``exp(log_increment)`` and renormalize, as :func:`probinf.reweight`.

    Returns the normalized log-weights, the log-evidence increment :math:`\log\sum_i W_i G_i`, the ESS
    after reweighting and ``valid`` (False when the increment is not finite or an incremental
    log-weight is NaN or ``+inf``: the caller raises).
    """
    lw = np.asarray(log_weights, np.float64) + np.asarray(log_increment, np.float64)
    mx = lw.max()
    if not np.isfinite(mx):  # NaN, +inf, or every weight zero
        return HostReweight(lw, float(mx) if not np.isnan(mx) else float("nan"), float("nan"), False)
    e = np.exp(lw - mx)
    s1 = e.sum()
    lse = float(mx + np.log(s1))
    return HostReweight(lw - lse, lse, float(s1 * s1 / np.dot(e, e)), True)


def _cumulative(log_weights: _F64, num_samples: int) -> tuple[_F64, int]:
    """Cumulative weights scaled to end at ``num_samples`` (exactly), and the last particle of positive weight."""
    e = np.exp(log_weights - log_weights.max())
    c = np.cumsum(e)
    c *= num_samples / c[-1]
    c[-1] = num_samples
    return c, int(np.flatnonzero(e)[-1])


def _first_above(c: _F64, targets: NDArray[Any], last_valid: int) -> _I64:
    """First index ``i`` with ``c_i > t`` for each target (``c`` non-decreasing), clipped to ``last_valid``."""
    idx = np.searchsorted(c, targets, side="right")
    return np.minimum(idx, last_valid).astype(np.int64)


def _systematic_u(log_weights: _F64, num_samples: int, u: Any) -> _I64:
    c, last = _cumulative(log_weights, num_samples)
    return _first_above(c, float(u) + np.arange(num_samples, dtype=np.float64), last)


def _stratified_u(log_weights: _F64, num_samples: int, u: Any) -> _I64:
    c, last = _cumulative(log_weights, num_samples)
    return _first_above(c, np.arange(num_samples, dtype=np.float64) + np.asarray(u, np.float64), last)


def _multinomial_u(log_weights: _F64, num_samples: int, u: Any) -> _I64:
    c, last = _cumulative(log_weights, num_samples)
    return _first_above(c, np.asarray(u, np.float64) * num_samples, last)


def _residual_u(log_weights: _F64, num_samples: int, u: Any) -> _I64:
    """Residual: ``floor(M w_i)`` copies of each particle first, then slot ``k`` of the rest uses ``u_k``."""
    e = np.exp(log_weights - log_weights.max())
    v = e * (num_samples / e.sum())
    floors = np.floor(v)
    det = np.repeat(np.arange(v.shape[0]), floors.astype(np.int64))[:num_samples]
    resid = v - floors
    n_res = max(num_samples - det.shape[0], 1)
    positive = np.flatnonzero(resid > 0)
    if positive.size == 0:  # the floors fill every slot
        return np.concatenate([det, np.full(num_samples - det.shape[0], int(np.flatnonzero(e)[-1]))])
    rc = np.cumsum(resid)
    targets = np.asarray(u, np.float64)[: num_samples - det.shape[0]] * n_res
    return np.concatenate([det, _first_above(rc, targets, int(positive[-1]))]).astype(np.int64)


#: ``f(log_weights, num_samples, u) -> ancestors`` with ``u`` a scalar for systematic and an
#: ``(M,)`` vector otherwise, as :data:`probinf.resampling.RESAMPLING_FROM_UNIFORMS`.
HOST_RESAMPLING_FROM_UNIFORMS: dict[str, Callable[[_F64, int, Any], _I64]] = {
    "multinomial": _multinomial_u,
    "stratified": _stratified_u,
    "systematic": _systematic_u,
    "residual": _residual_u,
}


def as_generator(random_state: Any) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``None`` (fresh entropy), an ``int`` or a ``Generator`` (returned as is)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)):
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be None, an int or a numpy.random.Generator, got "
                    f"{type(random_state).__name__}; pass e.g. random_state=0")


def host_uniforms(rng: np.random.Generator, num_samples: int, method: str) -> Any:
    """The uniforms a scheme consumes: one float for systematic, ``num_samples`` otherwise."""
    return rng.random() if method == "systematic" else rng.random(num_samples)


def host_resample(random_state: Any, log_weights: ArrayLike, num_samples: int | None = None,
                  method: str = "systematic") -> _I64:
    r"""Draw ancestor indices on the host, as :func:`probinf.resample` (unbiased: ``E[count_i] = M w_i``).

    Parameters
    ----------
    random_state : None, int or numpy.random.Generator
        Same ``int`` (or generator state), same indices.
    log_weights : array of shape (N,)
        Unnormalized log-weights (``-inf`` allowed: such particles are never drawn).
    num_samples : int, optional
        Number ``M`` of indices (default ``N``).
    method : {"systematic", "stratified", "multinomial", "residual"}

    Returns
    -------
    ancestors : int64 ndarray of shape (M,)

    Raises
    ------
    InvalidWeightsError, DegenerateWeightsError
        As :func:`probinf.resample`.

    Examples
    --------
    >>> import numpy as np
    >>> bool(host_resample(0, np.array([-np.inf, 0.0, 0.0])).min() > 0)
    True
    """
    if not isinstance(method, str) or method not in HOST_RESAMPLING_FROM_UNIFORMS:
        raise ValueError(f"method must be one of {sorted(HOST_RESAMPLING_FROM_UNIFORMS)}, got {method!r}")
    lw = np.asarray(check_log_weights(np.asarray(log_weights)), np.float64)
    if lw.ndim != 1:
        raise ValueError(f"log_weights must be 1-D (N,), got shape {lw.shape}")
    m = lw.shape[0] if num_samples is None else check_positive_int(num_samples, "num_samples")
    rng = as_generator(random_state)
    return HOST_RESAMPLING_FROM_UNIFORMS[method](lw, m, host_uniforms(rng, m, method))
