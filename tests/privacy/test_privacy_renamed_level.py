"""The former name ``level`` of ``confidence_level`` (docs/conventions.md) still works for one release: it warns
with :class:`privacy.PrivacyDeprecationWarning` and gives exactly the result of the new name."""

from __future__ import annotations

import numpy as np
import pytest

from privacy import AttackCounts, PrivacyDeprecationWarning, PrivacyWarning, epsilon_posterior
from privacy.baselines import (
    clopper_pearson_interval,
    clopper_pearson_lower_bound,
    jeffreys_interval,
    rectangle_interval,
)
from privacy.km_audit import audit_laplace_count, audit_scores

COUNTS = AttackCounts(tp=900, fn=100, tn=950, fp=50)
POST = epsilon_posterior(COUNTS, 1e-5)


def test_the_warning_is_a_privacy_warning_and_a_future_warning():
    assert issubclass(PrivacyDeprecationWarning, PrivacyWarning)
    assert issubclass(PrivacyDeprecationWarning, FutureWarning)


@pytest.mark.parametrize("call", [
    lambda **kw: POST.interval(**kw),
    lambda **kw: POST.lower_bound(**kw),
    lambda **kw: POST.upper_bound(**kw),
    lambda **kw: POST.summary(**kw),
    lambda **kw: clopper_pearson_interval(COUNTS, 1e-5, **kw),
    lambda **kw: jeffreys_interval(COUNTS, 1e-5, **kw),
    lambda **kw: rectangle_interval(COUNTS, 1e-5, method="jeffreys", **kw),
    lambda **kw: clopper_pearson_lower_bound(COUNTS, 1e-5, **kw),
    lambda **kw: audit_laplace_count(1.0, n_trials=400, random_state=3, **kw).lower_bound,
    lambda **kw: audit_scores(np.arange(40.0), np.arange(40) % 2, claimed_epsilon=1.0, mechanism="m",
                              attack="a", random_state=1, **kw).interval,
], ids=["interval", "lower_bound", "upper_bound", "summary", "clopper_pearson", "jeffreys", "rectangle",
        "cp_lower_bound", "audit_laplace_count", "audit_scores"])
def test_level_warns_and_gives_the_confidence_level_result(call):
    new = call(confidence_level=0.8)
    assert new != call(confidence_level=0.9)  # the level reaches the result, so the comparison below can fail
    with pytest.warns(PrivacyDeprecationWarning, match="level was renamed to confidence_level"):
        old = call(level=0.8)
    assert old == new


def test_the_warning_points_at_the_caller():
    with pytest.warns(PrivacyDeprecationWarning) as rec:
        POST.interval(level=0.8)
    assert rec[0].filename == __file__


def test_both_names_is_a_type_error():
    with pytest.raises(TypeError, match="level and confidence_level were both given"):
        POST.interval(0.8, level=0.9)
    with pytest.raises(TypeError, match="both given"):
        clopper_pearson_interval(COUNTS, 1e-5, confidence_level=0.8, level=0.9)


def test_a_bad_level_under_the_old_name_still_raises_after_the_warning():
    with pytest.warns(PrivacyDeprecationWarning), pytest.raises(ValueError, match="confidence_level"):
        POST.interval(level=1.5)


def test_renamed_result_fields_keep_their_old_name_with_a_warning():
    iv = clopper_pearson_interval(COUNTS, 1e-5, 0.9)
    assert iv.confidence_level == 0.9 and "confidence_level" in iv.to_dict()
    with pytest.warns(PrivacyDeprecationWarning, match="EpsilonInterval.level was renamed"):
        assert iv.level == 0.9
    res = audit_laplace_count(1.0, n_trials=400, random_state=0, confidence_level=0.9)
    with pytest.warns(PrivacyDeprecationWarning, match="AuditResult.level was renamed"):
        assert res.level == 0.9
    assert "lower_bound_0.9" in res.to_dict()


def test_audit_scores_former_rng_name_warns_and_gives_the_same_audit():
    scores, bits = np.random.default_rng(0).normal(size=200) + np.arange(200) % 2, np.arange(200) % 2
    kw = dict(claimed_epsilon=1.0, mechanism="m", attack="a")
    new = audit_scores(scores, bits, random_state=4, **kw)
    assert new.counts != audit_scores(scores, bits, random_state=5, **kw).counts  # the seed reaches the split
    with pytest.warns(PrivacyDeprecationWarning, match="rng was renamed to random_state"):
        old = audit_scores(scores, bits, rng=4, **kw)
    assert old == new


def test_sample_with_a_generator_warns_and_draws_what_the_int_seed_draws():
    """``sample(key, n)`` takes a JAX key or an int (docs/conventions.md); a Generator is deprecated."""
    with pytest.warns(PrivacyDeprecationWarning, match="numpy Generator is deprecated"):
        old = POST.sample(np.random.default_rng(7), 50)
    np.testing.assert_array_equal(old, POST.sample(7, 50))
    assert not np.array_equal(POST.sample(7, 50), POST.sample(8, 50))
