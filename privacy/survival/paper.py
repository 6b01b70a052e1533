r"""The Veeraragavan et al. (2024) "DP" Kaplan-Meier mechanism, reconstructed (NO formal DP guarantee).

Only the abstract of the paper could be checked; the steps below follow it literally and
fill the gaps with the simplest reading (marked *assumed*):

1. Compute the exact Kaplan-Meier curve :math:`S(u_j)` at the **observed event times**
   :math:`u_1 < \dots < u_T` (the release is indexed by them).
2. *Time-indexed Laplace noise*: "by scaling noise over time, the algorithm accounts for
   decreasing sensitivity as fewer individuals remain at risk" -> noise scale
   :math:`b_j = \Delta_j/\varepsilon` with :math:`\Delta_j = n_j/N` (*assumed*: the at-risk
   fraction, decreasing in time), each point receiving the full :math:`\varepsilon`.
3. *Dynamic clipping* (*assumed*): each noisy value is clipped to :math:`[0, 1]`.
4. *Smoothing* (*assumed*): a centred moving average over ``window`` points, then the running
   minimum so the curve is non-increasing ("keeps the cumulative structure").

Why it is not differentially private:

* **Local, not global, sensitivity.** :math:`n_j` is the *true* at-risk count. One record moves the
  step factor :math:`1 - d_j/n_j` by about :math:`1/n_j`, so the global sensitivity of
  :math:`S(u_j)` *grows* as the risk set shrinks (to about 1 at :math:`n_j = 1`), while the noise
  shrinks; and the noise scale itself is a function of the data.
* **Composition.** Independent noise at :math:`T` points composes: even with a correct
  per-point sensitivity the curve would be :math:`T\varepsilon`-DP (139 event times on lung).
* **Released event times.** The index of the release is the set of observed event times, so
  whether a record with a unique event time is present is visible without any noise.

Clipping, smoothing and monotone projection of *noisy* values are post-processing and cost nothing,
but they cannot repair the three points above. :mod:`privacy.km_audit` measures the leak.

Reference: Veeraragavan, Karimireddy & Nygard (2024), A differentially private Kaplan-Meier
estimator for privacy-preserving survival analysis, arXiv:2412.05164.
"""

from __future__ import annotations

import numpy as np

__all__ = ["km_event_times", "release_paper", "PAPER_WARNING"]

PAPER_WARNING = (
    "mechanism='paper' reproduces Veeraragavan et al. (2024) and carries NO formal differential-privacy "
    "guarantee: its noise follows the true at-risk set (local sensitivity, while the global sensitivity of "
    "S(t) grows in the tail), independent noise at every event time composes, and the release is indexed "
    "by the observed event times, which it reveals exactly. Use mechanism='histogram' or 'tree' for an "
    "epsilon-DP release."
)


def km_event_times(durations, events):
    """Exact Kaplan-Meier at the unique event times: ``(u, S, at_risk, deaths)`` (lifelines conventions)."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events).astype(bool)
    u = np.unique(t[e])
    d = np.searchsorted(np.sort(t[e]), u, side="right") - np.searchsorted(np.sort(t[e]), u, side="left")
    n = t.size - np.searchsorted(np.sort(t), u, side="left")  # #{T >= u}
    s = np.cumprod(1.0 - d / n)
    return u, s, n.astype(float), d.astype(float)


def _moving_average(x, window):
    if window <= 1:
        return x
    half = window // 2
    pad = np.concatenate([np.repeat(x[..., :1], half, axis=-1), x, np.repeat(x[..., -1:], half, axis=-1)], axis=-1)
    c = np.cumsum(np.concatenate([np.zeros(x.shape[:-1] + (1,)), pad], axis=-1), axis=-1)
    return (c[..., window:] - c[..., :-window])[..., : x.shape[-1]] / window


def release_paper(durations, events, epsilon, rng, size=(), *, window=5, standard_noise=None):
    """One (or ``size`` many) releases of the reconstructed paper mechanism.

    Returns ``(u, curves, scale)``: event times (the release index, shape (T,)), curves of
    shape ``size + (T,)`` and the per-point Laplace scale (T,). ``standard_noise`` (shape
    ``size + (T,)``, standard Laplace) replaces the random draw (common random numbers).
    """
    eps = float(epsilon)
    u, s, n, _ = km_event_times(durations, events)
    if u.size == 0:
        return u, np.zeros(tuple(np.atleast_1d(size)) + (0,)) if size != () else np.zeros(0), np.zeros(0)
    scale = (n / np.asarray(durations).size) / eps if np.isfinite(eps) else np.zeros_like(n)
    shape = tuple(np.atleast_1d(size)) if size != () else ()
    z = rng.laplace(0.0, 1.0, size=shape + s.shape) if standard_noise is None else np.asarray(standard_noise)
    raw = np.clip(s + z * scale, 0.0, 1.0)
    smooth = _moving_average(raw, window) if np.isfinite(eps) else raw
    curve = np.minimum.accumulate(np.clip(smooth, 0.0, 1.0), axis=-1)
    return u, curve, scale
