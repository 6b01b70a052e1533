"""Shared test configuration: hypothesis profiles, the data directory, x64 helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Scripts that tests run in a subprocess, not modules to import (doctest collection would import them here):
# distributed_checks.py forces 4 host devices, which only a fresh process can have.
collect_ignore = ["probinf/distributed_checks.py"]

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PROBINF_PROGRESS", "0")

settings.register_profile(
    "default",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def data_dir() -> Path | None:
    """The crowdsourcing data root (PROBINF_DATA or ../shared/data next to the repo), or None."""
    env = os.environ.get("PROBINF_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture
def crowd_data_dir():
    d = data_dir()
    if d is None or not (d / "crowd").is_dir():
        pytest.skip("crowdsourcing data not found: set PROBINF_DATA to the directory holding crowd/")
    return d / "crowd"
