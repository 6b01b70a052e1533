"""The paper reproductions, by name, each with a description and its expected duration.

Each entry's ``run(out_dir, *, quick=True, seed=0) -> ReproResult`` imports its module
when called (the modules import JAX, matplotlib and the applications), so listing the
reproductions stays fast.  A new reproduction is a module in this package and one entry in
:data:`REPRODUCTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from probinf_cli.runner import ReproResult

__all__ = ["Reproduction", "REPRODUCTIONS"]


@dataclass(frozen=True)
class Reproduction:
    """One reproduction: what it shows and how long it takes (measured on 2 shared CPU cores)."""

    name: str
    description: str
    quick_minutes: float
    full_minutes: float
    run: Callable[..., ReproResult]


def _conformal(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    from probinf_cli.reproductions import conformal

    return conformal.run(out_dir, quick=quick, seed=seed)


def _crowd(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    from probinf_cli.reproductions import crowd

    return crowd.run(out_dir, quick=quick, seed=seed)


def _dp_epsilon(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    from probinf_cli.reproductions import dp_epsilon

    return dp_epsilon.run(out_dir, quick=quick, seed=seed)


def _dp_km(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    from probinf_cli.reproductions import dp_km

    return dp_km.run(out_dir, quick=quick, seed=seed)


def _smc_samplers(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    from probinf_cli.reproductions import smc_samplers

    return smc_samplers.run(out_dir, quick=quick, seed=seed)


def _smc_validity(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    from probinf_cli.reproductions import smc_validity

    return smc_validity.run(out_dir, quick=quick, seed=seed)


def _tts(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    from probinf_cli.reproductions import tts

    return tts.run(out_dir, quick=quick, seed=seed)


# Durations: quick scale measured on the shared 2-core machine (docs/*.md); full scale estimated from the
# quick one by the ratio of work.
_ALL = (
    Reproduction("conformal", "Conformal prediction: coverage and width of every method (regression, "
                 "classification, covariate shift, online, risk control).", 3, 30, _conformal),
    Reproduction("crowd", "Top-two answers and confusion probabilities (Jeong & Chung 2023), synthetic and "
                 "real crowdsourcing data.", 1.5, 60, _crowd),
    Reproduction("dp-epsilon", "Bayesian estimation of DP epsilon (Zanella-Beguelin et al. 2023): interval "
                 "widths against Clopper-Pearson and a DP-SGD audit.", 4.5, 60, _dp_epsilon),
    Reproduction("dp-km", "Differentially private Kaplan-Meier: RMSE against the non-private curve, "
                 "tree vs histogram, and a Thresholdout demonstration.", 1, 20, _dp_km),
    Reproduction("smc-samplers", "SMC samplers' log evidence against exact values; PMMH and particle Gibbs "
                 "against the Kalman answer.", 2, 20, _smc_samplers),
    Reproduction("smc-validity", "Particle-filter evidence is unbiased: error and variance vs N, exact "
                 "enumeration, float32 resampling drift.", 2, 15, _smc_validity),
    Reproduction("tts", "LLM test-time scaling on an arithmetic-chain task family: PF vs PG, PT, beam, DVTS, "
                 "BoN, weighted BoN, majority, Best-of-Majority and RPC with paired intervals, the verifier "
                 "ceiling (fLaws), and SmolLM2-135M's pass@k coverage curve (Puri et al. 2025).", 6, 50, _tts),
)

#: name -> :class:`Reproduction`, sorted by name (read-only).
REPRODUCTIONS = MappingProxyType({r.name: r for r in sorted(_ALL, key=lambda r: r.name)})
