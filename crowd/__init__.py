"""crowd: top-two answers and confusion probabilities from crowdsourced labels.

Estimators take a long DataFrame ``task, worker, label`` (crowd-kit's convention) and
return task-indexed pandas objects:

- :class:`TopTwo` -- spectral stage + plug-in MLE (Jeong & Chung, ICML 2023);
- :class:`BayesianTopTwo` -- Gibbs posterior over reliabilities, confusions and pairs;
- :class:`OracleTopTwo` -- the MLE with the true parameters (experiments);
- :class:`DawidSkene`, :class:`MajorityVote` -- baselines;
- :func:`simulate_top_two` -- synthetic data; :mod:`crowd.datasets` -- the classic sets (offline).
"""

from crowd import datasets
from crowd.bayes import BayesianTopTwo
from crowd.dawid_skene import DawidSkene
from crowd.exceptions import (
    AnswersFormatError,
    CrowdDeprecationWarning,
    CrowdWarning,
    DatasetNotFoundError,
    DegenerateModelError,
    DuplicateAnswersError,
    MissingColumnError,
    NotFittedError,
)
from crowd.majority_vote import MajorityVote
from crowd.oracle import OracleTopTwo
from crowd.simulate import TopTwoSample, simulate_top_two
from crowd.top_two import TopTwo

__all__ = [
    "TopTwo",
    "BayesianTopTwo",
    "OracleTopTwo",
    "DawidSkene",
    "MajorityVote",
    "simulate_top_two",
    "TopTwoSample",
    "datasets",
    "AnswersFormatError",
    "CrowdWarning",
    "CrowdDeprecationWarning",
    "DatasetNotFoundError",
    "DegenerateModelError",
    "DuplicateAnswersError",
    "MissingColumnError",
    "NotFittedError",
]
