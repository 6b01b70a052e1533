"""Tests of privacy/_numbers.py and its callers: scalar parameters are real numbers, never text or bools."""

import math

import numpy as np
import pytest

from privacy import PrivateKaplanMeier
from privacy._numbers import real_number
from privacy.audit import check_audit


@pytest.mark.parametrize("v, expect", [(1, 1.0), (1.5, 1.5), (np.float32(2.0), 2.0), (np.array(3.0), 3.0),
                                       (np.int64(4), 4.0), (math.inf, math.inf)])
def test_reals_pass(v, expect):
    assert real_number(v, "x") == expect


def test_nan_passes_through_for_the_range_checks():
    assert math.isnan(real_number(math.nan, "x"))


@pytest.mark.parametrize("v", ["1", b"1", True, np.bool_(True), None, [1.0], np.array([1.0]), 1j, object(),
                               np.array("1")])
def test_non_reals_are_a_type_error_naming_the_parameter(v):
    with pytest.raises(TypeError, match="epsilon must be a real number"):
        real_number(v, "epsilon")


@pytest.mark.parametrize("kw, match", [({"epsilon": "1.0"}, "epsilon must be a real number"),
                                       ({"epsilon": True}, "epsilon must be a real number"),
                                       ({"epsilon": 1.0, "alpha": "0.05"}, "alpha must be a real number"),
                                       ({"epsilon": 1.0, "n_bootstrap": "10"}, "n_bootstrap must be an integer")])
def test_private_km_refuses_text_parameters(kw, match):
    t, e = np.arange(1.0, 31.0), np.ones(30)
    with pytest.raises(TypeError, match=match):
        PrivateKaplanMeier(**kw).fit(t, e)


def test_check_audit_refuses_text():
    with pytest.raises(TypeError, match="lower_bound must be a real number"):
        check_audit("1.0", 2.0)
    assert check_audit(np.float64(1.0), np.array(2.0))
