"""Priors of the epsilon posterior (:func:`privacy.epsilon_posterior`): names, pairs, dicts -> pseudo-counts.

``"jeffreys"`` is Beta(1/2, 1/2) for each error rate, ``"uniform"`` Beta(1, 1); a pair ``(a, b)`` sets both
rates, ``{"fpr": (a, b), "fnr": (a, b)}`` each; with ``model="dirichlet"`` a concentration per cell or a dict
``{"tp": ..., "fn": ..., "tn": ..., "fp": ...}``.

Examples
--------
>>> resolve_prior("jeffreys", "independent")
{'tp': 0.5, 'fn': 0.5, 'tn': 0.5, 'fp': 0.5}
>>> resolve_prior((1, 2), "independent")
{'fp': 1.0, 'tn': 2.0, 'fn': 1.0, 'tp': 2.0}
"""

from __future__ import annotations

import numbers

import numpy as np

from privacy._numbers import real_number
from privacy.exceptions import PrivacyParameterError

__all__ = ["resolve_prior", "check_prior_parameter", "NAMED_PRIORS"]

#: Named priors: the Beta parameter used for every pseudo-count.
NAMED_PRIORS = {"jeffreys": 0.5, "uniform": 1.0}


def check_prior_parameter(v, what: str) -> float:
    """A prior pseudo-count or Beta parameter: a positive finite number (``PrivacyParameterError`` otherwise)."""
    f = real_number(v, f"prior parameter {what}", "a positive number", PrivacyParameterError)
    if not (f > 0 and np.isfinite(f)):
        raise PrivacyParameterError(f"prior parameter {what} must be positive and finite, got {v!r}")
    return f


def resolve_prior(prior, model: str) -> dict:
    """Prior pseudo-counts as a dict with keys tp, fn, tn, fp."""
    if isinstance(prior, str):
        if prior not in NAMED_PRIORS:
            raise PrivacyParameterError(f"unknown prior {prior!r}; expected one of {sorted(NAMED_PRIORS)}, "
                                        "a pair (a, b), or a dict")
        v = NAMED_PRIORS[prior]
        return dict(tp=v, fn=v, tn=v, fp=v)
    if model == "independent":
        if isinstance(prior, dict):
            unknown = set(prior) - {"fpr", "fnr"}
            if unknown or not prior:
                raise PrivacyParameterError(f"an independent-model prior dict takes keys 'fpr' and 'fnr' (each a pair "
                                            f"(a, b) of Beta parameters), got keys {sorted(prior)}")
            fpr = prior.get("fpr", (0.5, 0.5))
            fnr = prior.get("fnr", (0.5, 0.5))
        else:
            fpr = fnr = prior
        try:
            (afp, btn), (afn, btp) = fpr, fnr
        except (TypeError, ValueError):
            raise PrivacyParameterError(f"prior must be 'jeffreys', 'uniform', a pair (a, b) of Beta parameters or "
                                        f"{{'fpr': (a, b), 'fnr': (a, b)}}, got {prior!r}") from None
        return dict(fp=check_prior_parameter(afp, "a_fpr"), tn=check_prior_parameter(btn, "b_fpr"),
                    fn=check_prior_parameter(afn, "a_fnr"), tp=check_prior_parameter(btp, "b_fnr"))
    # dirichlet: concentration per cell
    if isinstance(prior, dict):
        low = {str(k).lower(): v for k, v in prior.items()}
        if set(low) != {"tp", "fn", "tn", "fp"}:
            raise PrivacyParameterError("a Dirichlet prior dict needs exactly the keys tp, fn, tn, fp, got "
                                        f"{sorted(prior)}")
        return {k: check_prior_parameter(v, k) for k, v in low.items()}
    if isinstance(prior, (numbers.Real, np.floating)):
        v = check_prior_parameter(prior, "concentration")
        return dict(tp=v, fn=v, tn=v, fp=v)
    raise PrivacyParameterError(f"a Dirichlet prior must be 'jeffreys', 'uniform', a positive concentration or a dict "
                                f"with keys tp, fn, tn, fp; got {prior!r}")
