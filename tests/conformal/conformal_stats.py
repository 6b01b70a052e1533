"""Statistical helpers of the conformal validity tests.

Family error: every one-sided test in tests/conformal uses the critical value
``Z = Phi^{-1}(1 - FAMILY_DELTA / N_TESTS)`` (Bonferroni over at most ``N_TESTS`` one-sided
tests, family-wise error ``FAMILY_DELTA = 1e-3``), so a correct implementation fails the whole
suite with probability below 1e-3 (and never, for the fixed seeds used).

Standard errors.  For split conformal with n calibration points and k = ceil((n+1)(1-alpha)),
the coverage given the calibration set is C ~ Beta(k, n+1-k) (continuous scores).  The mean of
R independent replications, each scored on m test points, has variance
``Var(C)/R + E[C(1-C)]/(R m)`` with ``Var(C) = ab/((a+b)^2(a+b+1))`` and
``E[C(1-C)] = ab/((a+b)(a+b+1))`` (a = k, b = n+1-k).  Methods without a Beta law use the
empirical standard error of the R replicate means (R >= 300, normal approximation).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

FAMILY_DELTA = 1e-3
N_TESTS = 80
Z = float(stats.norm.isf(FAMILY_DELTA / N_TESTS))  # about 4.2
P_MIN = FAMILY_DELTA / N_TESTS  # per-test significance for chi-square / KS tests


def beta_params(n: int, level: float):
    k = int(np.ceil((n + 1) * level - 1e-9 * (n + 1)))
    return k, n + 1 - k


def beta_sd(n: int, level: float, R: int, m: int) -> float:
    a, b = beta_params(n, level)
    var_c = a * b / ((a + b) ** 2 * (a + b + 1))
    e_c1c = a * b / ((a + b) * (a + b + 1))
    return float(np.sqrt(var_c / R + e_c1c / (R * m)))


def assert_in_band(covered, lower, upper=None, *, sd=None, what=""):
    """Two one-sided tests: mean coverage >= lower and (if given) <= upper, at level Z * sd.

    ``covered`` is (R, m) booleans (replication x test point).  ``sd`` defaults to the
    empirical standard error of the replicate means.
    """
    covered = np.asarray(covered, dtype=float)
    R = covered.shape[0]
    rep = covered.mean(axis=1)
    if sd is None:
        sd = rep.std(ddof=1) / np.sqrt(R)
    mean = rep.mean()
    assert mean >= lower - Z * sd, f"{what}: coverage {mean:.4f} below {lower:.4f} (tol {Z * sd:.4f})"
    if upper is not None:
        assert mean <= upper + Z * sd, f"{what}: coverage {mean:.4f} above {upper:.4f} (tol {Z * sd:.4f})"
    return mean
