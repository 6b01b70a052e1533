"""conformal: distribution-free prediction sets with tested guarantees.

Regression: :class:`SplitConformalRegressor` (absolute / normalized scores),
:class:`CrossConformalRegressor` (CV+ / jackknife+), :class:`ConformalizedQuantileRegressor`,
:class:`WeightedConformalRegressor` (covariate shift).  Classification:
:class:`SplitConformalClassifier` (LAC, APS, RAPS, top-k; Mondrian).  Sequences:
:class:`AdaptiveConformal`.  Risk: :class:`ConformalRiskControl`.  Bayesian:
:class:`ConformalBayes` (full conformal from posterior draws).

All wrap scikit-learn estimators (``prefit`` explicit), take ``confidence_level`` (one or
several levels) in ``__init__`` and return named results (:class:`PredictionIntervals`,
:class:`PredictionSets`) with ``to_pandas()``.
"""

from conformal.bayes import ConformalBayes
from conformal.classification import SplitConformalClassifier, class_scores
from conformal.exceptions import (
    ConformalDeprecationWarning,
    ConformalWarning,
    GridBoundaryWarning,
    InsufficientCalibrationError,
    LowESSWarning,
)
from conformal.online import AdaptiveConformal
from conformal.regression import (
    ConformalizedQuantileRegressor,
    CrossConformalRegressor,
    SplitConformalRegressor,
)
from conformal.results import PredictionIntervals, PredictionSets
from conformal.risk import ConformalRiskControl, false_negative_rate
from conformal.weighted import WeightedConformalRegressor

__all__ = [
    "SplitConformalRegressor",
    "CrossConformalRegressor",
    "ConformalizedQuantileRegressor",
    "WeightedConformalRegressor",
    "SplitConformalClassifier",
    "class_scores",
    "AdaptiveConformal",
    "ConformalRiskControl",
    "false_negative_rate",
    "ConformalBayes",
    "PredictionIntervals",
    "PredictionSets",
    "InsufficientCalibrationError",
    "ConformalWarning",
    "ConformalDeprecationWarning",
    "LowESSWarning",
    "GridBoundaryWarning",
]
