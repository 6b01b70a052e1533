"""Evaluation of test-time scaling: paired bootstrap statistics, the budget ratio to match, the
imperfect-verifier ceiling, coverage-law fits and the task-family experiment."""

from llm_bridge.evaluation.coverage import CoverageFit, coverage_matrix, fit_loglinear_coverage
from llm_bridge.evaluation.flaws import predicted_ceiling, predicted_resampling_accuracy, simulate_resampling
from llm_bridge.evaluation.paired import (
    Interval,
    budget_ratio_to_match,
    budget_to_match,
    claim_verdict,
    paired_bootstrap,
)

__all__ = [
    "CoverageFit",
    "Interval",
    "budget_ratio_to_match",
    "budget_to_match",
    "claim_verdict",
    "coverage_matrix",
    "fit_loglinear_coverage",
    "paired_bootstrap",
    "predicted_ceiling",
    "predicted_resampling_accuracy",
    "simulate_resampling",
]
