"""Reproduction ``conformal``: coverage and width of every method on bundled data and simulations.

Tables: (1) regression on scikit-learn's diabetes data (split absolute / normalized, CQR, CV+,
jackknife+, conformal Bayes vs split on a conjugate Bayesian linear model), (2) classification on
digits and wine (LAC, APS, APS randomized, RAPS, top-k, class-conditional), (3) simulations:
covariate shift (split vs weighted, known and estimated ratio), ACI under a volatility shift, CRC
on a multilabel false-negative-rate task.  Coverage is the mean over random splits with its
standard error; the finite-sample target band is [level, level + 1/(n_calib+1)] for split methods.
Run: ``probinf reproduce conformal --out DIR`` (``quick`` = fewer random splits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_digits, load_wine
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import StandardScaler

from conformal import (
    AdaptiveConformal,
    ConformalBayes,
    ConformalizedQuantileRegressor,
    ConformalRiskControl,
    CrossConformalRegressor,
    SplitConformalClassifier,
    SplitConformalRegressor,
    WeightedConformalRegressor,
    false_negative_rate,
)
from probinf.progress import progress

__all__ = ["run", "nig_posterior_draws", "gaussian_loglik"]

LEVEL = 0.9


def _summ(rows, keys):
    df = pd.DataFrame(rows)
    g = df.groupby(keys, sort=False)
    out = g.agg(coverage=("coverage", "mean"), coverage_se=("coverage", lambda v: v.std(ddof=1) / np.sqrt(len(v))),
                width=("width", "mean"), splits=("coverage", "size")).reset_index()
    return out


def nig_posterior_draws(X, y, T, rng, tau=10.0, a0=2.0, b0=1.0):
    """Exact draws from the Normal-Inverse-Gamma posterior of y ~ N(X beta, s2), beta ~ N(0, s2 tau^2 I)."""
    n, d = X.shape
    prec = X.T @ X + np.eye(d) / tau**2
    cov = np.linalg.inv(prec)
    mean = cov @ X.T @ y
    a = a0 + n / 2
    b = b0 + 0.5 * (y @ y - mean @ prec @ mean)
    s2 = b / rng.gamma(a, size=T)
    L = np.linalg.cholesky(cov)
    beta = mean[None, :] + np.sqrt(s2)[:, None] * (rng.normal(size=(T, d)) @ L.T)
    return {"beta": beta, "s2": s2}


def gaussian_loglik(samples, X, y):
    """(T, n) log N(y_i; x_i beta_t, s2_t)."""
    mu = samples["beta"] @ np.asarray(X).T
    s2 = samples["s2"][:, None]
    return -0.5 * (np.log(2 * np.pi * s2) + (np.asarray(y)[None, :] - mu) ** 2 / s2)


def _regression(rng, R):
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ys = (y - y.mean()) / y.std()
    rows = []
    for r in progress(range(R), desc="diabetes"):
        idx = rng.permutation(len(y))
        tr, ca, te = idx[:200], idx[200:350], idx[350:]
        full = np.r_[tr, ca]

        def add(name, res, n_cal, te=te):
            rows.append(dict(method=name, n_calib=n_cal, coverage=float(res.covers(ys[te]).mean()),
                             width=float(res.width.mean()) * y.std()))

        add("split absolute", SplitConformalRegressor(LinearRegression(), LEVEL).fit(X[tr], ys[tr]).conformalize(
            X[ca], ys[ca]).predict_interval(X[te]), len(ca))
        add("split normalized", SplitConformalRegressor(
            LinearRegression(), LEVEL, "normalized",
            scale_estimator=GradientBoostingRegressor(max_depth=2, n_estimators=50, random_state=0)).fit(
            X[tr], ys[tr]).conformalize(X[ca], ys[ca]).predict_interval(X[te]), len(ca))
        add("CQR (gradient boosting)", ConformalizedQuantileRegressor(
            GradientBoostingRegressor(loss="quantile", max_depth=2, n_estimators=100, random_state=0), LEVEL).fit(
            X[tr], ys[tr]).conformalize(X[ca], ys[ca]).predict_interval(X[te]), len(ca))
        add("CV+ (10 folds)", CrossConformalRegressor(LinearRegression(), LEVEL, cv=10, random_state=r).fit(
            X[full], ys[full]).predict_interval(X[te]), len(full))
        add("jackknife+", CrossConformalRegressor(LinearRegression(), LEVEL, cv="jackknife").fit(
            X[full], ys[full]).predict_interval(X[te]), len(full))
        draws = nig_posterior_draws(X[full], ys[full], 1000, rng)
        cb = ConformalBayes(gaussian_loglik, LEVEL, grid_size=300, grid_margin=0.6).fit(X[full], ys[full], draws)
        te_cb = te[:30]
        res = cb.predict_interval(X[te_cb])
        rows.append(dict(method="conformal Bayes (NIG linear model)", n_calib=len(full),
                         coverage=float(res.covers(ys[te_cb]).mean()), width=float(res.width.mean()) * y.std()))
        half = SplitConformalRegressor(LinearRegression(), LEVEL).fit(X[tr], ys[tr]).conformalize(
            X[ca], ys[ca]).predict_interval(X[te_cb])
        add_cb = dict(method="split absolute (same test points as CB)", n_calib=len(ca),
                      coverage=float(half.covers(ys[te_cb]).mean()), width=float(half.width.mean()) * y.std())
        rows.append(add_cb)
    return _summ(rows, ["method", "n_calib"])


def _classification(rng, R):
    out = []
    for name, loader in (("digits", load_digits), ("wine", load_wine)):
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        rows = []
        for r in progress(range(R), desc=name):
            idx = rng.permutation(len(y))
            n = len(y)
            tr, ca, te = idx[: n // 3], idx[n // 3: 2 * n // 3], idx[2 * n // 3:]
            clf = LogisticRegression(max_iter=2000, C=0.1).fit(X[tr], y[tr])
            for label, kw in (("lac", dict(conformity_score="lac")), ("aps", dict(conformity_score="aps")),
                              ("aps randomized", dict(conformity_score="aps", randomized=True)),
                              ("raps randomized", dict(conformity_score="raps", randomized=True, lambda_reg=0.05)),
                              ("top_k", dict(conformity_score="top_k")),
                              ("lac class-conditional", dict(conformity_score="lac", class_conditional=True))):
                est = SplitConformalClassifier(clf, LEVEL, prefit=True, random_state=r, on_insufficient="inf", **kw)
                res = est.conformalize(X[ca], y[ca]).predict_set(X[te])
                cov = res.covers(y[te])[:, 0]
                worst = min(cov[y[te] == k].mean() for k in np.unique(y[te]))
                rows.append(dict(dataset=name, method=label, n_calib=len(ca), coverage=float(cov.mean()),
                                 width=float(res.size.mean()), worst_class_coverage=float(worst)))
        df = _summ(rows, ["dataset", "method", "n_calib"])
        df["worst_class_coverage"] = pd.DataFrame(rows).groupby(["dataset", "method"], sort=False)[
            "worst_class_coverage"].mean().values
        out.append(df)
    return pd.concat(out, ignore_index=True).rename(columns={"width": "mean_set_size"})


def _simulations(rng, R):
    rows = []
    lin = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, 1.0]))

    def data(n, shifted):
        x = rng.normal(1.0 if shifted else 0.0, 1.0, size=(n, 1))
        return x, x[:, 0] + (0.3 + np.abs(x[:, 0])) * rng.normal(size=n)

    for _ in progress(range(R * 5), desc="shift"):
        Xc, yc = data(500, False)
        Xt, yt = data(200, True)
        for name, est, kw in (
            ("split (ignores shift)", SplitConformalRegressor(lin, LEVEL, prefit=True), {}),
            ("weighted, known ratio", WeightedConformalRegressor(
                lin, LEVEL, likelihood_ratio=lambda X: np.exp(X[:, 0] - 0.5), prefit=True), {}),
            ("weighted, classifier-estimated ratio", WeightedConformalRegressor(lin, LEVEL, prefit=True),
             {"X_test": Xt}),
        ):
            res = est.conformalize(Xc, yc, **kw).predict_interval(Xt)
            fin = np.isfinite(res.width[:, 0])
            rows.append(dict(setting="covariate shift N(0,1) -> N(1,1)", method=name, n_calib=500,
                             coverage=float(res.covers(yt).mean()), width=float(res.width[fin, 0].mean())))
    sim = _summ(rows, ["setting", "method", "n_calib"])
    # ACI on a volatility shift
    T = 4000
    y = np.where(np.arange(T) < T // 2, 1.0, 4.0) * rng.normal(size=T)
    extra = []
    for gamma in (1e-9, 0.005, 0.02):
        aci = AdaptiveConformal(LEVEL, gamma=gamma, window=500).fit(y, np.zeros(T))
        fin = np.isfinite(aci.intervals_.width[:, 0])
        extra.append(dict(setting="ACI, sd 1 -> 4 at t=2000", method=f"gamma={gamma:g}", n_calib=T,
                          coverage=1 - aci.errors_.mean(), coverage_se=np.nan,
                          width=float(np.nanmean(aci.intervals_.width[fin, 0])), splits=1,
                          after_shift_coverage=1 - aci.errors_[T // 2:].mean(), long_run_bound=aci.long_run_bound()))
    # CRC
    lam = np.linspace(0, 1, 501)
    fnr = []
    for _ in range(R * 5):
        p = rng.beta(0.6, 1.5, size=(600, 10))
        lab = rng.uniform(size=p.shape) < p
        lab[np.arange(600), np.argmax(p, 1)] |= ~lab.any(1)
        L = false_negative_rate(p, lab, lam)
        crc = ConformalRiskControl(0.1).fit(L[:300], lam)
        fnr.append(L[300:, crc.index_].mean())
    extra.append(dict(setting="CRC multilabel FNR, alpha=0.1", method="conformal risk control", n_calib=300,
                      coverage=1 - np.mean(fnr), coverage_se=np.std(fnr, ddof=1) / np.sqrt(len(fnr)),
                      width=np.nan, splits=len(fnr)))
    return pd.concat([sim, pd.DataFrame(extra)], ignore_index=True), y


def _figures(out_dir, reg, clf, sim):
    import matplotlib.pyplot as plt

    figs = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    ax.errorbar(reg["coverage"], np.arange(len(reg)), xerr=3 * reg["coverage_se"], fmt="o")
    ax.axvline(LEVEL, color="k", ls="--", lw=1)
    ax.set_yticks(np.arange(len(reg)), reg["method"])
    ax.set_xlabel("coverage (mean over splits, +-3 SE)")
    ax.set_title("diabetes, target 0.9")
    axes[1].barh(np.arange(len(reg)), reg["width"])
    axes[1].set_yticks(np.arange(len(reg)), [""] * len(reg))
    axes[1].set_xlabel("mean interval width (original units)")
    fig.tight_layout()
    p = Path(out_dir) / "regression_coverage_width.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    figs.append(p)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    lab = clf["dataset"] + " / " + clf["method"]
    ax.errorbar(clf["coverage"], np.arange(len(clf)), xerr=3 * clf["coverage_se"], fmt="o", label="marginal")
    ax.plot(clf["worst_class_coverage"], np.arange(len(clf)), "x", label="worst class")
    ax.axvline(LEVEL, color="k", ls="--", lw=1)
    ax.set_yticks(np.arange(len(clf)), lab)
    ax.legend()
    ax.set_xlabel("coverage")
    fig.tight_layout()
    p = Path(out_dir) / "classification_coverage.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    figs.append(p)
    return figs


def run(out_dir: Path, *, quick: bool = True, seed: int = 0):
    """Run the reproduction; returns a :class:`probinf_cli.runner.ReproResult`."""
    from probinf_cli.runner import ReproResult

    rng = np.random.default_rng(seed)
    R = 10 if quick else 100
    reg = _regression(rng, R)
    clf = _classification(rng, R)
    sim, _ = _simulations(rng, R)
    figs = _figures(out_dir, reg, clf, sim)
    cb = reg[reg["method"].str.startswith("conformal Bayes")].iloc[0]
    sp = reg[reg["method"].str.startswith("split absolute (same")].iloc[0]
    shift = sim.set_index("method")
    split_rows = reg[reg["method"].str.startswith(("split", "CQR"))]
    inside = [(m, bool(LEVEL - 3 * se <= c <= LEVEL + 1 / (n + 1) + 3 * se))
              for m, c, se, n in zip(split_rows["method"], split_rows["coverage"], split_rows["coverage_se"],
                                     split_rows["n_calib"], strict=True)]
    verdict = "; ".join(f"{m}: {'inside' if ok else 'OUTSIDE'}" for m, ok in inside)
    summary = (
        f"Target level {LEVEL}; {R} random splits per dataset ({'quick' if quick else 'full'} scale, seed {seed}).\n\n"
        f"- Diabetes, split methods against the band [0.9, 0.9 + 1/(n+1)] +- 3 SE: {verdict}. "
        f"conformal Bayes (all {int(cb['n_calib'])} points, no split) covers {cb['coverage']:.3f} with mean width "
        f"{cb['width']:.1f} vs split conformal {sp['coverage']:.3f} / {sp['width']:.1f} on the same test points.\n"
        f"- Covariate shift: split conformal covers {shift.loc['split (ignores shift)', 'coverage']:.3f}, weighted "
        f"conformal {shift.loc['weighted, known ratio', 'coverage']:.3f} (known ratio) and "
        f"{shift.loc['weighted, classifier-estimated ratio', 'coverage']:.3f} (estimated).\n"
        "- ACI keeps the long-run error near 0.1 after a volatility shift where gamma ~ 0 (plain online split) "
        "does not; CRC keeps the mean false-negative rate below 0.1 (coverage column = 1 - FNR)."
    )
    return ReproResult(title="Conformal prediction: coverage and width of every method",
                       summary=summary, figures=figs,
                       tables={"regression_diabetes": reg, "classification": clf, "simulations": sim})
