r"""Kalman filter and Rauch-Tung-Striebel smoother for linear-Gaussian state-space models.

.. math::

    X_0 \sim N(m_0, P_0), \quad X_t = F X_{t-1} + U_t,\ U_t \sim N(0, Q), \quad
    Y_t = H X_t + V_t,\ V_t \sim N(0, R), \qquad t = 0, \dots, T-1.

The filter returns the exact log-likelihood :math:`\log p(y_{0:T-1})` and the
filtering moments; the smoother the moments of :math:`X_t \mid y_{0:T-1}`.
Both are pure JAX (``lax.scan``), jit/vmap/grad-able, so they serve as exact
references in tests and as exact likelihoods (e.g. exact-likelihood MH).
Covariance updates use the Joseph form and Cholesky solves for stability.

:class:`LinearGaussian` bundles the parameters and converts to a
:class:`probinf.StateSpaceModel` (with the locally optimal guided proposal
:math:`q_t(x_t|x_{t-1}, y_t) = p(x_t | x_{t-1}, y_t)`) for particle filters.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_factor, cho_solve
from jax.scipy.stats import multivariate_normal, norm
from jax.typing import ArrayLike

from probinf._checks import as_key, check_positive_int
from probinf.ssm import Proposal, StateSpaceModel, TimeIndex, as_observations

__all__ = ["KalmanResult", "SmootherResult", "LinearGaussian", "kalman_filter", "kalman_smoother"]


class KalmanResult(NamedTuple):
    """Kalman filter output: ``log_likelihood`` (), ``log_likelihood_increments`` (T,),
    ``filtered_means`` (T, d), ``filtered_covs`` (T, d, d), ``predicted_means`` (T, d),
    ``predicted_covs`` (T, d, d) (``predicted_*[0]`` are ``m_0, P_0``)."""

    log_likelihood: jax.Array
    log_likelihood_increments: jax.Array
    filtered_means: jax.Array
    filtered_covs: jax.Array
    predicted_means: jax.Array
    predicted_covs: jax.Array


class SmootherResult(NamedTuple):
    """RTS smoother output: ``smoothed_means`` (T, d), ``smoothed_covs`` (T, d, d), and the filter result."""

    smoothed_means: jax.Array
    smoothed_covs: jax.Array
    filter: KalmanResult


def _as_2d_obs(observations: ArrayLike) -> jax.Array:
    if not isinstance(observations, jax.core.Tracer):
        arr = np.asarray(as_observations(observations))
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise TypeError(f"observations must be real numbers, got dtype {arr.dtype}")
        if arr.ndim in (1, 2) and arr.shape[0] == 0:
            raise ValueError("observations must contain at least one time step, got T = 0")
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValueError("observations contain NaN or +-inf; the Kalman filter needs finite observations "
                             "(drop missing time steps or model them explicitly)")
    y = jnp.asarray(observations)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"observations must have shape (T,) or (T, p), got {y.shape}")
    return y


def _check_params(F: ArrayLike, Q: ArrayLike, H: ArrayLike, R: ArrayLike, m0: ArrayLike, P0: ArrayLike) -> None:
    """Concrete checks of the model matrices: finite, and shapes consistent with m0's dimension d."""
    names = ("transition_matrix", "transition_cov", "observation_matrix", "observation_cov", "initial_mean",
             "initial_cov")
    arrs = []
    for name, a in zip(names, (F, Q, H, R, m0, P0), strict=True):
        if isinstance(a, jax.core.Tracer):
            return
        try:
            arr = np.atleast_1d(np.asarray(a, dtype=float))
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real array, got {type(a).__name__} {a!r:.60}") from None
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite, got {arr.tolist()}")
        arrs.append(arr)
    d = arrs[4].shape[0]
    for name, arr, size in ((names[0], arrs[0], d * d), (names[1], arrs[1], d * d), (names[5], arrs[5], d * d)):
        if arr.size != size:
            raise ValueError(f"{name} must have shape ({d}, {d}) for a state of dimension d = {d} "
                             f"(initial_mean has {d} entries), got shape {arr.shape}")
    if arrs[2].size % d:
        raise ValueError(f"observation_matrix must have shape (p, {d}), got shape {arrs[2].shape}")
    p = arrs[2].size // d
    if arrs[3].size != p * p:
        raise ValueError(f"observation_cov must have shape ({p}, {p}), got shape {arrs[3].shape}")
    for name, arr, k in ((names[1], arrs[1], d), (names[3], arrs[3], p), (names[5], arrs[5], d)):
        m = arr.reshape(k, k)
        if not np.allclose(m, m.T) or np.linalg.eigvalsh(0.5 * (m + m.T)).min() < 0:
            raise ValueError(f"{name} must be a symmetric positive semi-definite covariance, got {m.tolist()}")


_Params = tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]


def _params(F: ArrayLike, Q: ArrayLike, H: ArrayLike, R: ArrayLike, m0: ArrayLike, P0: ArrayLike) -> _Params:
    _check_params(F, Q, H, R, m0, P0)
    F, Q, H, R, m0, P0 = (jnp.atleast_1d(jnp.asarray(a)) for a in (F, Q, H, R, m0, P0))
    d = m0.shape[0]
    F = F.reshape(d, d)
    Q = Q.reshape(d, d)
    P0 = P0.reshape(d, d)
    H = H.reshape(-1, d)
    p = H.shape[0]
    R = R.reshape(p, p)
    return F, Q, H, R, m0, P0


def _mvn_logpdf(x: ArrayLike, mean: ArrayLike, cov: ArrayLike) -> jax.Array:
    """``multivariate_normal.logpdf`` as an array (jax annotates its array result as ``ArrayLike``)."""
    return cast(jax.Array, multivariate_normal.logpdf(x, mean, cov))


def _update(m: jax.Array, P: jax.Array, y: jax.Array, H: jax.Array,
            R: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    S = H @ P @ H.T + R
    c = cho_factor(S, lower=True)
    resid = y - H @ m
    K = cho_solve(c, H @ P).T  # P H^T S^{-1}
    m_f = m + K @ resid
    I_KH = jnp.eye(m.shape[0], dtype=P.dtype) - K @ H
    P_f = I_KH @ P @ I_KH.T + K @ R @ K.T  # Joseph form
    ll = _mvn_logpdf(y, H @ m, S)
    return m_f, 0.5 * (P_f + P_f.T), ll


def kalman_filter(observations: ArrayLike, transition_matrix: ArrayLike, transition_cov: ArrayLike,
                  observation_matrix: ArrayLike, observation_cov: ArrayLike, initial_mean: ArrayLike,
                  initial_cov: ArrayLike) -> KalmanResult:
    r"""Exact filtering for a linear-Gaussian model (see the module docstring for the model).

    Parameters
    ----------
    observations : (T,) or (T, p) array
    transition_matrix, transition_cov : (d, d) arrays ``F``, ``Q`` (scalars allowed for d = 1)
    observation_matrix, observation_cov : (p, d) and (p, p) arrays ``H``, ``R``
    initial_mean, initial_cov : (d,) and (d, d) arrays ``m_0``, ``P_0``

    Returns
    -------
    KalmanResult

    References
    ----------
    Kalman (1960), doi:10.1115/1.3662552; Chopin & Papaspiliopoulos (2020), ch. 7.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> r = kalman_filter(jnp.zeros(3), 0.9, 1.0, 1.0, 0.04, 0.0, 1.0)
    >>> r.filtered_means.shape, r.log_likelihood.shape
    ((3, 1), ())
    """
    F, Q, H, R, m0, P0 = _params(transition_matrix, transition_cov, observation_matrix,
                                 observation_cov, initial_mean, initial_cov)
    y = _as_2d_obs(observations).astype(m0.dtype if jnp.issubdtype(m0.dtype, jnp.floating) else float)
    m0 = m0.astype(y.dtype)
    P0 = P0.astype(y.dtype)

    def step(carry: tuple[jax.Array, jax.Array],
             yt: jax.Array) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, ...]]:
        m_pred, P_pred = carry
        m_f, P_f, ll = _update(m_pred, P_pred, yt, H, R)
        m_next = F @ m_f
        P_next = F @ P_f @ F.T + Q
        return (m_next, 0.5 * (P_next + P_next.T)), (m_f, P_f, ll, m_pred, P_pred)

    _, (mf, Pf, lls, mp, Pp) = jax.lax.scan(step, (m0, P0), y)
    return KalmanResult(jnp.sum(lls), lls, mf, Pf, mp, Pp)


def kalman_smoother(observations: ArrayLike, transition_matrix: ArrayLike, transition_cov: ArrayLike,
                    observation_matrix: ArrayLike, observation_cov: ArrayLike, initial_mean: ArrayLike,
                    initial_cov: ArrayLike) -> SmootherResult:
    r"""Rauch-Tung-Striebel smoother: moments of :math:`X_t \mid y_{0:T-1}`.

    Same arguments as :func:`kalman_filter`.  Backward recursion
    :math:`G_t = P_{t|t} F^\top P_{t+1|t}^{-1}`,
    :math:`m_{t|T} = m_{t|t} + G_t (m_{t+1|T} - m_{t+1|t})`,
    :math:`P_{t|T} = P_{t|t} + G_t (P_{t+1|T} - P_{t+1|t}) G_t^\top`
    (Rauch, Tung & Striebel 1965, doi:10.2514/3.3166).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> s = kalman_smoother(jnp.zeros(4), 0.9, 1.0, 1.0, 0.04, 0.0, 1.0)
    >>> s.smoothed_means.shape
    (4, 1)
    """
    kf = kalman_filter(observations, transition_matrix, transition_cov, observation_matrix,
                       observation_cov, initial_mean, initial_cov)
    F, *_ = _params(transition_matrix, transition_cov, observation_matrix, observation_cov,
                    initial_mean, initial_cov)
    F = F.astype(kf.filtered_means.dtype)

    def back(carry: tuple[jax.Array, jax.Array], inp: tuple[jax.Array, jax.Array, jax.Array, jax.Array]
             ) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
        m_s, P_s = carry
        m_f, P_f, m_pred_next, P_pred_next = inp
        G = cho_solve(cho_factor(P_pred_next, lower=True), F @ P_f).T  # P_f F^T P_pred^{-1}
        m = m_f + G @ (m_s - m_pred_next)
        P = P_f + G @ (P_s - P_pred_next) @ G.T
        P = 0.5 * (P + P.T)
        return (m, P), (m, P)

    last = (kf.filtered_means[-1], kf.filtered_covs[-1])
    inputs = (kf.filtered_means[:-1], kf.filtered_covs[:-1], kf.predicted_means[1:], kf.predicted_covs[1:])
    _, (ms, Ps) = jax.lax.scan(back, last, inputs, reverse=True)
    ms = jnp.concatenate([ms, last[0][None]])
    Ps = jnp.concatenate([Ps, last[1][None]])
    return SmootherResult(ms, Ps, kf)


class LinearGaussian(NamedTuple):
    r"""Parameters ``F, Q, H, R, m0, P0`` of a linear-Gaussian model, with helpers.

    States are ``(N,)`` particles when ``d = 1`` and ``(N, d)`` otherwise;
    observations ``(T,)`` when ``p = 1`` and ``(T, p)`` otherwise.

    Examples
    --------
    >>> import jax
    >>> lg = LinearGaussian.ar1(rho=0.9, sigma_x=1.0, sigma_y=0.2)
    >>> x, y = lg.simulate(jax.random.PRNGKey(0), 10)
    >>> x.shape, y.shape
    ((10,), (10,))
    """

    F: jax.Array
    Q: jax.Array
    H: jax.Array
    R: jax.Array
    m0: jax.Array
    P0: jax.Array

    @classmethod
    def create(cls, F: ArrayLike, Q: ArrayLike, H: ArrayLike, R: ArrayLike, m0: ArrayLike,
               P0: ArrayLike) -> LinearGaussian:
        """Normalize shapes to ``F, Q, P0`` (d, d), ``H`` (p, d), ``R`` (p, p), ``m0`` (d,)."""
        return cls(*_params(F, Q, H, R, m0, P0))

    @classmethod
    def ar1(cls, rho: float = 0.9, sigma_x: float = 1.0, sigma_y: float = 0.2, m0: ArrayLike = 0.0,
            P0: ArrayLike | None = None) -> LinearGaussian:
        r"""AR(1) in noise: :math:`X_t = \rho X_{t-1} + \sigma_x U_t`, :math:`Y_t = X_t + \sigma_y V_t`.

        ``P0`` defaults to the stationary variance :math:`\sigma_x^2 / (1 - \rho^2)`
        when :math:`|\rho| < 1`, else :math:`\sigma_x^2`.
        """
        if P0 is None:
            P0 = sigma_x**2 / (1 - rho**2) if abs(rho) < 1 else sigma_x**2
        return cls.create(rho, sigma_x**2, 1.0, sigma_y**2, m0, P0)

    @property
    def state_dim(self) -> int:
        return self.m0.shape[0]

    @property
    def obs_dim(self) -> int:
        return self.H.shape[0]

    def kalman_filter(self, observations: ArrayLike) -> KalmanResult:
        """:func:`kalman_filter` with these parameters."""
        return kalman_filter(observations, *self)

    def kalman_smoother(self, observations: ArrayLike) -> SmootherResult:
        """:func:`kalman_smoother` with these parameters."""
        return kalman_smoother(observations, *self)

    def simulate(self, key: ArrayLike | int, num_steps: int) -> tuple[jax.Array, jax.Array]:
        """Draw ``(x, y)`` of length ``num_steps`` (shapes as in the class docstring); ``key`` may be an int seed."""
        key = as_key(key)
        num_steps = check_positive_int(num_steps, "num_steps")
        d, p = self.state_dim, self.obs_dim
        k0, kx, ky = jax.random.split(key, 3)
        x0 = self.m0 + jnp.linalg.cholesky(self.P0) @ jax.random.normal(k0, (d,))
        lq = jnp.linalg.cholesky(self.Q)
        noise = jax.random.normal(kx, (num_steps - 1, d)) @ lq.T

        def step(x: jax.Array, e: jax.Array) -> tuple[jax.Array, jax.Array]:
            x = self.F @ x + e
            return x, x

        _, xs = jax.lax.scan(step, x0, noise)
        xs = jnp.concatenate([x0[None], xs])
        ys = xs @ self.H.T + jax.random.normal(ky, (num_steps, p)) @ jnp.linalg.cholesky(self.R).T
        return (xs[:, 0] if d == 1 else xs), (ys[:, 0] if p == 1 else ys)

    def to_ssm(self) -> StateSpaceModel:
        """The model as a :class:`probinf.StateSpaceModel` (``theta`` ignored), with the optimal proposal."""
        if self.state_dim == 1 and self.obs_dim == 1:
            return _scalar_ssm(self)
        return _vector_ssm(self)


def _scalar_ssm(lg: LinearGaussian) -> StateSpaceModel:
    f, q, h, r = lg.F[0, 0], lg.Q[0, 0], lg.H[0, 0], lg.R[0, 0]
    m0, p0 = lg.m0[0], lg.P0[0, 0]
    sq, sr, sp0 = jnp.sqrt(q), jnp.sqrt(r), jnp.sqrt(p0)
    # Locally optimal proposal p(x_t | x_{t-1}, y_t): precision 1/q + h^2/r.
    s2 = 1.0 / (1.0 / q + h * h / r)
    s2_0 = 1.0 / (1.0 / p0 + h * h / r)

    def q_mean(x_prev: jax.Array, y: jax.Array) -> jax.Array:
        return s2 * (f * x_prev / q + h * y / r)

    def q0_mean(y: jax.Array) -> jax.Array:
        return s2_0 * (m0 / p0 + h * y / r)

    proposal = Proposal(
        initial_sampler=lambda k, n, y, th: q0_mean(y) + jnp.sqrt(s2_0) * jax.random.normal(k, (n,)),
        initial_log_density=lambda x, y, th: norm.logpdf(x, q0_mean(y), jnp.sqrt(s2_0)),
        sampler=lambda k, xp, y, t, th: q_mean(xp, y) + jnp.sqrt(s2) * jax.random.normal(k, xp.shape, xp.dtype),
        log_density=lambda x, xp, y, t, th: norm.logpdf(x, q_mean(xp, y), jnp.sqrt(s2)),
    )
    return StateSpaceModel(
        initial_sampler=lambda k, n, th: m0 + sp0 * jax.random.normal(k, (n,)),
        transition_sampler=lambda k, xp, t, th: f * xp + sq * jax.random.normal(k, xp.shape, xp.dtype),
        observation_log_density=lambda y, x, t, th: norm.logpdf(y, h * x, sr),
        transition_log_density=lambda x, xp, t, th: norm.logpdf(x, f * xp, sq),
        initial_log_density=lambda x, th: norm.logpdf(x, m0, sp0),
        proposal=proposal,
    )


def _vector_ssm(lg: LinearGaussian) -> StateSpaceModel:
    F, Q, H, R, m0, P0 = lg
    p = lg.obs_dim
    # (jnp.linalg.inv and cholesky are untyped in jax: name the types of their results)
    lq: jax.Array = jnp.linalg.cholesky(Q)
    lp0: jax.Array = jnp.linalg.cholesky(P0)
    Qi: jax.Array = jnp.linalg.inv(Q)
    Ri: jax.Array = jnp.linalg.inv(R)
    P0i: jax.Array = jnp.linalg.inv(P0)
    S: jax.Array = jnp.linalg.inv(Qi + H.T @ Ri @ H)
    S0: jax.Array = jnp.linalg.inv(P0i + H.T @ Ri @ H)
    ls: jax.Array = jnp.linalg.cholesky(S)
    ls0: jax.Array = jnp.linalg.cholesky(S0)

    def yv(y: ArrayLike) -> jax.Array:
        return jnp.reshape(y, (p,))

    def q_mean(xp: jax.Array, y: ArrayLike) -> jax.Array:
        return (xp @ F.T @ Qi + (H.T @ Ri @ yv(y))[None]) @ S.T

    def q0_mean(y: ArrayLike) -> jax.Array:
        return S0 @ (P0i @ m0 + H.T @ Ri @ yv(y))

    def draw(k: jax.Array, n: int, chol: jax.Array) -> jax.Array:
        return jax.random.normal(k, (n, chol.shape[0])) @ chol.T

    def obs_lp(y: ArrayLike, x: jax.Array, t: TimeIndex, th: Any) -> jax.Array:
        return _mvn_logpdf(yv(y), x @ H.T, R)

    proposal = Proposal(
        initial_sampler=lambda k, n, y, th: q0_mean(y) + draw(k, n, ls0),
        initial_log_density=lambda x, y, th: _mvn_logpdf(x, q0_mean(y), S0),
        sampler=lambda k, xp, y, t, th: q_mean(xp, y) + draw(k, xp.shape[0], ls),
        log_density=lambda x, xp, y, t, th: _mvn_logpdf(x - q_mean(xp, y), jnp.zeros_like(m0), S),
    )
    return StateSpaceModel(
        initial_sampler=lambda k, n, th: m0 + draw(k, n, lp0),
        transition_sampler=lambda k, xp, t, th: xp @ F.T + draw(k, xp.shape[0], lq),
        observation_log_density=obs_lp,
        transition_log_density=lambda x, xp, t, th: _mvn_logpdf(x - xp @ F.T, jnp.zeros_like(m0), Q),
        initial_log_density=lambda x, th: _mvn_logpdf(x, m0, P0),
        proposal=proposal,
    )
