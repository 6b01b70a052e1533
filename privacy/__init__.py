"""privacy: Bayesian estimation of differential-privacy epsilon and DP auditing (a probinf application).

Curated public API
------------------
- :class:`AttackCounts` -- confusion-matrix counts of a membership-inference game.
- :func:`epsilon_posterior` / :class:`EpsilonPosterior` -- posterior of epsilon by deterministic
  quadrature (Zanella-Beguelin et al., ICML 2023).
- :func:`empirical_epsilon` -- plug-in epsilon of a (FPR, FNR) point.
- :class:`PrivateKaplanMeier` -- epsilon-DP Kaplan-Meier on a public grid (lifelines-like; and the
  Veeraragavan et al. 2024 mechanism, which has no DP guarantee, for comparison).
- :class:`ReusableHoldout` -- Thresholdout (Dwork et al. 2015).
- :func:`clopper_pearson_interval`, :func:`jeffreys_interval` -- frequentist/rectangle baselines.
"""

from privacy.baselines import EpsilonInterval, clopper_pearson_interval, jeffreys_interval
from privacy.counts import AttackCounts, empirical_epsilon
from privacy.epsilon import EpsilonPosterior, epsilon_posterior
from privacy.exceptions import (
    AuditViolationError,
    BudgetExhaustedError,
    InvalidCountsError,
    LowEventError,
    LowEventWarning,
    NoPrivacyGuaranteeWarning,
    PrivacyParameterError,
    PrivacyWarning,
)
from privacy.holdout import ReusableHoldout
from privacy.survival import PrivateKaplanMeier

__all__ = [
    "AttackCounts",
    "empirical_epsilon",
    "EpsilonPosterior",
    "epsilon_posterior",
    "EpsilonInterval",
    "clopper_pearson_interval",
    "jeffreys_interval",
    "AuditViolationError",
    "InvalidCountsError",
    "LowEventError",
    "LowEventWarning",
    "NoPrivacyGuaranteeWarning",
    "PrivacyParameterError",
    "PrivacyWarning",
    "PrivateKaplanMeier",
    "ReusableHoldout",
    "BudgetExhaustedError",
]
