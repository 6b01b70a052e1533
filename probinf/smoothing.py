r"""State smoothing from a particle filter: backward simulation and genealogy tracing.

- :func:`backward_sample` (forward filtering, backward simulation; Godsill,
  Doucet & West 2004, doi:10.1198/016214504000000151): draw
  :math:`B_{T-1} \sim W_{T-1}`, then for :math:`t = T-2, \dots, 0`
  :math:`P(B_t = i) \propto W_t^i f_{t+1}(x_{t+1}^{B_{t+1}} \mid x_t^i)`.
  Needs the model's ``transition_log_density`` and a filter run with
  ``return_history=True``; costs O(M N T) for M draws.
- :func:`trace_genealogy`: follow the ancestors back from final particles drawn
  from :math:`W_{T-1}` (cheap, but degenerate for long series).

Both return trajectories as a pytree with leading axes ``(M, T)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from jax.typing import ArrayLike

from probinf._checks import as_key, check_positive_int
from probinf.exceptions import ModelSpecificationError
from probinf.filtering import ParticleFilterResult
from probinf.ssm import StateSpaceModel, check_model

__all__ = ["backward_sample", "trace_genealogy"]


def _need_history(result: object) -> tuple[Any, jax.Array, jax.Array]:
    """``(history, ancestors, log_weights_history)`` of a filter result that kept its history."""
    if not isinstance(result, ParticleFilterResult):
        raise TypeError(f"result must be a probinf.ParticleFilterResult, got {type(result).__name__}; "
                        "pass the output of particle_filter(..., return_history=True)")
    if result.history is None or result.ancestors is None or result.log_weights_history is None:
        raise ValueError("smoothing needs a ParticleFilterResult computed with return_history=True; "
                         "rerun particle_filter with return_history=True")
    return result.history, result.ancestors, result.log_weights_history


def _gather_t(history: Any, t: ArrayLike, idx: jax.Array) -> Any:
    return jax.tree_util.tree_map(lambda h: h[t][idx], history)


def trace_genealogy(key: ArrayLike | int, result: ParticleFilterResult, num_draws: int) -> Any:
    """Trajectories ``(M, T, ...)`` obtained by tracing ancestors back from ``M`` final particles."""
    key = as_key(key)
    history, ancestors, lwh = _need_history(result)
    num_draws = check_positive_int(num_draws, "num_draws")
    lw_last = lwh[-1]
    b = jax.random.categorical(key, lw_last, shape=(num_draws,))
    t_len = lwh.shape[0]

    def back(bt: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
        prev = ancestors[t][bt]
        return prev, bt

    ts = jnp.arange(t_len - 1, -1, -1)
    _, idx = jax.lax.scan(back, b, ts)  # idx[k] = index at time T-1-k
    idx = idx[::-1]  # (T, M)
    return jax.tree_util.tree_map(
        lambda h: jnp.swapaxes(jnp.take_along_axis(h, idx.reshape(idx.shape + (1,) * (h.ndim - 2)), axis=1), 0, 1),
        history)


def backward_sample(key: ArrayLike | int, model: StateSpaceModel, result: ParticleFilterResult, num_draws: int,
                    theta: Any = None) -> Any:
    r"""``M`` draws from the smoothing distribution by backward simulation (FFBS).

    Parameters
    ----------
    key : PRNG key
    model : StateSpaceModel with ``transition_log_density``
    result : ParticleFilterResult from ``particle_filter(..., return_history=True)``
    num_draws : int
        ``M`` trajectories.
    theta : pytree, optional
        The parameters the filter ran with.

    Returns
    -------
    trajectories : pytree of ``(M, T, ...)`` arrays.

    Examples
    --------
    >>> import jax
    >>> from probinf import LinearGaussian, particle_filter
    >>> lg = LinearGaussian.ar1()
    >>> _, y = lg.simulate(jax.random.PRNGKey(0), 20)
    >>> res = particle_filter(jax.random.PRNGKey(1), lg.to_ssm(), y, 200, return_history=True)
    >>> backward_sample(jax.random.PRNGKey(2), lg.to_ssm(), res, 5).shape
    (5, 20)
    """
    key = as_key(key)
    history, _, lwh = _need_history(result)
    num_draws = check_positive_int(num_draws, "num_draws")
    check_model(model, need_densities=False)
    transition_log_density = model.transition_log_density
    if transition_log_density is None:
        raise ModelSpecificationError("backward_sample needs the model's transition_log_density")
    t_len, n = lwh.shape
    k_last, k_back = jax.random.split(key)
    b_last = jax.random.categorical(k_last, lwh[-1], shape=(num_draws,))
    x_last = _gather_t(history, t_len - 1, b_last)

    def back(x_next: Any, inp: tuple[jax.Array, jax.Array]) -> tuple[Any, Any]:
        t, k = inp
        xt = jax.tree_util.tree_map(lambda h: h[t], history)  # (N, ...)

        def one(xn: Any) -> jax.Array:
            xn_b = jax.tree_util.tree_map(lambda a, ref: jnp.broadcast_to(a, ref.shape), xn, xt)
            return lwh[t] + transition_log_density(xn_b, xt, t + 1, theta)

        logits = jax.vmap(one)(x_next)  # (M, N)
        logits = logits - logsumexp(logits, axis=1, keepdims=True)
        b = jax.random.categorical(k, logits, axis=1)
        x = _gather_t(history, t, b)
        return x, x

    ts = jnp.arange(t_len - 2, -1, -1)
    keys = jax.random.split(k_back, max(t_len - 1, 1))[: t_len - 1]
    _, xs = jax.lax.scan(back, x_last, (ts, keys))  # (T-1, M, ...) for t = T-2..0
    traj = jax.tree_util.tree_map(lambda a, last: jnp.concatenate([a[::-1], last[None]], axis=0), xs, x_last)
    return jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), traj)
