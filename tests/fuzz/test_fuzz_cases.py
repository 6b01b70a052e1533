"""Run every row of the fuzz case tables, check that every export is fuzzed, and keep the docs counts current.

- ``test_case``: each concrete bad input gives the outcome its row states (see ``_cases.py``): a clear error of
  ours, or the documented value (a False flag, NaN where promised); a remaining gap is stated as such, so
  fixing it fails the row until the table (and so the counts) is updated.
- ``test_every_export_is_fuzzed_or_exempt``: every name in ``probinf.__all__`` and ``probinf.kernels.__all__``
  is the target of a case, fuzzed by a hypothesis test of ``test_fuzz_core.py``, or listed as not applicable
  with a reason; a new export without fuzzing fails.
- ``test_docs_summary_is_current``: the "Summary" of ``docs/fuzz_inputs.md`` is the tally of the case tables.
- Properties (hypothesis) of the traceable weight blocks: shift invariance, extreme values, the flag agreeing
  with :func:`probinf.check_log_weights`, jit and eager giving the same answer.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_fuzz_core
from _cases import OUTCOMES, all_cases, classify, doc_summary, summary_section, tally
from _cases_core import COVERED_ELSEWHERE, NOT_APPLICABLE
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import probinf
import probinf.kernels

pytestmark = pytest.mark.timeout(300)
CASES = all_cases()
F32_BIG = float(np.float32(3e38))
PROPS = settings(max_examples=25, deadline=None, derandomize=True)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case):
    outcome, detail = classify(case)
    if case.known:
        assert outcome == case.known, (
            f"{case.id}: the known gap ({case.known}) now gives {outcome!r} ({detail}); if it is fixed, update its "
            "row (expect=...) and rerun `python tests/fuzz/_cases.py --write`")
    else:
        assert outcome == case.expect, f"{case.id}: expected {case.expect}, got {outcome}: {detail}"


def test_case_ids_are_unique_and_outcomes_named():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert {c.outcome for c in CASES} <= set(OUTCOMES)
    assert all(c.note for c in CASES if c.known), "a known gap must name its fix"


@pytest.mark.parametrize("module", [probinf, probinf.kernels], ids=lambda m: m.__name__)
def test_every_export_is_fuzzed_or_exempt(module):
    targets = {c.target for c in CASES if c.package in ("probinf", "probinf.kernels")}
    for name, test in COVERED_ELSEWHERE.items():
        assert callable(getattr(test_fuzz_core, test, None)), f"{name}: {test} is not a test of test_fuzz_core.py"
    covered = targets | set(COVERED_ELSEWHERE)
    exports = set(module.__all__)
    missing = sorted(exports - covered - set(NOT_APPLICABLE))
    assert not missing, f"exported by {module.__name__} but neither fuzzed nor listed as not applicable: {missing}"
    both = sorted(exports & covered & set(NOT_APPLICABLE))
    assert not both, f"listed as not applicable but fuzzed: {both}"
    for name in exports & set(NOT_APPLICABLE):
        obj = getattr(module, name)
        assert isinstance(obj, (type, tuple, dict, list, str)), f"{name} is callable code: fuzz it instead"
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            assert obj.__name__.endswith(("Result", "Info", "Scores")), f"{name}: only result types are exempt"


def test_docs_summary_is_current():
    assert doc_summary() == summary_section(CASES), (
        "docs/fuzz_inputs.md Summary is stale: run `python tests/fuzz/_cases.py --write`")


def test_tally_counts_every_case_once():
    counts = tally(CASES)
    assert sum(r["tried"] for r in counts.values()) == len(CASES)
    for row in counts.values():
        assert row["tried"] == sum(row[o] for o in OUTCOMES)


# ---------------------------------------------------------------------------- properties of the weight blocks

finite_lw = hnp.arrays(np.float32, st.integers(1, 8), elements=st.floats(-50, 50, width=32))
_raw_lw = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4),
                     elements=st.one_of(st.floats(-1e3, 1e3), st.sampled_from([np.nan, np.inf, -np.inf])))
_CASTS = {"float32": lambda a: a.astype(np.float32), "float64": lambda a: a,
          "int32": lambda a: np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0).astype(np.int32)}
# log-weights of every rank 0-2, sizes 0-4, float or integer dtype, with NaN / +inf / -inf entries
any_lw = st.tuples(_raw_lw, st.sampled_from(sorted(_CASTS))).map(lambda t: _CASTS[t[1]](t[0]))


@PROPS
@given(finite_lw, st.floats(-1e3, 1e3, width=32))
def test_weight_blocks_are_shift_invariant(lw, c):
    shifted = lw + np.float32(c)
    np.testing.assert_allclose(probinf.normalize(shifted), probinf.normalize(lw), atol=1e-3)
    np.testing.assert_allclose(probinf.ess(shifted), probinf.ess(lw), rtol=1e-3)
    np.testing.assert_allclose(probinf.log_mean_exp(shifted), probinf.log_mean_exp(lw) + np.float32(c), atol=1e-3)


@PROPS
@given(hnp.arrays(np.float32, st.integers(1, 8), elements=st.floats(-F32_BIG, F32_BIG, width=32)))
def test_ess_is_exact_at_extreme_values(lw):
    """Log-weights up to +-3e38 (float32's range): no overflow; ESS equals the float64 closed form, in [1, N]."""
    e = float(jax.jit(probinf.ess)(lw))
    w = np.exp(lw.astype(np.float64) - lw.astype(np.float64).max())
    assert 1.0 - 1e-5 <= e <= lw.size * (1 + 1e-5)
    np.testing.assert_allclose(e, w.sum() ** 2 / (w**2).sum(), rtol=1e-4)


@PROPS
@given(any_lw)
def test_weights_valid_agrees_with_check_log_weights(lw):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probinf.check_log_weights(lw)
        accepted = True
    except (probinf.InvalidWeightsError, probinf.DegenerateWeightsError):
        accepted = False
    assert bool(probinf.weights_valid(lw)) == accepted
    assert bool(jax.jit(probinf.weights_valid)(lw)) == accepted


@PROPS
@given(any_lw.filter(lambda a: a.ndim >= 1 and a.shape[-1] >= 1 and a.dtype.kind == "f"))
def test_ess_is_nan_exactly_where_a_row_is_invalid(lw):
    e = np.asarray(jax.jit(probinf.ess)(lw))
    rows = lw.reshape(-1, lw.shape[-1])
    bad = np.array([not bool(probinf.weights_valid(r)) for r in rows], dtype=bool).reshape(e.shape)
    assert np.array_equal(np.isnan(e), bad)
    good = e[~bad]
    assert ((good >= 1 - 1e-4) & (good <= lw.shape[-1] * (1 + 1e-4))).all()


@settings(max_examples=10, deadline=None, derandomize=True)
@given(any_lw.filter(lambda a: a.ndim >= 1))
def test_weight_blocks_jit_equals_eager(lw):
    for fn in (probinf.normalize, probinf.weights_valid):
        np.testing.assert_array_equal(np.asarray(jax.jit(fn)(lw)), np.asarray(fn(lw)))
    if lw.shape[-1] >= 1:
        np.testing.assert_allclose(np.asarray(jax.jit(probinf.ess)(lw)), np.asarray(probinf.ess(jnp.asarray(lw))),
                                   rtol=1e-6)
