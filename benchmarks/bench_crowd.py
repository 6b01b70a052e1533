"""crowd vs crowd-kit 1.4.2: MajorityVote and DawidSkene on Web and on one million answers.

Both libraries take the same long DataFrame; times include input validation/encoding and
are medians (3 runs after a warm-up on Web; 2 runs, no warm-up, on 1M answers), peer and
probinf in the same process, same run.  Accuracy is against the gold labels (Web: the 2,653
tasks with gold; synthetic: all tasks).  TopTwo is listed too (no crowd-kit counterpart).

Synthetic set: 100,000 tasks x 10 workers, every pair observed (1,000,000 answers), K = 5,
top-two model with p ~ U[0.3, 0.9], q ~ U[0.6, 0.9] (``crowd.simulate_top_two``, seed 0).
Web needs the data directory (``PROBINF_DATA`` or ../shared/data); it is skipped otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks._util import median_time, write_results


def _data_dir():
    env = os.environ.get("PROBINF_DATA")
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    return next((c for c in cands if (c / "crowd").is_dir()), None)


def _acc(pred, truth):
    return float((pred.reindex(truth.index) == truth).mean())


def bench(name, answers, truth, labels, repeats, warmup):
    import crowdkit.aggregation as ck

    from crowd import DawidSkene, MajorityVote, TopTwo

    runs = {
        ("crowd-kit", "MajorityVote"): lambda: ck.MajorityVote().fit_predict(answers),
        ("crowd", "MajorityVote"): lambda: MajorityVote(labels=labels).fit_predict(answers),
        ("crowd-kit", "DawidSkene"): lambda: ck.DawidSkene(n_iter=100, tol=1e-5).fit_predict(answers),
        ("crowd", "DawidSkene"): lambda: DawidSkene(labels=labels).fit_predict(answers),
        ("crowd", "TopTwo"): lambda: TopTwo(labels=labels).fit_predict(answers),
    }
    rows = []
    for (lib, method), fn in runs.items():
        pred = fn()
        t = median_time(fn, repeats=repeats, warmup=warmup)
        rows.append({"data": name, "answers": len(answers), "library": lib, "method": method,
                     "seconds": t, "accuracy": _acc(pred, truth)})
        print(rows[-1], flush=True)
    for method in ("MajorityVote", "DawidSkene"):
        ck_t = next(r["seconds"] for r in rows if r["library"] == "crowd-kit" and r["method"] == method)
        for r in rows:
            r.setdefault("speedup_vs_crowdkit_DS", None)
            if r["method"] == method and r["library"] == "crowd":
                r["speedup_vs_crowdkit"] = ck_t / r["seconds"]
    ds_ck = next(r["seconds"] for r in rows if r["library"] == "crowd-kit" and r["method"] == "DawidSkene")
    for r in rows:
        r["speedup_vs_crowdkit_DS"] = ds_ck / r["seconds"]
    return rows


def main():
    from crowd import datasets, simulate_top_two

    rows = []
    d = _data_dir()
    if d is not None:
        web = datasets.load("web", d)
        rows += bench("web", web.answers, web.truth, web.labels, repeats=3, warmup=1)
    sim = simulate_top_two(10, 100_000, 5, 1.0, reliability=(0.3, 0.9), confusion=(0.6, 0.9), seed=0)
    rows += bench("synthetic-1M", sim.answers, sim.truth["first"], list(range(5)), repeats=2, warmup=0)
    md = ["## crowd vs crowd-kit 1.4.2 (MajorityVote, DawidSkene; TopTwo has no peer)", "",
          "| data | answers | library | method | median s | accuracy | x vs crowd-kit same method "
          "| x vs crowd-kit DS |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        same = r.get("speedup_vs_crowdkit")
        md.append(f"| {r['data']} | {r['answers']:,} | {r['library']} | {r['method']} | {r['seconds']:.3f} | "
                  f"{r['accuracy']:.4f} | {'' if same is None else f'{same:.1f}'} | "
                  f"{r['speedup_vs_crowdkit_DS']:.1f} |")
    md += ["", "Times include validation/encoding of the DataFrame; 2 CPUs shared with other jobs, so absolute "
           "times are noisy but each ratio compares runs made in the same process minutes apart."]
    write_results("crowd", rows, "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
