"""Exceptions and warnings of the probinf core (one place, subclassing builtins)."""

__all__ = [
    "DegenerateWeightsError",
    "InvalidWeightsError",
    "ProbinfWarning",
    "ModelSpecificationError",
    "SMCFailedError",
]


class InvalidWeightsError(ValueError):
    """Log-weights contain NaN or +inf, or have the wrong shape or dtype."""


class DegenerateWeightsError(ValueError):
    """Every log-weight is -inf: no particle carries any mass (total degeneracy)."""


class ModelSpecificationError(ValueError):
    """A model or state-space description cannot be used as given."""


class SMCFailedError(RuntimeError):
    """An SMC run degenerated (all weights zero, NaN evidence) or did not reach its target."""


class ProbinfWarning(UserWarning):
    """Numerical or statistical caveat that does not invalidate a result."""
