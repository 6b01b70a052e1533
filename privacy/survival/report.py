r"""Reporting for ``PrivateKaplanMeier`` (lifelines-style): plots with legend and epsilon, ``summary``,
``print_summary``.  Everything here reads the fitted release only (post-processing, no privacy cost)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KaplanMeierReportMixin"]


class KaplanMeierReportMixin:
    """Plot and summary methods of :class:`~privacy.survival.fitter.PrivateKaplanMeier`."""

    # provided by the fitter (declarations only: no class attributes are created)
    _check_fitted: Callable[[], None]
    guarantee_: dict[str, Any]
    label_: str
    median_survival_time_: float
    median_confidence_interval_: pd.DataFrame
    reliable_until_: float
    noisy_cells_: np.ndarray | None

    def plot_survival_function(self, ax=None, ci_show=True, at_risk_counts=False, legend=True, **kwargs):
        """Step plot of the released curve with its noise-aware band; returns the axes.

        The legend entry reads ``"<label> (<mechanism>, ε=<epsilon>)"`` unless ``label=`` is given;
        ``legend=False`` leaves the legend out. ``at_risk_counts=True`` writes the noisy number at
        risk (rounded) under the x ticks (histogram and tree only: the paper's mechanism releases no
        counts). Other keyword arguments go to ``Axes.step``.
        """
        import matplotlib.pyplot as plt

        self._check_fitted()
        if ax is None:
            ax = plt.gca()
        x = self.survival_function_.index.to_numpy()
        eps = "∞" if np.isinf(float(self.epsilon)) else f"{float(self.epsilon):g}"
        kwargs.setdefault("label", f"{self.label_} ({self.mechanism}, ε={eps})")
        (line,) = ax.step(x, self.survival_function_.iloc[:, 0], where="post", **kwargs)
        if ci_show:
            ci = self.confidence_interval_
            ax.fill_between(x, ci.iloc[:, 0], ci.iloc[:, 1], step="post", alpha=0.25, color=line.get_color(),
                            label=f"{1 - self.alpha_:.0%} band (noise + sampling)" if legend else None)
        ax.set_xlabel("time")
        ax.set_ylabel("survival probability")
        ax.set_ylim(-0.02, 1.02)
        if at_risk_counts:
            if self.mechanism == "paper":
                raise ValueError("at_risk_counts is not available for mechanism='paper' (it releases no counts)")
            self._add_at_risk(ax)
        if legend:
            ax.legend(loc="best")
        return ax

    def plot(self, ax=None, **kwargs):
        """lifelines' ``plot``: the same as :meth:`plot_survival_function`."""
        return self.plot_survival_function(ax=ax, **kwargs)

    @property
    def summary(self) -> pd.DataFrame:
        """One-row table of the release: guarantee, noisy totals, median and the low-event diagnosis."""
        self._check_fitted()
        g = self.guarantee_
        row = {"label": self.label_, "mechanism": g["mechanism"], "epsilon": g["epsilon"], "delta": g["delta"],
               "adjacency": g["adjacency"], "laplace_scale": g["laplace_scale"],
               "median_survival_time": self.median_survival_time_,
               "median_lower": float(self.median_confidence_interval_.iloc[0, 0]),
               "median_upper": float(self.median_confidence_interval_.iloc[0, 1]),
               "reliable_until": self.reliable_until_}
        if self.noisy_cells_ is not None:
            row["noisy_records"] = float(max(np.sum(self.noisy_cells_), 0.0))
            row["noisy_deaths"] = float(max(np.sum(self.noisy_cells_[1:-1:2]), 0.0))
        return pd.DataFrame([row]).set_index("label")

    def print_summary(self, decimals=2, style=None):
        """Print the release's guarantee, noisy totals, median (with its interval) and low-event flag.

        Like lifelines' ``print_summary`` (``style`` is accepted for compatibility; plain text only).
        Counts are the noisy released ones: the exact numbers are private.
        """
        if style not in (None, "ascii"):
            raise ValueError(f"style must be None or 'ascii' (plain text), got {style!r}")
        sm = self.summary.iloc[0]
        lines = [f"<privacy.PrivateKaplanMeier: fitted with {self.mechanism} mechanism>",
                 f"{'label':>24} = {self.label_}"]
        for key in ("epsilon", "delta", "adjacency", "laplace_scale", "noisy_records", "noisy_deaths",
                    "median_survival_time", "median_lower", "median_upper", "reliable_until"):
            if key in sm.index:
                v = sm[key]
                txt = f"{v:.{decimals}f}" if isinstance(v, (float, np.floating)) else str(v)
                lines.append(f"{key:>24} = {txt}")
        if np.isfinite(self.reliable_until_):
            lines.append(f"{'':>24}   low-event regime after t = {self.reliable_until_:g}: curve biased down, "
                         "band under-covers there")
        print("\n".join(lines))

    def _add_at_risk(self, ax):
        grid = self.timeline_
        at_risk = self.event_table["at_risk"].to_numpy()
        ticks = [x for x in ax.get_xticks() if 0 <= x <= grid[-1]]
        ax.set_xticks(ticks)
        for x in ticks:
            i = int(np.searchsorted(grid, x, side="left"))  # at risk entering the bin that contains x
            val = at_risk[min(i, grid.size - 1)] if x > 0 else at_risk[0]
            ax.annotate(f"{val:.0f}", xy=(x, 0), xycoords=("data", "axes fraction"), xytext=(0, -32),
                        textcoords="offset points", ha="center", va="top", fontsize=8)
        ax.annotate("at risk (noisy)", xy=(0, 0), xycoords="axes fraction", xytext=(-8, -32),
                    textcoords="offset points", ha="right", va="top", fontsize=8)
