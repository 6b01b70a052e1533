"""``level`` is the former name of ``confidence_level`` in the results' accessors (docs/conventions.md): it works
for one more release, warns with :class:`conformal.ConformalDeprecationWarning` and selects the same column."""

from __future__ import annotations

import numpy as np
import pytest

from conformal import ConformalDeprecationWarning, ConformalWarning, PredictionIntervals, PredictionSets

LEVELS = (0.8, 0.9)
RES = PredictionIntervals(prediction=np.zeros(3), lower=np.array([[-1.0, -2.0]] * 3),
                          upper=np.array([[1.0, 2.0]] * 3), confidence_level=LEVELS)
SETS = PredictionSets(prediction=np.zeros(3), sets=np.arange(12).reshape(3, 2, 2) % 3 == 0, classes=np.array([0, 1]),
                      confidence_level=LEVELS)


def test_the_warning_is_a_conformal_warning_and_a_future_warning():
    assert issubclass(ConformalDeprecationWarning, ConformalWarning)
    assert issubclass(ConformalDeprecationWarning, FutureWarning)


def test_interval_level_warns_and_selects_the_same_column():
    new = RES.interval(confidence_level=0.9)
    np.testing.assert_array_equal(new[0], RES.lower[:, 1])  # not the other column: the test can fail
    with pytest.warns(ConformalDeprecationWarning, match="level was renamed to confidence_level") as rec:
        old = RES.interval(level=0.9)
    assert rec[0].filename == __file__
    np.testing.assert_array_equal(old[0], new[0])
    np.testing.assert_array_equal(old[1], new[1])


def test_set_at_level_warns_and_selects_the_same_column():
    new = SETS.set_at(confidence_level=0.8)
    assert not np.array_equal(new, SETS.set_at(0.9))
    with pytest.warns(ConformalDeprecationWarning, match="level was renamed"):
        old = SETS.set_at(level=0.8)
    np.testing.assert_array_equal(old, new)


def test_both_names_and_missing_level():
    with pytest.raises(TypeError, match="both given"):
        RES.interval(0.8, level=0.9)
    with pytest.raises(ValueError, match="pass confidence_level= one of them"):
        SETS.set_at()
