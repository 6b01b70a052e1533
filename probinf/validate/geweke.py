r"""Geweke's joint-distribution test for MCMC kernels (Geweke 2004).

Two simulators of :math:`p(\theta, y)`:

- *marginal-conditional*: :math:`\theta \sim p(\theta)`, :math:`y \sim p(y\mid\theta)`, i.i.d.;
- *successive-conditional*: starting from one exact joint draw, alternate
  :math:`\theta \leftarrow K_y(\theta, \cdot)` (the kernel under test, which must
  leave :math:`p(\theta \mid y)` invariant) and :math:`y \sim p(y \mid \theta)`.

If the kernel is correct, every state of the successive chain is an exact draw
from the joint, so the means of test functions :math:`g(\theta, y)` agree.  We
run ``num_chains`` independent successive chains (vmapped) and use the spread of
their per-chain means for the standard error (no spectral estimate needed), and
report two-sided z-test p-values per test function with a Bonferroni correction.

Default test functions: :math:`\theta_j`, :math:`\theta_j^2` and
:math:`\theta_j \bar y` for every scalar component (the last one probes the
dependence between parameters and data, which is where kernels that target the
wrong posterior show up).

Reference: Geweke (2004), Getting it right: joint distribution tests of
posterior simulators, JASA 99, doi:10.1198/016214504000001132.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpy.typing import NDArray
from scipy import stats

if TYPE_CHECKING:
    from pandas import DataFrame

__all__ = ["GewekeResult", "geweke_test", "default_test_functions"]

#: a pytree of arrays (parameters, data): jax has no static type for it
PyTree = Any


@dataclass
class GewekeResult:
    """Per-test-function means of both simulators, z-scores, p-values; ``pvalue`` is Bonferroni-corrected."""

    mean_marginal: NDArray[np.float64]
    mean_successive: NDArray[np.float64]
    z: NDArray[np.float64]
    pvalues: NDArray[np.float64]
    pvalue: float
    alpha: float
    names: list[str]

    @property
    def rejected(self) -> bool:
        return bool(self.pvalue < self.alpha)

    def summary(self) -> DataFrame:
        import pandas as pd

        return pd.DataFrame({"test_function": self.names, "marginal_conditional": self.mean_marginal,
                             "successive_conditional": self.mean_successive, "z": self.z, "p": self.pvalues})


def default_test_functions(theta: PyTree, data: PyTree) -> jax.Array:
    r""":math:`(\theta_j, \theta_j^2, \theta_j \bar y)` for every scalar component of ``theta``."""
    t, _ = ravel_pytree(theta)
    y, _ = ravel_pytree(data)
    ybar = jnp.mean(y) if y.size else jnp.zeros((), t.dtype)
    return jnp.concatenate([t, t**2, t * ybar])


def geweke_test(key: jax.Array, prior_sampler: Callable[[jax.Array], PyTree],
                simulator: Callable[[jax.Array, PyTree], PyTree],
                transition: Callable[[jax.Array, PyTree, PyTree], PyTree], *, num_chains: int = 100,
                num_steps: int = 200, test_functions: Callable[[PyTree, PyTree], jax.Array] | None = None,
                alpha: float = 0.01, thin: int = 1) -> GewekeResult:
    r"""Joint-distribution test of a posterior transition kernel.

    Parameters
    ----------
    key : PRNG key
    prior_sampler : callable ``key -> theta``
    simulator : callable ``(key, theta) -> data``
    transition : callable ``(key, theta, data) -> theta``
        One MCMC transition (or several) targeting :math:`p(\theta\mid y)`;
        pure and traceable (it is vmapped and scanned).
    num_chains, num_steps : int
        Successive-conditional chains and their length; the marginal-conditional
        sample has ``num_chains * num_steps`` draws.
    test_functions : callable ``(theta, data) -> (k,)``, optional
        Default :func:`default_test_functions`.
    alpha : float
        Level of the Bonferroni-corrected test.
    thin : int
        Kernel transitions between data refreshes.

    Returns
    -------
    GewekeResult

    Example
    -------
    >>> import jax, jax.numpy as jnp
    >>> prior = lambda k: jax.random.normal(k, (1,))
    >>> sim = lambda k, t: t + jax.random.normal(k, (3,))
    >>> def exact(k, t, y):   # Gibbs: an exact posterior draw is a valid kernel
    ...     return jnp.sum(y, keepdims=True) / 4 + jax.random.normal(k, (1,)) / 2.0
    >>> geweke_test(jax.random.key(0), prior, sim, exact, num_chains=50, num_steps=50).rejected
    False
    """
    g = test_functions or default_test_functions

    def joint(k: jax.Array) -> tuple[PyTree, PyTree]:
        k1, k2 = jax.random.split(k)
        th = prior_sampler(k1)
        return th, simulator(k2, th)

    def chain(k: jax.Array) -> jax.Array:
        k0, kc = jax.random.split(k)
        th0, y0 = joint(k0)

        def body(carry: tuple[PyTree, PyTree], kk: jax.Array) -> tuple[tuple[PyTree, PyTree], jax.Array]:
            th, y = carry
            ks = jax.random.split(kk, thin + 1)
            for i in range(thin):
                th = transition(ks[i], th, y)
            y = simulator(ks[thin], th)
            return (th, y), g(th, y)

        _, vals = jax.lax.scan(body, (th0, y0), jax.random.split(kc, num_steps))
        return jnp.mean(vals, axis=0)

    k_mc, k_sc = jax.random.split(key)

    def g_joint(k: jax.Array) -> jax.Array:
        return g(*joint(k))

    mc = np.asarray(jax.jit(jax.vmap(g_joint))(jax.random.split(k_mc, num_chains * num_steps)), dtype=np.float64)
    sc = np.asarray(jax.jit(jax.vmap(chain))(jax.random.split(k_sc, num_chains)), dtype=np.float64)
    m_mc, se_mc = mc.mean(0), mc.std(0, ddof=1) / np.sqrt(mc.shape[0])
    m_sc, se_sc = sc.mean(0), sc.std(0, ddof=1) / np.sqrt(sc.shape[0])
    z = (m_mc - m_sc) / np.sqrt(se_mc**2 + se_sc**2 + 1e-300)
    pv = 2 * stats.norm.sf(np.abs(z))
    k = len(pv)
    names = [f"g[{i}]" for i in range(k)]
    if test_functions is None and k % 3 == 0:
        d = k // 3
        names = [f"theta[{j}]" for j in range(d)] + [f"theta[{j}]^2" for j in range(d)] + [
            f"theta[{j}]*mean(y)" for j in range(d)]
    return GewekeResult(m_mc, m_sc, z, pv, float(min(1.0, pv.min() * k)), alpha, names)
