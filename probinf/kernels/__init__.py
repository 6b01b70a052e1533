"""Custom likelihood kernels for probinf.

Each kernel exposes one public function with a ``backend=`` argument selecting a
reference implementation (plain NumPy/JAX, the test oracle), a fast CPU path
(the default here) and, where one exists, a GPU path.

This package sits at the bottom of the layering: it imports nothing from
``probinf`` or the applications.
"""

from probinf.kernels.conformal_bayes import ConformalBayesScores, conformal_bayes_scores
from probinf.kernels.exceptions import BackendUnavailableError
from probinf.kernels.mixture import MIXTURE_BACKENDS, mixture_loglik
from probinf.kernels.resampling import compensated_cumsum, offspring_counts, search_sorted_split
from probinf.kernels.token_logprobs import TOKEN_LOGPROBS_BACKENDS, token_logprobs

__all__ = [
    "BackendUnavailableError",
    "ConformalBayesScores",
    "conformal_bayes_scores",
    "MIXTURE_BACKENDS",
    "mixture_loglik",
    "compensated_cumsum",
    "offspring_counts",
    "search_sorted_split",
    "TOKEN_LOGPROBS_BACKENDS",
    "token_logprobs",
]
