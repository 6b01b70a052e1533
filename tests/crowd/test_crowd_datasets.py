"""Offline datasets: counts from PROVENANCE.md, duplicate policies, real-data accuracy, crowd-kit agreement."""

from __future__ import annotations

import numpy as np
import pytest

from crowd import DawidSkene, MajorityVote, TopTwo, datasets
from crowd.exceptions import DatasetNotFoundError, DuplicateAnswersError

pytestmark = pytest.mark.data

# (rows in file, distinct pairs, tasks, workers, gold tasks, K) from shared/data/crowd/PROVENANCE.md
COUNTS = {
    "web": (15567, 15567, 2665, 177, 2653, 5), "dog": (8070, 8070, 807, 109, 807, 4),
    "rte": (8000, 8000, 800, 164, 800, 2), "trec": (88385, 88385, 19033, 762, 2275, 2),
    "bluebird": (4212, 4212, 108, 39, 108, 2), "adult2": (3324, 3317, 333, 269, 333, 4),
    "flag": (1600, 1592, 100, 220, 100, 10), "food": (1192, 1059, 54, 177, 54, 5),
    "plot": (2000, 1820, 56, 122, 56, 10), "color": (19841, 19401, 1000, 200, 1000, 6),
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_match_provenance(name, crowd_data_dir):
    rows, pairs, tasks, workers, gold, K = COUNTS[name]
    keep = datasets.load(name, crowd_data_dir, duplicates="keep")
    last = datasets.load(name, crowd_data_dir)
    assert len(keep.answers) == rows and len(last.answers) == pairs
    assert last.answers.task.nunique() == tasks and last.answers.worker.nunique() == workers
    assert len(last.truth) == gold and last.n_labels == K
    assert list(last.answers.columns) == ["task", "worker", "label"]
    assert last.answers.label.between(0, K - 1).all() and last.answers.task.min() >= 0
    assert set(last.truth.index) <= set(last.answers.task)


def test_duplicate_policies(crowd_data_dir):
    keep = datasets.load("food", crowd_data_dir, duplicates="keep").answers
    first = datasets.load("food", crowd_data_dir, duplicates="first").answers
    last = datasets.load("food", crowd_data_dir, duplicates="last").answers
    assert len(first) == len(last) == 1059
    # 43 conflict pairs: first and last policies disagree on exactly those with differing first/last labels
    g = keep.groupby(["task", "worker"])["label"]
    differ = (g.first() != g.last()).sum()
    m = first.merge(last, on=["task", "worker"], suffixes=("_f", "_l"))
    assert (m.label_f != m.label_l).sum() == differ > 0
    with pytest.raises(DuplicateAnswersError):
        datasets.load("food", crowd_data_dir, duplicates="error")


def test_color_gold_confusing(crowd_data_dir):
    d = datasets.load("Color", crowd_data_dir)
    assert len(d.confusing) == 1000 and (d.confusing != d.truth.reindex(d.confusing.index)).all()
    answers, truth = d  # unpacks like crowd-kit's load_dataset
    assert len(answers) == 19401


def test_not_found_and_unknown(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="crowd"):
        datasets.load("web", tmp_path)
    monkeypatch.delenv("PROBINF_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="PROBINF_DATA"):
        datasets.load("flag")  # not bundled
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("mnist", tmp_path)


def test_env_variable(crowd_data_dir, monkeypatch):
    monkeypatch.setenv("PROBINF_DATA", str(crowd_data_dir.parent))
    assert len(datasets.load("bluebird").answers) == 4212


def _err(pred, truth):
    return float((pred.reindex(truth.index) != truth).mean())


def test_real_data_accuracy(crowd_data_dir):
    """Anchors from shared/reference/crowd_conformal.md (our reproduction of Jeong & Chung's table).

    The estimators are deterministic, so the bounds are the reproduced errors plus 0.5 points.
    """
    web = datasets.load("web", crowd_data_dir)
    assert _err(TopTwo(labels=web.labels).fit_predict(web.answers), web.truth) < 0.129  # 12.4%
    assert _err(DawidSkene(labels=web.labels).fit_predict(web.answers), web.truth) < 0.18  # 17.5% / crowd-kit 17.1%
    assert _err(MajorityVote(labels=web.labels).fit_predict(web.answers), web.truth) < 0.229  # crowd-kit 22.4%
    color = datasets.load("color", crowd_data_dir)
    tt = TopTwo(labels=color.labels).fit(color.answers)
    assert _err(tt.top_two_["first"], color.truth) < 0.36  # 35.5%
    assert _err(tt.top_two_["second"], color.confusing) < 0.522  # 51.7% (chance: 1 - 1/5 = 80%)


@pytest.mark.peers
@pytest.mark.parametrize("name", ["web", "dog", "adult2", "color"])
def test_dawid_skene_agrees_with_crowdkit(name, crowd_data_dir):
    """Same model and initialisation (vote shares): run for crowd-kit's number of iterations, the
    predictions agree on >= 99.9% of tasks and the posteriors are close.  With default settings the
    stopping points differ (crowd-kit's ELBO counts the log-prior once per answer, not per task; on
    Adult2 its ELBO *decreases* at iteration 2 and it stops there, near majority vote, while ours
    runs 22 iterations to EM's fixed point, 24.0% vs 22.5% error: EM overfits Adult2, as the
    paper's 25.8% also shows), so on the converged sets we require accuracy within one point."""
    ck = pytest.importorskip("crowdkit.aggregation")
    d = datasets.load(name, crowd_data_dir)
    theirs = ck.DawidSkene(n_iter=100, tol=1e-5).fit(d.answers)
    same = DawidSkene(labels=d.labels, n_iter=len(theirs.loss_history_), tol=0).fit(d.answers)
    common = same.labels_.index
    assert (same.labels_ == theirs.labels_.reindex(common)).mean() >= 0.999
    p_ck = theirs.probas_.reindex(index=common, columns=same.probas_.columns).fillna(0.0)
    assert np.abs(same.probas_.to_numpy() - p_ck.to_numpy()).mean() < 0.01
    if name == "adult2":
        return
    ours = DawidSkene(labels=d.labels).fit(d.answers)
    assert 1 - _err(ours.labels_, d.truth) >= 1 - _err(theirs.labels_, d.truth) - 0.01
