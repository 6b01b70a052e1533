"""The classic crowdsourcing sets, read offline (never downloaded).

No set ships inside the package: the research repositories the files come from carry no
licence, so redistribution is not granted (their authors ask only to be cited).  The sets load
from a data directory, ``data_dir`` or ``$PROBINF_DATA``, which may point to the folder
*containing* ``crowd/`` or to ``crowd/`` itself (file formats, counts and citations:
``crowd/PROVENANCE.md`` there).

Lookup order: an explicit ``data_dir``; else ``$PROBINF_DATA``.

Normalisation: all ids and labels become 0-based integers (the 1-based SMEM files, i.e.
Web, Dog, RTE, TREC, Bluebird, are shifted by one), and the worker-first TopTwo files
(Adult2, Flag, Food, Plot, Color) are reordered to ``task, worker, label``.

Duplicate (task, worker) rows (Adult2, Flag, Food, Plot, Color have some): the default
policy ``duplicates="last"`` keeps the last row of each pair, as the TopTwo authors'
MATLAB loaders do (they fill a worker x task matrix row by row); ``"first"`` keeps the
first; ``"keep"`` keeps every row (what crowd-kit counts); ``"error"`` raises.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crowd._answers import DUPLICATE_POLICIES
from crowd.exceptions import DatasetNotFoundError, DuplicateAnswersError

__all__ = ["CrowdDataset", "DATASETS", "load", "available", "resolve_data_dir"]


@dataclass(frozen=True)
class _Spec:
    folder: str
    answers: str
    truth: str
    base: int
    worker_first: bool
    n_labels: int
    confusion: str | None = None


DATASETS: dict[str, _Spec] = {
    "web": _Spec("web", "web_crowd.txt", "web_truth.txt", 1, False, 5),
    "dog": _Spec("dog", "dog_crowd.txt", "dog_truth.txt", 1, False, 4),
    "rte": _Spec("rte", "rte_crowd.txt", "rte_truth.txt", 1, False, 2),
    "trec": _Spec("trec", "trec_crowd.txt", "trec_truth.txt", 1, False, 2),
    "bluebird": _Spec("bluebird", "bluebird_crowd.txt", "bluebird_truth.txt", 1, False, 2),
    "adult2": _Spec("adult2", "adult2.txt", "adult2_truth.txt", 0, True, 4),
    "flag": _Spec("flag", "flag.txt", "flag_truth.txt", 0, True, 10),
    "food": _Spec("food", "food.txt", "food_truth.txt", 0, True, 5),
    "plot": _Spec("plot", "plot.txt", "plot_truth.txt", 0, True, 10),
    "color": _Spec("color", "color.txt", "color_truth.txt", 0, True, 6, "color_conf.txt"),
}




@dataclass
class CrowdDataset:
    """A loaded set.

    Attributes
    ----------
    name : str
    answers : DataFrame
        ``task, worker, label`` (0-based ints).
    truth : Series
        Gold label per task (only the tasks that have one).
    confusing : Series or None
        Gold most-confusing answer h per task (Color only).
    labels : list of int
        The declared label set ``0..K-1``.
    source : str
        The folder the files were read from.
    """

    name: str
    answers: pd.DataFrame
    truth: pd.Series
    confusing: pd.Series | None
    labels: list
    source: str = ""

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def __iter__(self):  # ``answers, truth = load("web")`` like crowd-kit's load_dataset
        return iter((self.answers, self.truth))


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(DATASETS)


def resolve_data_dir(data_dir=None) -> Path:
    """The ``crowd/`` folder from ``data_dir`` or ``$PROBINF_DATA``; raises if absent."""
    root = data_dir if data_dir is not None else os.environ.get("PROBINF_DATA")
    if root is None:
        raise DatasetNotFoundError(
            "no data directory: the crowdsourcing sets are not redistributable (no licence), so none ships "
            "with the package; pass data_dir=... or set PROBINF_DATA to the folder holding crowd/"
        )
    root = Path(root)
    for cand in (root / "crowd", root):
        if (cand / "web").is_dir() or (cand / "PROVENANCE.md").is_file() or any(
                (cand / s.folder).is_dir() for s in DATASETS.values()):
            return cand
    raise DatasetNotFoundError(f"{root} has no crowd/ data folder (expected e.g. {root / 'crowd' / 'web'})")


def _read(path: Path, ncol: int) -> np.ndarray:
    if not path.is_file():
        raise DatasetNotFoundError(f"missing data file {path} (nothing is downloaded; see crowd/PROVENANCE.md)")
    arr = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.int64).to_numpy()
    if arr.ndim != 2 or arr.shape[1] != ncol:
        raise ValueError(f"{path}: expected {ncol} whitespace-separated integer columns, got shape {arr.shape}")
    return arr


def _gold(path: Path, base: int) -> pd.Series:
    g = _read(path, 2) - base
    s = pd.DataFrame(g, columns=["task", "label"]).drop_duplicates()
    if s["task"].duplicated().any():
        raise ValueError(f"{path}: a task carries two different gold labels")
    index = pd.Index(s["task"].to_numpy(), name="task")
    return pd.Series(s["label"].to_numpy(), index=index, name="label").sort_index()


def load(name: str, data_dir=None, *, duplicates: str = "last") -> CrowdDataset:
    """Load a classic set by name (case-insensitive): web, dog, rte, trec, bluebird, adult2, flag, food, plot, color.

    Parameters
    ----------
    name : str
    data_dir : path, optional
        Folder containing ``crowd/`` (or ``crowd/`` itself).  Default: ``$PROBINF_DATA``.
    duplicates : {"last", "first", "keep", "error"}
        Policy for repeated (task, worker) rows (see module docstring).

    Returns
    -------
    CrowdDataset
        Unpacks as ``answers, truth`` (crowd-kit's ``load_dataset`` shape).

    Raises
    ------
    DatasetNotFoundError
        If the set is not in the data directory (never downloads).

    Examples
    --------
    >>> from crowd.datasets import load
    >>> ds = load("web")  # doctest: +SKIP
    >>> ds.answers.shape, ds.n_labels  # doctest: +SKIP
    ((15567, 3), 5)
    """
    key = str(name).lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {available()}")
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    spec = DATASETS[key]
    folder = resolve_data_dir(data_dir) / spec.folder
    raw = _read(folder / spec.answers, 3) - spec.base
    cols = ["worker", "task", "label"] if spec.worker_first else ["task", "worker", "label"]
    answers = pd.DataFrame(raw, columns=cols)[["task", "worker", "label"]]
    dup = answers.duplicated(subset=["task", "worker"], keep=False)
    if dup.any():
        if duplicates == "error":
            raise DuplicateAnswersError(f"{key}: {int(dup.sum())} rows repeat a (task, worker) pair; "
                                        "choose duplicates='last', 'first' or 'keep'")
        if duplicates in ("first", "last"):
            answers = answers[~answers.duplicated(subset=["task", "worker"], keep=duplicates)]
    answers = answers.reset_index(drop=True)
    truth = _gold(folder / spec.truth, spec.base)
    confusing = _gold(folder / spec.confusion, spec.base) if spec.confusion else None
    labels = list(range(spec.n_labels))
    for s, what in ((answers["label"], "answers"), (truth, "truth")):
        if s.min() < 0 or s.max() >= spec.n_labels:
            raise ValueError(f"{key}: {what} labels outside 0..{spec.n_labels - 1}")
    return CrowdDataset(name=key, answers=answers, truth=truth.rename("truth"),
                        confusing=None if confusing is None else confusing.rename("confusing"), labels=labels,
                        source=str(folder))
