"""The bundled datasets: byte-identical to their provenance, loadable with no data directory."""

from __future__ import annotations

import hashlib
import re

import pytest

from crowd import datasets
from crowd.exceptions import DatasetNotFoundError

# full git blob ids from shared/data/crowd/PROVENANCE.md (the sources' files at the listed commits)
BLOBS = {
    "web/web_crowd.txt": "5f3dcb51306a566ce16610068593da825a23fb05",
    "web/web_truth.txt": "54d70d76efb662e7a71c8f0858516cdf94084306",
    "dog/dog_crowd.txt": "244cc4847bfbf5c63808f5c2c4917d31a15ba04f",
    "dog/dog_truth.txt": "5b0094857a52a5e617629e96342944b9e524ea96",
    "rte/rte_crowd.txt": "08fbb9c88bc6ac946429116dec8d6ac9cb20aae0",
    "rte/rte_truth.txt": "871c805f0e7d8e251097a3fecfb6fed638db99a5",
    "trec/trec_crowd.txt": "d1f58b0170dc8562bd16a532e5e8bc93cd174327",
    "trec/trec_truth.txt": "29a81814e14c42a1945cb8c7f3e4f118ddc9f609",
    "bluebird/bluebird_crowd.txt": "d1b31786ae9b3e1535a070e4f61698f2e4fc3e21",
    "bluebird/bluebird_truth.txt": "5665c45c19ceca1e81d8892516348497de794b77",
    "adult2/adult2.txt": "2da3d2a401f5ac7cbe9f2e77e9db1e80551c16ed",
    "adult2/adult2_truth.txt": "4a7f219b1369d37945db58ea68e1aed02dc57ce5",
    "color/color.txt": "c0f55ef109d94394fc32e2cbf2d6c7420a336657",
    "color/color_truth.txt": "91644456b02ab21964d91274197438056b35d668",
    "color/color_conf.txt": "ada25d378f89efd7a6e94b0fdb91a80eb9c2a2c8",
}
# (rows, distinct pairs, tasks, workers, gold tasks, K), from the same file
COUNTS = {"web": (15567, 15567, 2665, 177, 2653, 5), "dog": (8070, 8070, 807, 109, 807, 4),
          "rte": (8000, 8000, 800, 164, 800, 2), "trec": (88385, 88385, 19033, 762, 2275, 2),
          "bluebird": (4212, 4212, 108, 39, 108, 2), "adult2": (3324, 3317, 333, 269, 333, 4),
          "color": (19841, 19401, 1000, 200, 1000, 6)}


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_bundled_files_are_byte_identical_to_the_sources():
    shipped = {str(p.relative_to(datasets.BUNDLED_DIR)) for p in datasets.BUNDLED_DIR.glob("*/*.txt")}
    assert shipped == set(BLOBS)
    for rel, blob in BLOBS.items():
        assert _git_blob((datasets.BUNDLED_DIR / rel).read_bytes()) == blob, rel
    assert set(datasets.BUNDLED) == {r.split("/")[0] for r in BLOBS}
    doc = (datasets.BUNDLED_DIR / "PROVENANCE.md").read_text()
    for rel, blob in BLOBS.items():  # the shipped provenance lists every file with its blob id
        assert re.search(re.escape(rel) + r"` \([\d,]+ B, (blob )?`" + blob[:8], doc), rel


@pytest.mark.parametrize("name", ["web", "rte", "bluebird", "adult2", "color"])
def test_bundled_sets_load_without_a_data_directory(name, monkeypatch):
    monkeypatch.delenv("PROBINF_DATA", raising=False)
    rows, pairs, tasks, workers, gold, K = COUNTS[name]
    keep = datasets.load(name, duplicates="keep")
    last = datasets.load(name)
    assert last.source == str(datasets.BUNDLED_DIR / name)
    assert len(keep.answers) == rows and len(last.answers) == pairs
    assert last.answers.task.nunique() == tasks and last.answers.worker.nunique() == workers
    assert len(last.truth) == gold and last.n_labels == K


def test_unbundled_sets_need_the_data_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("PROBINF_DATA", raising=False)
    for name in sorted(set(datasets.available()) - set(datasets.BUNDLED)):
        with pytest.raises(DatasetNotFoundError, match="PROBINF_DATA"):
            datasets.load(name)
    with pytest.raises(DatasetNotFoundError):  # an explicit data_dir wins over the bundled copy
        datasets.load("web", tmp_path)
