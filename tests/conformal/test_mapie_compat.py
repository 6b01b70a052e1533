"""MAPIE v1 compatibility: the adapter runs MAPIE's documented examples with only the import changed, and the
native estimators equal MAPIE exactly where the definitions agree (absolute-residual regression, LAC), at
calibration sizes where (n+1)(1-alpha) is fractional (where a quantile off-by-one shows)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mapie")

from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

import conformal.mapie_api as api  # noqa: E402
from conformal import SplitConformalClassifier, SplitConformalRegressor  # noqa: E402

pytestmark = pytest.mark.peers

# The examples of MAPIE 1.6's SplitConformalRegressor / SplitConformalClassifier docstrings, verbatim except
# for make_*(random_state=0) (MAPIE's own example leaves the data unseeded) and the import line.
REGRESSION_EXAMPLE = """
{import_line}
from mapie.utils import train_conformalize_test_split
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge

X, y = make_regression(n_samples=500, n_features=2, noise=1.0, random_state=0)
(
    X_train, X_conformalize, X_test,
    y_train, y_conformalize, y_test
) = train_conformalize_test_split(
    X, y, train_size=0.6, conformalize_size=0.2, test_size=0.2, random_state=1
)

mapie_regressor = SplitConformalRegressor(
    estimator=Ridge(),
    confidence_level=0.95,
    prefit=False,
).fit(X_train, y_train).conformalize(X_conformalize, y_conformalize)

predicted_points, predicted_intervals = mapie_regressor.predict_interval(X_test)
"""

CLASSIFICATION_EXAMPLE = """
{import_line}
from mapie.utils import train_conformalize_test_split
from sklearn.datasets import make_classification
from sklearn.neighbors import KNeighborsClassifier

X, y = make_classification(n_samples=500, random_state=0)
(
    X_train, X_conformalize, X_test,
    y_train, y_conformalize, y_test
) = train_conformalize_test_split(
    X, y, train_size=0.6, conformalize_size=0.2, test_size=0.2, random_state=1
)
mapie_classifier = SplitConformalClassifier(
    estimator=KNeighborsClassifier(),
    confidence_level=0.95,
    prefit=False,
).fit(X_train, y_train).conformalize(X_conformalize, y_conformalize)
predicted_labels, predicted_sets = mapie_classifier.predict_set(X_test)
"""


def _run(code, import_line):
    ns: dict = {}
    exec(code.format(import_line=import_line), ns)  # noqa: S102 - a fixed, in-repo example
    return ns


def test_mapie_regression_example_runs_with_only_the_import_changed():
    theirs = _run(REGRESSION_EXAMPLE, "from mapie.regression import SplitConformalRegressor")
    ours = _run(REGRESSION_EXAMPLE, "from conformal.mapie_api import SplitConformalRegressor")
    assert ours["predicted_intervals"].shape == theirs["predicted_intervals"].shape == (100, 2, 1)
    np.testing.assert_allclose(ours["predicted_points"], theirs["predicted_points"])
    np.testing.assert_allclose(ours["predicted_intervals"], theirs["predicted_intervals"], rtol=1e-10, atol=1e-10)


def test_mapie_classification_example_runs_with_only_the_import_changed():
    theirs = _run(CLASSIFICATION_EXAMPLE, "from mapie.classification import SplitConformalClassifier")
    ours = _run(CLASSIFICATION_EXAMPLE, "from conformal.mapie_api import SplitConformalClassifier")
    assert ours["predicted_sets"].shape == theirs["predicted_sets"].shape == (100, 2, 1)
    np.testing.assert_array_equal(ours["predicted_labels"], theirs["predicted_labels"])
    np.testing.assert_array_equal(ours["predicted_sets"], theirs["predicted_sets"])


def test_adapter_defaults_match_mapie():
    import inspect

    from mapie.classification import SplitConformalClassifier as MC
    from mapie.regression import CrossConformalRegressor as MX
    from mapie.regression import SplitConformalRegressor as MR

    for ours, theirs in ((api.SplitConformalRegressor, MR), (api.SplitConformalClassifier, MC),
                         (api.CrossConformalRegressor, MX)):
        po, pt = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        assert list(po) == list(pt), ours.__name__
        for name in po:
            if name != "estimator":  # MAPIE puts an estimator instance as default; ours None means the same model
                assert po[name].default == pt[name].default, (ours.__name__, name)
    with pytest.raises(ValueError, match="prefit=True"):
        api.SplitConformalRegressor(Ridge()).fit(np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize("n", [25, 33, 44])
def test_native_split_regression_equals_mapie_at_fractional_rank(n):
    from mapie.regression import SplitConformalRegressor as MR

    X, y = make_regression(n + 300, 3, noise=5.0, random_state=n)
    lin = LinearRegression().fit(X[:200], y[:200])
    Xc, yc, Xt = X[200:200 + n], y[200:200 + n], X[200 + n:]
    levels = [0.8, 0.9]
    ours = SplitConformalRegressor(lin, levels, prefit=True).conformalize(Xc, yc).predict_interval(Xt)
    _, pis = MR(lin, confidence_level=levels, prefit=True).conformalize(Xc, yc).predict_interval(Xt)
    np.testing.assert_allclose(ours.lower, pis[:, 0, :], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(ours.upper, pis[:, 1, :], rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("n", [25, 33])
def test_native_lac_equals_mapie_at_fractional_rank(n):
    from mapie.classification import SplitConformalClassifier as MC

    X, y = make_classification(n + 400, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=n)
    clf = LogisticRegression(max_iter=500).fit(X[:200], y[:200])
    Xc, yc, Xt = X[200:200 + n], y[200:200 + n], X[200 + n:]
    levels = [0.8, 0.9]
    ours = SplitConformalClassifier(clf, levels, prefit=True).conformalize(Xc, yc).predict_set(Xt)
    _, pss = MC(clf, confidence_level=levels, prefit=True).conformalize(Xc, yc).predict_set(Xt)
    np.testing.assert_array_equal(ours.sets, pss)


def test_cv_plus_adapter_shapes_and_jackknife_alias():
    X, y = make_regression(60, 2, noise=3.0, random_state=2)
    reg = api.CrossConformalRegressor(LinearRegression(), [0.8, 0.9], cv=-1).fit_conformalize(X[:40], y[:40])
    y_pred, y_pis = reg.predict_interval(X[40:])
    assert y_pred.shape == (20,) and y_pis.shape == (20, 2, 2)
    assert np.all(y_pis[:, 0, :] <= y_pis[:, 1, :])
    assert len(reg.fold_models_) == 40 and reg.cv == -1


def test_adapter_infinite_bounds_need_consent():
    from conformal import InsufficientCalibrationError

    X, y = make_regression(40, 2, noise=3.0, random_state=3)
    reg = api.SplitConformalRegressor(LinearRegression().fit(X, y), 0.99).conformalize(X[:10], y[:10])
    with pytest.raises(InsufficientCalibrationError, match="allow_infinite_bounds"):
        reg.predict_interval(X[10:])
    assert np.isinf(reg.predict_interval(X[10:], allow_infinite_bounds=True)[1]).all()


def test_nan_in_X_passes_through_to_estimators_that_accept_it():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = X[:, 0] + rng.normal(size=600)
    X[rng.random(X.shape) < 0.1] = np.nan
    hgb = HistGradientBoostingRegressor(max_iter=30, random_state=0)
    res = SplitConformalRegressor(hgb, 0.9).fit(X[:300], y[:300]).conformalize(X[300:500], y[300:500]) \
        .predict_interval(X[500:])
    assert np.all(np.isfinite(res.lower)) and res.covers(y[500:]).mean() > 0.75
    y_pred, y_pis = api.SplitConformalRegressor(hgb, 0.9, prefit=False).fit(X[:300], y[:300]).conformalize(
        X[300:500], y[300:500]).predict_interval(X[500:])
    np.testing.assert_allclose(y_pis[:, 1, 0], res.upper[:, 0])
    # an estimator that cannot take NaN gets our error naming the fix, before sklearn is called
    with pytest.raises(ValueError, match="SimpleImputer"):
        SplitConformalRegressor(LinearRegression(), 0.9).fit(X[:300], y[:300])
    with pytest.raises(ValueError, match="inf"):
        SplitConformalRegressor(hgb, 0.9).fit(np.where(np.isnan(X), np.inf, X)[:300], y[:300])
    knn = KNeighborsClassifier()
    with pytest.raises(ValueError, match="NaN"):
        SplitConformalClassifier(knn, 0.9).fit(X[:300], (y[:300] > 0).astype(int))
