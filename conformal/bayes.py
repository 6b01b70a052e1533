r"""Conformal Bayes (Fong & Holmes 2021): full conformal prediction from one posterior sample.

Full conformal prediction refits the model for every candidate :math:`y` of the test
response.  With posterior draws :math:`\theta_{1:T}` from :math:`p(\theta \mid Z_{1:n})`, the
posterior after adding :math:`(x_{n+1}, y)` is reached by importance weights
:math:`\propto f_\theta(y \mid x_{n+1})` ("add-one-in"), and the conformity score of every
point is its posterior predictive density under the augmented posterior.  The p-value
:math:`\pi(y)` is the rank of the test score among the :math:`n+1` scores and the set is
:math:`\{y : \pi(y) > \alpha\}` on a grid.  Coverage :math:`\ge 1-\alpha` holds under
exchangeability even for a misspecified model, up to the importance-sampling error; the
effective sample size of the weights (reported, with a :class:`~conformal.exceptions.LowESSWarning`
when small) is the diagnostic.  The reduction over draws is
:func:`probinf.kernels.conformal_bayes_scores` (fused, chunked; no T x n x G tensor).

Posterior draws come from NumPyro (``model`` and ``obs_site``: log-likelihoods by
``numpyro.infer.log_likelihood``), from probinf (a ``Population``'s particles and
``log_weights``), from any sampler with a ``log_likelihood(samples, X, y) -> (T, len(y))``
callable, or as ready-made log-likelihood matrices.

Reference: Fong, E. and Holmes, C. (2021). Conformal Bayesian computation. NeurIPS 34.
arXiv:2106.06137.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from conformal._common import check_1d, check_levels, check_positive, check_X_y
from conformal.exceptions import GridBoundaryWarning, LowESSWarning
from conformal.results import PredictionIntervals
from probinf.kernels import conformal_bayes_scores

__all__ = ["ConformalBayes"]


class ConformalBayes(BaseEstimator):
    r"""Conformal Bayes prediction sets from posterior draws.

    Parameters
    ----------
    log_likelihood : callable, optional
        ``log_likelihood(samples, X, y) -> (T, len(y))`` pointwise log-densities
        :math:`\log f_{\theta_t}(y_i \mid x_i)`.  ``X`` may be None for models without covariates.
    confidence_level : float or list of float
    model : NumPyro model, optional
        Alternative to ``log_likelihood``: called as ``model(X, y=y)``; its observed site
        ``obs_site`` gives the log-likelihoods.
    obs_site : str
    grid_size : int
        Number of candidate values when no ``y_grid`` is given.
    grid_margin : float
        Default grid: training range extended by ``grid_margin`` times the range on each side.
    min_ess_fraction : float
        Warn (:class:`LowESSWarning`) when the ESS at a grid value inside the prediction set
        falls below this fraction of the (effective) number of draws.
    backend : {"auto", "reference", "cpu", "pallas"}
        Backend of :func:`probinf.kernels.conformal_bayes_scores` (``"auto"``: the fastest path measured for the
        device and size, which is the fused XLA path on CPUs and on an H200; ``"pallas"`` is opt-in).

    Attributes
    ----------
    loglik_train_ : ndarray (T, n)
    log_weights_ : ndarray (T,) or None
    pvalues_ : ndarray (m, G)   p-values of the last prediction
    ess_ : ndarray (m, G)        add-one-in ESS of the last prediction
    y_grid_ : ndarray (G,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(1.0, 1.0, size=50)
    >>> # exact posterior of the mean under a N(0, 10^2) prior, known unit variance
    >>> prec = 1 / 100 + y.size; draws = {"mu": rng.normal(y.sum() / prec, prec ** -0.5, size=2000)}
    >>> def loglik(s, X, yy):
    ...     return -0.5 * (yy[None, :] - s["mu"][:, None]) ** 2 - 0.5 * np.log(2 * np.pi)
    >>> cb = ConformalBayes(log_likelihood=loglik, confidence_level=0.8).fit(None, y, draws)
    >>> res = cb.predict_interval(None, n_test=1)
    >>> bool(res.lower[0, 0] < 1.0 < res.upper[0, 0])
    True
    """

    def __init__(self, log_likelihood=None, confidence_level=0.9, model=None, obs_site="y", grid_size=200,
                 grid_margin=0.5, min_ess_fraction=0.05, backend="auto"):
        self.log_likelihood = log_likelihood
        self.model = model
        self.obs_site = obs_site
        self.confidence_level = confidence_level
        self.grid_size = grid_size
        self.grid_margin = grid_margin
        self.min_ess_fraction = min_ess_fraction
        self.backend = backend

    def _check_params(self):
        levels = check_levels(self.confidence_level)
        if self.log_likelihood is not None and not callable(self.log_likelihood):
            raise TypeError(f"log_likelihood must be a callable (samples, X, y) -> (T, n), got "
                            f"{type(self.log_likelihood).__name__}")
        if isinstance(self.grid_size, (bool, np.bool_)) or not isinstance(self.grid_size, (int, np.integer)) \
                or self.grid_size < 2:
            raise ValueError(f"grid_size must be an integer >= 2, got {self.grid_size!r}")
        check_positive(self.grid_margin, "grid_margin", allow_zero=True)
        frac = check_positive(self.min_ess_fraction, "min_ess_fraction", allow_zero=True)
        if frac > 1:
            raise ValueError(f"min_ess_fraction must lie in [0, 1], got {self.min_ess_fraction!r}")
        if self.backend not in ("auto", "reference", "cpu", "pallas"):
            raise ValueError(f"backend must be 'auto', 'reference', 'cpu' or 'pallas', got {self.backend!r}")
        return levels

    # -- log-likelihood evaluation -------------------------------------------------------
    def _loglik(self, X, y):
        if self.log_likelihood is not None:
            out = np.asarray(self.log_likelihood(self.samples_, X, y), dtype=float)
        else:
            from numpyro.infer import log_likelihood as npl

            ll = npl(self.model, self.samples_, X, y=y)
            if self.obs_site not in ll:
                raise ValueError(f"obs_site {self.obs_site!r} is not an observed site of the model; "
                                 f"observed sites: {sorted(ll)}")
            out = np.asarray(ll[self.obs_site], dtype=float)
        if out.shape != (self.num_draws_, y.shape[0]):
            raise ValueError(f"the log-likelihood must have shape (draws={self.num_draws_}, points={y.shape[0]}), "
                             f"got {out.shape}")
        return out

    def fit(self, X, y, posterior_samples=None, *, log_weights=None, loglik_train=None):
        """Store the posterior draws and the training log-likelihoods.

        Parameters
        ----------
        X : array (n, d) or None
        y : array (n,)
        posterior_samples : dict of arrays (leading axis T) or a pytree, e.g. ``mcmc.get_samples()``
            or ``population.particles``; not needed when ``loglik_train`` is given.
        log_weights : array (T,), optional
            Weights of the draws (e.g. ``population.log_weights`` from probinf SMC).
        loglik_train : array (T, n), optional
            Precomputed :math:`\\log f_{\\theta_t}(y_i \\mid x_i)`; then ``predict_*`` need ``loglik_grid``.
        """
        self._check_params()
        if self.log_likelihood is None and self.model is None and loglik_train is None:
            raise ValueError("give log_likelihood (callable), model (NumPyro) or loglik_train (matrix)")
        if X is not None:
            X, y = check_X_y(X, y)
        else:
            y = check_1d(y, "y")
        self.y_train_ = y
        self.X_train_ = X
        if loglik_train is not None:
            lt = np.asarray(loglik_train, dtype=float)
            if lt.ndim != 2 or lt.shape[1] != y.shape[0]:
                raise ValueError(f"loglik_train must be (T, n={y.shape[0]}), got {lt.shape}")
            if np.any(np.isnan(lt)) or np.any(lt == np.inf):
                raise ValueError("loglik_train contains NaN or +inf; log-likelihoods must be finite (or -inf)")
            self.samples_ = None
            self.num_draws_ = lt.shape[0]
        else:
            if posterior_samples is None:
                raise ValueError("posterior_samples is required unless loglik_train is given")
            leaves = jax.tree_util.tree_leaves(posterior_samples)
            if not leaves:
                raise ValueError("posterior_samples holds no arrays")
            self.samples_ = posterior_samples
            self.num_draws_ = int(np.shape(leaves[0])[0])
            lt = self._loglik(X, y)
        if log_weights is not None:
            lw = np.asarray(log_weights, dtype=float).reshape(-1)
            if lw.shape[0] != self.num_draws_:
                raise ValueError(f"log_weights has {lw.shape[0]} entries for {self.num_draws_} draws")
            if np.any(np.isnan(lw)) or np.any(lw == np.inf) or not np.any(np.isfinite(lw)):
                raise ValueError("log_weights must be finite or -inf (zero weight), with at least one finite entry")
            self.log_weights_ = lw
        else:
            self.log_weights_ = None
        self.loglik_train_ = lt
        return self

    def _grid(self, y_grid):
        if y_grid is not None:
            g = np.asarray(y_grid, dtype=float).reshape(-1)
            if g.size < 2 or np.any(np.diff(g) <= 0) or not np.all(np.isfinite(g)):
                raise ValueError("y_grid must be a strictly increasing finite array with at least 2 values")
            return g
        lo, hi = self.y_train_.min(), self.y_train_.max()
        span = max(hi - lo, 1e-8)
        return np.linspace(lo - self.grid_margin * span, hi + self.grid_margin * span, int(self.grid_size))

    def predict_pvalues(self, X=None, *, y_grid=None, loglik_grid=None, n_test=None):
        """Conformal p-values (m, G) of every grid value for each test point; also sets ``ess_``."""
        check_is_fitted(self, "loglik_train_")
        g = self._grid(y_grid)
        if loglik_grid is not None:
            LG = np.asarray(loglik_grid, dtype=float)
            if LG.ndim == 2:
                LG = LG[None]
            if LG.ndim != 3 or LG.shape[1:] != (self.num_draws_, g.size):
                raise ValueError(f"loglik_grid must be (m, T={self.num_draws_}, G={g.size}), got {LG.shape}")
            m = LG.shape[0]
        else:
            if self.samples_ is None:
                raise ValueError("fitted from loglik_train: pass loglik_grid (m, T, G) for the test points")
            if X is not None:
                X = check_X_y(X)[0]
                m = X.shape[0]
            else:
                m = 1 if n_test is None else int(n_test)
            LG = None
        P = np.empty((m, g.size))
        E = np.empty((m, g.size))
        for j in range(m):
            if LG is not None:
                lg = LG[j]
            else:
                Xj = None if X is None else np.repeat(np.asarray(X)[j:j + 1], g.size, axis=0)
                lg = self._loglik(Xj, g)
            out = conformal_bayes_scores(self.loglik_train_, lg, self.log_weights_, return_train_scores=False,
                                         backend=self.backend)
            P[j], E[j] = out.pvalues, out.ess
        self.pvalues_, self.ess_, self.y_grid_ = P, E, g
        return P

    def predict_interval(self, X=None, *, y_grid=None, loglik_grid=None, n_test=None) -> PredictionIntervals:
        r"""Convex hull of :math:`\{y_g : \pi(y_g) > \alpha\}` per test point and level (NaN if empty).

        The set itself is ``self.pvalues_ > 1 - level`` on ``self.y_grid_``.  A set touching an
        end of the grid raises :class:`GridBoundaryWarning`: widen ``y_grid``.
        """
        P = self.predict_pvalues(X, y_grid=y_grid, loglik_grid=loglik_grid, n_test=n_test)
        levels = check_levels(self.confidence_level)
        g = self.y_grid_
        m = P.shape[0]
        lo = np.full((m, levels.size), np.nan)
        hi = np.full((m, levels.size), np.nan)
        touches = False
        for j, lv in enumerate(levels):
            inside = P > 1.0 - lv
            anyin = inside.any(1)
            first = np.argmax(inside, axis=1)
            last = g.size - 1 - np.argmax(inside[:, ::-1], axis=1)
            lo[anyin, j] = g[first[anyin]]
            hi[anyin, j] = g[last[anyin]]
            touches |= bool(np.any(inside[:, 0] | inside[:, -1]))
        if touches:
            warnings.warn("the conformal Bayes set reaches an end of y_grid; the interval may be truncated: "
                          "pass a wider y_grid", GridBoundaryWarning, stacklevel=2)
        T_eff = self.num_draws_ if self.log_weights_ is None else float(
            np.exp(2 * _lse(self.log_weights_) - _lse(2 * self.log_weights_)))
        inside_any = P > 1.0 - levels.max()
        low = inside_any & (self.ess_ < self.min_ess_fraction * T_eff)
        if low.any():
            warnings.warn(
                f"add-one-in importance weights are degenerate at {int(low.sum())} grid values inside the set "
                f"(min ESS {self.ess_[inside_any].min():.1f} of {T_eff:.0f} draws): the sets are unreliable; "
                "use more posterior draws", LowESSWarning, stacklevel=2)
        pred = np.full(m, np.nan)
        return PredictionIntervals(pred, lo, hi, tuple(levels))


def _lse(a):
    mx = np.max(a)
    return mx + np.log(np.sum(np.exp(a - mx)))
