"""Benchmark: conformal vs MAPIE 1.6 (split regression and classification), conformal Bayes vs naive.

Same machine, same run, prefit models, timing = conformalize + predict (median of 3 after a
warm-up).  Intervals / sets are asserted IDENTICAL to MAPIE's where the definitions agree
(absolute-residual regression, LAC); APS is timed only (MAPIE's default set differs).
Conformal Bayes: the fused kernel (``backend="cpu"``) against the naive NumPy formulation
that materialises the T x G x n tensor (``backend="reference"``), p-values asserted equal
except at numerical ties.  Writes benchmarks/results/conformal.{json,md}.
Usage: ``python -m benchmarks.bench_conformal [--quick]``.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression

from benchmarks._util import median_time, peak_rss_mb, write_results
from conformal import SplitConformalClassifier, SplitConformalRegressor
from probinf.kernels import conformal_bayes_scores


def _reg_rows(sizes, n_test):
    from mapie.regression import SplitConformalRegressor as MapieReg

    rng = np.random.default_rng(0)
    N = max(sizes) + n_test + 1000
    X = rng.normal(size=(N, 5))
    y = X @ np.arange(1.0, 6.0) + rng.normal(size=N) * 1.0
    lin = LinearRegression().fit(X[:1000], y[:1000])
    Xt, yt = X[-n_test:], y[-n_test:]
    rows = []
    for n in sizes:
        Xc, yc = X[1000:1000 + n], y[1000:1000 + n]

        def ours():
            return SplitConformalRegressor(lin, 0.9, prefit=True).conformalize(Xc, yc).predict_interval(Xt)  # noqa: B023 - called within this iteration

        def peer():
            return MapieReg(lin, confidence_level=0.9, prefit=True).conformalize(Xc, yc).predict_interval(Xt)  # noqa: B023 - called within this iteration

        a, b = ours(), peer()[1]
        assert np.array_equal(a.lower[:, 0], b[:, 0, 0]) and np.array_equal(a.upper[:, 0], b[:, 1, 0]), (
            "intervals differ")
        t_o, t_p = median_time(ours), median_time(peer)
        rows.append(dict(task="regression absolute", n_calib=n, n_test=n_test, probinf_s=t_o, mapie_s=t_p,
                         ratio=t_p / t_o, identical=True, coverage=float(a.covers(yt).mean()),
                         width=float(a.width.mean())))
        print(rows[-1], flush=True)
    return rows


def _clf_rows(sizes, n_test):
    from mapie.classification import SplitConformalClassifier as MapieClf

    rng = np.random.default_rng(1)
    K = 10
    centers = rng.normal(size=(K, 8)) * 0.8
    N = max(sizes) + n_test + 5000
    yy = rng.integers(0, K, size=N)
    X = centers[yy] + rng.normal(size=(N, 8))
    clf = LogisticRegression(max_iter=300).fit(X[:5000], yy[:5000])
    Xt, yt = X[-n_test:], yy[-n_test:]
    rows = []
    for n in sizes:
        Xc, yc = X[5000:5000 + n], yy[5000:5000 + n]
        for score in ("lac", "aps"):
            def ours():
                return SplitConformalClassifier(clf, 0.9, score, prefit=True).conformalize(Xc, yc).predict_set(Xt)  # noqa: B023 - called within this iteration

            def peer():
                return MapieClf(clf, confidence_level=0.9, conformity_score=score, prefit=True).conformalize(  # noqa: B023 - called within this iteration
                    Xc, yc).predict_set(Xt)  # noqa: B023 - called within this iteration

            a, b = ours(), peer()[1]
            same = bool(np.array_equal(a.sets[:, :, 0], b[:, :, 0]))
            if score == "lac":
                assert same, "LAC sets differ from MAPIE's"
            t_o, t_p = median_time(ours), median_time(peer)
            rows.append(dict(task=f"classification {score} (10 classes)", n_calib=n, n_test=n_test, probinf_s=t_o,
                             mapie_s=t_p, ratio=t_p / t_o, identical=same,
                             coverage=float(a.covers(yt).mean()), width=float(a.size.mean()),
                             mapie_coverage=float(b[np.arange(n_test), yt, 0].mean())))
            print(rows[-1], flush=True)
    return rows


def _cb_memory(sizes):
    """Peak extra RSS of each formulation in a fresh process.

    Measured FIRST, before this process grows: Linux keeps ru_maxrss across fork + exec,
    so a child of a large parent would report a zero increase.
    """
    out = {}
    for T, n, G in sizes:
        code = ("import numpy as np\nfrom probinf.kernels import conformal_bayes_scores\n"
                f"rng=np.random.default_rng(2); th=rng.normal(size={T})*0.1; y=rng.normal(size={n}); "
                f"g=np.linspace(-4,4,{G})\n"
                "lt=-0.5*(y[None]-th[:,None])**2; lg=-0.5*(g[None]-th[:,None])**2\n#--workload--\n")
        out[(T, n, G)] = (peak_rss_mb(code + "conformal_bayes_scores(lt, lg, return_train_scores=False)"),
                          peak_rss_mb(code + "conformal_bayes_scores(lt, lg, backend='reference')"))
    return out


def _naive_jax():
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    @jax.jit
    def f(lt, lg):
        lse = logsumexp(lg, axis=0)
        train = logsumexp(lg[:, :, None] + lt[:, None, :], axis=0) - lse[:, None]  # the T x G x n tensor
        test = logsumexp(2 * lg, axis=0) - lse
        return (1.0 + jnp.sum(train <= test[:, None], axis=1)) / (lt.shape[1] + 1.0)

    return f


def _cb_rows(sizes, mem):
    rows = []
    naive_jax = _naive_jax()
    for T, n, G in sizes:
        rng = np.random.default_rng(2)
        theta = rng.normal(size=T) * 0.1
        ytr = rng.normal(size=n)
        grid = np.linspace(-4, 4, G)
        lt = -0.5 * (ytr[None, :] - theta[:, None]) ** 2
        lg = -0.5 * (grid[None, :] - theta[:, None]) ** 2

        def fast():
            return conformal_bayes_scores(lt, lg, return_train_scores=False)  # noqa: B023 - called within this iteration

        def naive():
            return conformal_bayes_scores(lt, lg, backend="reference")  # noqa: B023 - called within this iteration

        a, b = fast(), naive()
        agree = float(np.mean(np.rint(a.pvalues * (n + 1)) == np.rint(b.pvalues * (n + 1))))  # equal ranks
        t_f, t_n = median_time(fast), median_time(naive, repeats=1, warmup=0)
        lt32, lg32 = np.float32(lt), np.float32(lg)
        t_j = median_time(lambda: np.asarray(naive_jax(lt32, lg32)))  # noqa: B023 - called within this iteration
        m_f, m_n = mem[(T, n, G)]
        rows.append(dict(task="conformal Bayes scores", T=T, n=n, G=G, fused_s=t_f, naive_s=t_n, ratio=t_n / t_f,
                         naive_jax_s=t_j, ratio_jax=t_j / t_f,
                         fused_peak_mb=m_f, naive_peak_mb=m_n, pvalue_agreement=agree))
        print(rows[-1], flush=True)
    return rows


def main(argv):
    quick = "--quick" in argv
    warnings.simplefilter("ignore")
    cb_sizes = [(500, 200, 50)] if quick else [(1000, 500, 100), (2000, 1000, 100)]
    mem = _cb_memory(cb_sizes)
    reg = _reg_rows([10_000, 100_000] if quick else [10_000, 100_000, 1_000_000], 100_000)
    clf = _clf_rows([10_000] if quick else [100_000, 1_000_000], 100_000)
    cb = _cb_rows(cb_sizes, mem)
    md = ["## conformal vs MAPIE 1.6 (prefit, conformalize + predict, confidence 0.9)", "",
          "| task | n_calib | n_test | probinf s | MAPIE s | MAPIE/probinf | identical | coverage | width / size |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in reg + clf:
        md.append(f"| {r['task']} | {r['n_calib']:,} | {r['n_test']:,} | {r['probinf_s']:.4f} | {r['mapie_s']:.4f} | "
                  f"{r['ratio']:.2f}x | {r['identical']} | {r['coverage']:.4f} | {r['width']:.3f} |")
    md += ["", "## conformal-Bayes kernel: fused chunked JAX vs naive T x G x n NumPy", "",
           "| T | n | G | fused s | naive NumPy s | naive/fused | naive JAX (jit) s | naive JAX/fused | fused peak MiB "
           "| naive NumPy peak MiB | p-value agreement |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in cb:
        md.append(f"| {r['T']} | {r['n']} | {r['G']} | {r['fused_s']:.4f} | {r['naive_s']:.3f} | {r['ratio']:.1f}x | "
                  f"{r['naive_jax_s']:.3f} | {r['ratio_jax']:.1f}x | {r['fused_peak_mb']:.0f} | "
                  f"{r['naive_peak_mb']:.0f} | "
                  f"{r['pvalue_agreement']:.4f} |")
    md += ["", "Peak MiB: extra resident memory of a fresh process running one call. MAPIE's APS sets differ by "
           "design (include_last_label=True over-covers), so APS is timed, not compared.", ""]
    write_results("conformal", reg + clf + cb, "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
