"""Exceptions and warnings of the ``privacy`` package (one place, subclassing builtins).

Shared by the epsilon estimation (:mod:`privacy.epsilon`, :mod:`privacy.audit`) and the
differentially private survival analysis modules.  Input errors subclass ``ValueError``
or ``TypeError`` so that callers catching the builtins keep working.
"""

__all__ = [
    "InvalidCountsError",
    "PrivacyParameterError",
    "AuditViolationError",
    "PrivacyWarning",
    "NoPrivacyGuaranteeWarning",
    "BudgetExhaustedError",
    "LowEventWarning",
    "LowEventError",
    "PrivacyDeprecationWarning",
]


class InvalidCountsError(ValueError):
    """Attack counts that cannot be used: negative, non-integer, or an empty class (P = 0 or N = 0)."""


class PrivacyParameterError(ValueError):
    """A privacy parameter (epsilon, delta, level, prior) outside its valid range."""


class AuditViolationError(RuntimeError):
    """An empirical lower bound on epsilon exceeds the theoretical (accountant) epsilon.

    This signals a bug in the training/accounting pipeline or in the attack bookkeeping,
    not a statistical fluctuation that can be ignored (up to the stated credibility level).
    """


class PrivacyWarning(UserWarning):
    """A statistical or numerical caveat about a privacy estimate that does not invalidate it."""


class PrivacyDeprecationWarning(PrivacyWarning, FutureWarning):
    """A renamed argument or attribute was used by its former name (it works for one more release)."""


class NoPrivacyGuaranteeWarning(PrivacyWarning):
    """The requested computation is a heuristic that carries no formal differential-privacy guarantee."""


class BudgetExhaustedError(RuntimeError):
    """A budgeted mechanism (Thresholdout's holdout) was queried after its budget was spent."""


class LowEventWarning(PrivacyWarning):
    """A private Kaplan-Meier release has too few deaths for its noise: curve biased down, band under-covers.

    See ``PrivateKaplanMeier`` (*Low-event regime*) and :func:`privacy.survival.intervals.phantom_death_ratio`.
    """


class LowEventError(ValueError):
    """``PrivateKaplanMeier(on_low_events="raise")`` in the low-event regime (same text as :class:`LowEventWarning`)."""
