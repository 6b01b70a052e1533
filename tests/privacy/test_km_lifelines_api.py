"""lifelines parity of PrivateKaplanMeier: fit(label, alpha, ci_labels, weights, entry, timeline), plot(),
legend with label and epsilon, print_summary()."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from privacy import PrivacyParameterError, PrivateKaplanMeier  # noqa: E402

GRID = np.arange(1, 11) * 50.0


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.exponential(300, n)
    c = rng.choice(GRID, n)
    return np.minimum(t, c), (t <= c).astype(int)


def test_label_alpha_and_ci_labels_as_in_lifelines():
    t, e = _data()
    km = PrivateKaplanMeier(2.0, grid=GRID, n_bootstrap=50, random_state=0).fit(t, e, label="arm A", alpha=0.1)
    assert list(km.survival_function_.columns) == ["arm A"]
    assert list(km.confidence_interval_.columns) == ["arm A_lower_0.9", "arm A_upper_0.9"]
    assert km.label == "DP_KM_estimate" and km.label_ == "arm A"  # constructor parameter untouched
    assert km.predict(np.array([100.0])).name == "arm A"
    km2 = PrivateKaplanMeier(2.0, grid=GRID, n_bootstrap=50, random_state=0).fit(t, e, ci_labels=["lo", "hi"])
    assert list(km2.confidence_interval_.columns) == ["lo", "hi"]
    # alpha=0.1 band is narrower than the default 0.05 band from the same noise
    km3 = PrivateKaplanMeier(2.0, grid=GRID, n_bootstrap=50, random_state=0).fit(t, e)
    w90 = np.diff(km.confidence_interval_.to_numpy(), axis=1)
    w95 = np.diff(km3.confidence_interval_.to_numpy(), axis=1)
    assert np.all(w90 <= w95 + 1e-12) and np.any(w90 < w95)


def test_integer_frequency_weights_equal_repeated_records():
    t, e = _data(100)
    w = np.random.default_rng(1).integers(0, 4, t.size)
    a = PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=30, random_state=5).fit(t, e, weights=w)
    b = PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=30, random_state=5).fit(np.repeat(t, w), np.repeat(e, w))
    np.testing.assert_array_equal(a.noisy_cells_, b.noisy_cells_)
    np.testing.assert_array_equal(a.survival_function_.to_numpy(), b.survival_function_.to_numpy())
    assert a.guarantee_["l1_sensitivity"] == 1.0  # the unit stays one individual


@pytest.mark.parametrize("w", [[0.5], [-1.0], [np.nan]])
def test_case_weights_refused_with_the_privacy_reason(w):
    t, e = _data(20)
    with pytest.raises(PrivacyParameterError, match="sensitivity"):
        PrivateKaplanMeier(1.0, grid=GRID).fit(t, e, weights=np.resize(np.array(w + [1.0] * 19), 20))


def test_entry_and_timeline_refused_with_reasons():
    t, e = _data(20)
    with pytest.raises(ValueError, match="doubling the L1 sensitivity"):
        PrivateKaplanMeier(1.0, grid=GRID).fit(t, e, entry=np.full(20, 3.0))
    km = PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=10, random_state=0, on_low_events="ignore")
    km.fit(t, e, entry=np.zeros(20))  # no truncation: accepted
    with pytest.raises(ValueError, match="must be public"):
        km.fit(t, e, timeline=[1.0, 2.0])


def test_plot_has_legend_with_label_and_epsilon():
    t, e = _data()
    km = PrivateKaplanMeier(0.5, grid=GRID, n_bootstrap=30, random_state=0).fit(t, e, label="treated")
    fig, ax = plt.subplots()
    try:
        assert km.plot(ax=ax) is ax
        texts = [x.get_text() for x in ax.get_legend().get_texts()]
        assert texts[0] == "treated (histogram, ε=0.5)" and "95% band" in texts[1]
        ax2 = km.plot_survival_function(ax=fig.add_subplot(2, 1, 2), legend=False, label="custom", color="k")
        assert ax2.get_legend() is None and ax2.get_lines()[0].get_label() == "custom"
    finally:
        plt.close(fig)


def test_print_summary(capsys):
    t, e = _data()
    km = PrivateKaplanMeier(2.0, grid=GRID, n_bootstrap=30, random_state=0).fit(t, e, label="arm")
    km.print_summary(decimals=3)
    out = capsys.readouterr().out
    assert "label = arm" in out and "epsilon = 2.000" in out and "median_survival_time" in out
    assert "noisy_deaths" in out
    s = km.summary
    assert s.index[0] == "arm" and abs(s["noisy_deaths"].iloc[0] - e.sum()) < 30  # Laplace(0.5) on 10 cells
    with pytest.raises(ValueError, match="style"):
        km.print_summary(style="html")
