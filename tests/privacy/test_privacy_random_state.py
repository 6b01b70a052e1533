"""``random_state`` of the privacy estimators (docs/conventions.md): ``None`` is fresh entropy, an int or a
Generator in the same state give the same release, anything else is a ``TypeError`` naming it."""

from __future__ import annotations

import numpy as np
import pytest

from privacy import PrivateKaplanMeier, ReusableHoldout

T = np.array([5.0, 8.0, 12.0, 20.0, 25.0, 30.0, 40.0, 41.0])
E = np.array([1, 0, 1, 1, 0, 1, 1, 0])


def _km(random_state):
    km = PrivateKaplanMeier(1.0, grid=[10.0, 20.0, 30.0, 40.0], n_bootstrap=20, on_low_events="ignore",
                            random_state=random_state)
    return km.fit(T, E).survival_function_.to_numpy()


def _holdout(random_state):
    h = ReusableHoldout(0.04, 0.01, 5, random_state=random_state)
    return [h.query(0.9, 0.5) for _ in range(3)]  # over the threshold: noisy holdout answers


@pytest.mark.parametrize("release", [_km, _holdout], ids=["kaplan_meier", "holdout"])
def test_random_state_none_int_generator(release):
    assert not np.array_equal(release(None), release(None))
    np.testing.assert_array_equal(release(6), release(np.random.default_rng(6)))
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(TypeError, match="random_state must be None, a non-negative int seed"):
            release(bad)
