"""Data sizes are ``n_*`` and sampler sizes ``num_*`` (docs/conventions.md): the former ``num_problems`` and
``num_seeds`` (data sizes) still work for one release and warn with ``LLMBridgeDeprecationWarning``."""

from __future__ import annotations

import numpy as np
import pytest

from llm_bridge import LLMBridgeDeprecationWarning, LLMBridgeWarning
from llm_bridge.evaluation import monkeys
from llm_bridge.evaluation.paired import bootstrap_indices


def test_the_warning_is_an_llm_bridge_warning_and_a_future_warning():
    assert issubclass(LLMBridgeDeprecationWarning, LLMBridgeWarning)
    assert issubclass(LLMBridgeDeprecationWarning, FutureWarning)


def test_bootstrap_indices_former_names_warn_and_give_the_same_indices():
    new = bootstrap_indices(n_problems=7, n_seeds=3, num_resamples=20, random_state=1)
    assert new[0].shape == (20, 7) and new[1].shape == (20, 7, 3)
    with pytest.warns(LLMBridgeDeprecationWarning, match="num_problems was renamed to n_problems"):
        old = bootstrap_indices(num_problems=7, n_seeds=3, num_resamples=20, random_state=1)
    np.testing.assert_array_equal(old[0], new[0])
    np.testing.assert_array_equal(old[1], new[1])
    with pytest.warns(LLMBridgeDeprecationWarning, match="num_seeds was renamed to n_seeds"):
        old = bootstrap_indices(7, num_seeds=3, num_resamples=20, random_state=1)
    np.testing.assert_array_equal(old[1], new[1])
    np.testing.assert_array_equal(bootstrap_indices(7, 3, 20, 1)[1], new[1])  # positional calls are unchanged
    with pytest.raises(TypeError, match="both given"):
        bootstrap_indices(n_problems=7, num_problems=7, n_seeds=3)


def test_run_monkeys_former_num_problems_warns_before_loading_the_model(monkeypatch):
    """The model load is stopped at once (it needs a download); the warning and the both-names error come first."""
    class Stop(Exception):
        pass

    def stop():
        raise Stop

    monkeypatch.setattr(monkeys, "smollm_gguf_path", stop)
    with pytest.warns(LLMBridgeDeprecationWarning, match="num_problems was renamed to n_problems"), \
            pytest.raises(Stop):
        monkeys.run_monkeys(num_problems=3)
    with pytest.raises(TypeError, match="both given"):
        monkeys.run_monkeys(n_problems=3, num_problems=3)


def test_level_is_confidence_level_and_the_former_name_warns():
    """Bootstrap intervals take ``confidence_level`` (docs/conventions.md); ``level`` warns for one release."""
    import pandas as pd

    from llm_bridge.estimators import accuracy_vs_budget, bootstrap_mean, coverage_curve
    from llm_bridge.evaluation.coverage import fit_loglinear_coverage
    from llm_bridge.evaluation.paired import budget_ratio_to_match, paired_bootstrap

    rng = np.random.default_rng(0)
    a, b = rng.random((30, 2)), rng.random((30, 2))
    n, c = np.full(30, 16), rng.integers(1, 15, 30)
    df = pd.DataFrame({"problem": np.repeat(np.arange(30), 2), "method": "m", "budget": 4,
                       "correct": rng.integers(0, 2, 60)})
    bon = np.sort(rng.random((30, 2, 3)), axis=2)
    calls = {
        "bootstrap_mean": lambda **kw: bootstrap_mean(a[:, 0], num_resamples=50, **kw)[1],
        "coverage_curve": lambda **kw: coverage_curve(n, c, [1, 2, 4], num_resamples=50, **kw)["lower"].to_numpy(),
        "accuracy_vs_budget": lambda **kw: accuracy_vs_budget(df, num_resamples=50, **kw)["lower"].to_numpy(),
        "fit_loglinear_coverage": lambda **kw: fit_loglinear_coverage(n, c, [1, 2, 4, 8], num_resamples=50,
                                                                      **kw).a_ci,
        "paired_bootstrap": lambda **kw: paired_bootstrap(a, b, num_resamples=50, **kw).lower,
        "budget_ratio_to_match": lambda **kw: budget_ratio_to_match(bon, bon[:, :, 1], [1, 2, 4], 2,
                                                                    num_resamples=50, **kw),
    }
    for name, call in calls.items():
        new = call(confidence_level=0.6)
        with pytest.warns(LLMBridgeDeprecationWarning, match="level was renamed to confidence_level"):
            old = call(level=0.6)
        assert str(old) == str(new), name
        with pytest.raises(TypeError, match="both given"):
            call(confidence_level=0.8, level=0.6)
    assert str(calls["paired_bootstrap"](confidence_level=0.6)) != str(calls["paired_bootstrap"](confidence_level=0.99))
    iv = paired_bootstrap(a, b, num_resamples=50, confidence_level=0.6)
    with pytest.warns(LLMBridgeDeprecationWarning, match="Interval.level was renamed"):
        assert iv.level == iv.confidence_level == 0.6
