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
