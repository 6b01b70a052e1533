"""Case table of the applications and the CLI: the concrete rows of issue 14 outside the core, re-run.

The four application suites (``test_fuzz_{conformal,privacy,crowd,llm_bridge}.py``) fuzz every export with
hypothesis; these rows are the representative inputs of the issue, kept as concrete cases so that the counts
of ``docs/fuzz_inputs.md`` include them.  Rows of the issue covered by other tests are listed in
:data:`ISSUE_ROWS_ELSEWHERE`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _cases import Case
from sklearn.linear_model import LinearRegression

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 2))
Y = X[:, 0] + RNG.normal(size=40)


def _weighted_zero_lr():
    from conformal import WeightedConformalRegressor

    est = WeightedConformalRegressor(LinearRegression().fit(X, Y), likelihood_ratio=lambda Z: np.zeros(len(Z)),
                                     prefit=True)
    return est.conformalize(X, Y).predict_interval(X[:3])


def _weighted_nan_lr():
    from conformal import WeightedConformalRegressor

    est = WeightedConformalRegressor(LinearRegression().fit(X, Y), likelihood_ratio=lambda Z: np.full(len(Z), np.nan),
                                     prefit=True)
    return est.conformalize(X, Y).predict_interval(X[:3])


def _crowd(method: str, labels: list, skills=None):
    import crowd

    df = pd.DataFrame({"task": [0, 0, 1, 1, 2, 2], "worker": [0, 1, 0, 1, 0, 1], "label": labels})
    est = crowd.MajorityVote() if method == "mv" else crowd.DawidSkene()
    return est.fit(df, skills) if skills is not None else est.fit(df)


def _accountant(**kw):
    from privacy.audit import accountant_epsilon

    args = dict(noise_multiplier=1.0, sample_rate=0.01, steps=100, delta=1e-5) | kw
    return accountant_epsilon(**args)


def _cli(*args: str):
    from typer.testing import CliRunner

    from probinf_cli.main import app

    return CliRunner().invoke(app, list(args))


def _unwritable(tmp_name: str = "probinf-fuzz-blocker"):
    import os
    import tempfile

    blocker = os.path.join(tempfile.gettempdir(), f"{tmp_name}-{os.getpid()}")
    open(blocker, "w").close()
    return os.path.join(blocker, "sub")


DP = ["dp-epsilon", "--tp", "900", "--fn", "100", "--tn", "950", "--fp", "50", "--delta", "1e-5"]
APP_CASES: list[Case] = [
    Case("conformal", "WeightedConformalRegressor", "all-zero likelihood ratios (issue 14)", _weighted_zero_lr),
    Case("conformal", "WeightedConformalRegressor", "NaN likelihood ratios", _weighted_nan_lr),
    Case("crowd", "MajorityVote", "labels mixing 3 and '3' (issue 14)", lambda: _crowd("mv", [3, "3", 1, 1, 2, 2])),
    Case("crowd", "DawidSkene", "labels mixing 3 and '3' (issue 14)", lambda: _crowd("ds", [3, "3", 1, 1, 2, 2])),
    Case("crowd", "MajorityVote", "negative skills as weights (issue 14)",
         lambda: _crowd("mv", [1, 2, 1, 2, 1, 2], pd.Series({0: -1.0, 1: 1.0}))),
    Case("privacy", "accountant_epsilon", "sample_rate q > 1 (issue 14)", lambda: _accountant(sample_rate=1.5)),
    Case("privacy", "accountant_epsilon", "steps = 0 (issue 14)", lambda: _accountant(steps=0)),
    Case("privacy", "accountant_epsilon", "delta = 0 (issue 14)", lambda: _accountant(delta=0.0)),
    Case("probinf_cli", "dp-epsilon", "--level 0.3 (issue 14)", lambda: _cli(*DP, "--level", "0.3"), cli=True),
    Case("probinf_cli", "dp-epsilon", "--delta 1.5", lambda: _cli(*DP[:-1], "1.5"), cli=True),
    Case("probinf_cli", "reproduce", "--out an unwritable dir (issue 14)",
         lambda: _cli("reproduce", "dp-km", "--out", _unwritable()), cli=True),
    Case("probinf_cli", "reproduce", "unknown name", lambda: _cli("reproduce", "nope", "--out", _unwritable()),
         cli=True),
]

#: rows of issue 14 re-checked by other tests (name -> test that asserts the clear error / documented result)
ISSUE_ROWS_ELSEWHERE: dict[str, str] = {
    "tempered_smc from identical particles": "tests/fuzz/test_fuzz_core.py::test_tempered_smc (init_particles)",
    "pmmh with a short parameter vector": "tests/fuzz/test_fuzz_core.py::test_pmmh (initial_theta)",
    "particle filter N = 1, particle_gibbs N = 1":
        "tests/fuzz/test_fuzz_core.py::test_particle_filter_one_particle_warns_and_list_observations_work, "
        "test_particle_gibbs (num_particles)",
    "key=0, key=None, num_steps=0, N = 0, a list, wrong observation shape":
        "tests/fuzz/test_fuzz_core.py::test_particle_filter, test_linear_gaussian_simulate",
    "tts run --no-resume --limit 1 on an existing file":
        "tests/probinf_cli/test_tts_cli.py::test_no_resume_never_deletes_results_without_overwrite",
    "--base-url ending in /v1, server not running, blocking in-process backend": "tests/llm_bridge/test_faults.py",
}
