"""DP-SGD audit: the pipeline runs, its bookkeeping is right, and the consistency check bites."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("opacus")
torch = pytest.importorskip("torch")

from privacy import AuditViolationError, PrivacyDeprecationWarning, PrivacyWarning  # noqa: E402
from privacy.audit import accountant_epsilon, check_audit, load_digits_split, run_audit  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_check_audit_raises_and_flags():
    assert check_audit(1.0, 2.0) and check_audit(0.0, 0.0) and check_audit(3.0, math.inf)
    with pytest.raises(AuditViolationError, match="exceeds the theoretical epsilon"):
        check_audit(2.5, 2.0)
    with pytest.warns(PrivacyWarning, match="audit violation"):
        assert check_audit(2.5, 2.0, strict=False) is False
    with pytest.raises(ValueError):
        check_audit(float("nan"), 1.0)


def test_accountant_epsilon_matches_opacus_and_is_monotone():
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    for _ in range(50):
        acc.step(noise_multiplier=1.0, sample_rate=0.25)
    e = accountant_epsilon(1.0, 0.25, 50, 1e-5)
    assert e["rdp"] == pytest.approx(acc.get_epsilon(1e-5), rel=1e-12)
    assert e["prv"] <= e["rdp"] * 1.01  # PRV is (numerically) the tighter accountant
    more = accountant_epsilon(2.0, 0.25, 50, 1e-5)
    assert more["rdp"] < e["rdp"] and more["prv"] < e["prv"]
    assert accountant_epsilon(0.0, 0.25, 50, 1e-5) == {"rdp": math.inf, "prv": math.inf}


def test_digits_split_is_bundled_and_standardised():
    Xb, yb, Xp, yp = load_digits_split(1000, 0)
    assert Xb.shape == (1000, 64) and Xp.shape == (797, 64) and set(np.unique(yb)) == set(range(10))
    assert abs(float(Xb.mean())) < 1e-5


def test_quick_dp_audit_is_consistent_and_bookkeeping_right():
    res = run_audit(n_models=2, canaries_per_model=16, noise_multiplier=1.0, epochs=1, show_progress=False,
                    random_state=1)
    t = res.trials
    assert len(t) == 32 and set(t.split) == {"calibration", "evaluation"}
    ev = t[t.split == "evaluation"]
    c = res.counts
    assert c.P + c.N == len(ev) == 16
    assert c.P == int(ev.bit.sum()) and c.tp == int(((ev.guess == 1) & (ev.bit == 1)).sum())
    assert np.isfinite(res.accountant["rdp"]) and res.theoretical_epsilon == min(res.accountant.values())
    assert res.consistent and res.lower_bound <= res.theoretical_epsilon
    assert res.interval[0] <= res.interval[1] and res.test_accuracy > 0.25  # 1 epoch: well above chance (0.1)
    s = res.summary()
    assert s["tp"] == c.tp and s["eps_rdp"] == res.accountant["rdp"]
    # same seed, same result
    again = run_audit(n_models=2, canaries_per_model=16, noise_multiplier=1.0, epochs=1, show_progress=False,
                      random_state=1)
    assert again.counts == res.counts and again.threshold == res.threshold


def test_audit_flags_a_false_privacy_claim():
    # negative control: a NON-private model that memorises its mislabelled canaries, audited against a
    # (false) claim of eps = 0.05; the lower bound must exceed the claim and the check must fire
    kw = dict(n_models=2, canaries_per_model=64, noise_multiplier=None, epochs=40, batch_size=128, lr=0.5,
              show_progress=False, random_state=0, claimed_epsilon=0.05)
    with pytest.warns(PrivacyWarning, match="audit violation"):
        res = run_audit(**{**kw, "strict": False})
    assert not res.consistent and res.lower_bound > 0.05
    with pytest.raises(AuditViolationError):  # what strict=True (the default) raises inside run_audit
        check_audit(max(res.lower_bound, res.cp_lower_bound), res.theoretical_epsilon)


def test_audit_bad_input():
    with pytest.raises(ValueError, match="canaries_per_model must be even"):
        run_audit(canaries_per_model=7)
    with pytest.raises(ValueError, match="n_models"):
        run_audit(n_models=0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        run_audit(noise_multiplier=-1.0)
    with pytest.raises(ValueError, match="delta"):
        run_audit(delta=2.0)
    with pytest.raises(ValueError, match="confidence_level"):
        run_audit(confidence_level=1.0)


def test_audit_former_level_name_warns_and_gives_the_same_audit():
    kw = dict(n_models=1, canaries_per_model=8, epochs=1, n_base=300, show_progress=False, random_state=5)
    new = run_audit(confidence_level=0.8, **kw)
    with pytest.warns(PrivacyDeprecationWarning, match="level was renamed to confidence_level"):
        old = run_audit(level=0.8, **kw)
    assert old.summary() == new.summary() and new.confidence_level == 0.8
    assert new.lower_bound != run_audit(confidence_level=0.95, **kw).lower_bound  # the level reaches the bound
    with pytest.warns(PrivacyDeprecationWarning, match="AuditResult.level was renamed"):
        assert new.level == 0.8
