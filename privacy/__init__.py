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

from __future__ import annotations

from typing import TYPE_CHECKING

from probinf.lazy import lazy_exports

if TYPE_CHECKING:
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
        PrivacyDeprecationWarning,
        PrivacyParameterError,
        PrivacyWarning,
    )
    from privacy.holdout import ReusableHoldout
    from privacy.survival import PrivateKaplanMeier

# name -> module: the public API is imported lazily
_LAZY: dict[str, str] = {
    "EpsilonInterval": "privacy.baselines",
    "clopper_pearson_interval": "privacy.baselines",
    "jeffreys_interval": "privacy.baselines",
    "AttackCounts": "privacy.counts",
    "empirical_epsilon": "privacy.counts",
    "EpsilonPosterior": "privacy.epsilon",
    "epsilon_posterior": "privacy.epsilon",
    "ReusableHoldout": "privacy.holdout",
    "PrivateKaplanMeier": "privacy.survival",
    "AuditViolationError": "privacy.exceptions",
    "BudgetExhaustedError": "privacy.exceptions",
    "InvalidCountsError": "privacy.exceptions",
    "LowEventError": "privacy.exceptions",
    "LowEventWarning": "privacy.exceptions",
    "NoPrivacyGuaranteeWarning": "privacy.exceptions",
    "PrivacyParameterError": "privacy.exceptions",
    "PrivacyWarning": "privacy.exceptions",
    "PrivacyDeprecationWarning": "privacy.exceptions",
}

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
    "PrivacyDeprecationWarning",
    "PrivateKaplanMeier",
    "ReusableHoldout",
    "BudgetExhaustedError",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
