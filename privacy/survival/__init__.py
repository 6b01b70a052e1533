"""Differentially private survival analysis: the Kaplan-Meier fitter and its building blocks.

``PrivateKaplanMeier`` (lifelines-like) releases a curve on a public grid under epsilon-DP
(``histogram``, ``tree``) or reproduces Veeraragavan et al. 2024 (``paper``, no DP guarantee).
"""

from .data import cell_counts, make_grid, validate_survival_data
from .fitter import MECHANISMS, PrivateKaplanMeier
from .mechanisms import (
    cell_sensitivity,
    product_limit,
    release_histogram,
    release_tree,
    tree_matrix,
    tree_sensitivity,
)
from .paper import km_event_times, release_paper

__all__ = [
    "MECHANISMS",
    "PrivateKaplanMeier",
    "cell_counts",
    "cell_sensitivity",
    "km_event_times",
    "make_grid",
    "product_limit",
    "release_histogram",
    "release_paper",
    "release_tree",
    "tree_matrix",
    "tree_sensitivity",
    "validate_survival_data",
]
