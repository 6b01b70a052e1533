"""``probinf dp-epsilon``: posterior of epsilon from membership-inference counts, beside Clopper-Pearson.

Example::

    probinf dp-epsilon --tp 1000 --fn 0 --tn 1000 --fp 0 --delta 1e-5
    probinf dp-epsilon --tp 900 --fn 100 --tn 950 --fp 50 --delta 1e-5 --level 0.9 --json

When the counts are consistent with an attack at chance level (the Clopper-Pearson interval
reaches 0: an exact test cannot tell its guesses on members from those on non-members), the
output says so and shows the posterior mass near 0: a small positive lower bound is then no evidence of leakage.
"""

from __future__ import annotations

import json
import math
from typing import Any

import typer

__all__ = ["dp_epsilon", "chance_level"]

#: epsilon thresholds at which the posterior mass is shown for an attack at chance level
NEAR_ZERO = (0.05, 0.1)


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4f}"


def chance_level(cp_lower: float) -> bool:
    """Whether the attack is indistinguishable from guessing at the chosen level.

    True when the Clopper-Pearson interval reaches ``eps = 0``: the exact binomial test cannot
    reject "the attack guesses 'member' as often for members as for non-members".

    >>> chance_level(0.0), chance_level(2.56)
    (True, False)
    """
    return cp_lower <= 0.0


def _check_level(level: float) -> None:
    if not (isinstance(level, float) and 0.5 < level < 1):
        raise ValueError(f"--level must be in (0.5, 1), got {level}: a one-sided lower bound at a level below 0.5 "
                         "lies above the posterior median (and above the equal-tailed interval); use e.g. 0.9 or 0.95")


def _table(summ: dict, cp: Any, cp_lb: float, prior: str) -> list[str]:
    rows = [f"{'':28s}{'Bayesian (' + prior + ')':>22s}{'Clopper-Pearson':>18s}"]
    b_int = "[" + _fmt(summ["interval_lower"]) + ", " + _fmt(summ["interval_upper"]) + "]"
    rows.append(f"{'interval (equal-tailed)':28s}{b_int:>22s}{'[' + _fmt(cp.lower) + ', ' + _fmt(cp.upper) + ']':>18s}")
    rows.append(f"{'one-sided lower bound':28s}{_fmt(summ['lower_bound']):>22s}{_fmt(cp_lb):>18s}")
    rows.append(f"{'posterior mean / median':28s}{_fmt(summ['mean']) + ' / ' + _fmt(summ['median']):>22s}")
    rows.append(f"{'posterior mass at eps = 0':28s}{summ['mass_at_zero']:>22.4g}")
    return rows


def dp_epsilon(
    tp: int = typer.Option(..., "--tp", help="True positives (member trials guessed 'member')."),
    fn: int = typer.Option(..., "--fn", help="False negatives (member trials guessed 'non-member')."),
    tn: int = typer.Option(..., "--tn", help="True negatives (non-member trials guessed 'non-member')."),
    fp: int = typer.Option(..., "--fp", help="False positives (non-member trials guessed 'member')."),
    delta: float = typer.Option(..., "--delta", help="The DP delta, in [0, 1)."),
    level: float = typer.Option(0.95, "--level", help="Credibility/confidence level in (0.5, 1)."),
    prior: str = typer.Option("jeffreys", "--prior", help="Rate prior: jeffreys or uniform."),
    model: str = typer.Option("independent", "--model", help="independent (fixed P, N) or dirichlet (random P, N)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of a table."),
) -> None:
    """Bayesian posterior of epsilon (Zanella-Beguelin et al. 2023) beside the Clopper-Pearson interval."""
    try:
        _check_level(level)
        from privacy.baselines import clopper_pearson_interval, clopper_pearson_lower_bound
        from privacy.counts import AttackCounts
        from privacy.epsilon import epsilon_posterior

        counts = AttackCounts(tp=tp, fn=fn, tn=tn, fp=fp)
        post = epsilon_posterior(counts, delta, prior=prior, model=model)
        summ = post.summary(level)
        cp = clopper_pearson_interval(counts, delta, level)
        cp_lb = clopper_pearson_lower_bound(counts, delta, level)
        at_chance = chance_level(cp.lower)
        near_zero = {e: float(post.cdf(e)) for e in NEAR_ZERO}
    except (ValueError, TypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if as_json:
        out = {"bayesian": summ, "clopper_pearson": {"interval_lower": cp.lower, "interval_upper": cp.upper,
                                                     "lower_bound": cp_lb, "confidence_level": level},
               "chance_level": {"at_chance": at_chance,
                                "posterior_mass_below": {str(e): m for e, m in near_zero.items()}}}
        typer.echo(json.dumps(out, indent=2, default=lambda v: None if v != v else v).replace("Infinity", '"inf"'))
        return
    typer.echo(f"counts: TP={tp} FN={fn} TN={tn} FP={fp}  (P={counts.P}, N={counts.N}; "
               f"FPR={counts.fpr:.4g}, FNR={counts.fnr:.4g}); delta={delta:g}; level={level:g}")
    typer.echo(f"plug-in epsilon at the empirical rates: {_fmt(summ['empirical_epsilon'])}")
    for row in _table(summ, cp, cp_lb, prior):
        typer.echo(row)
    for e, m in near_zero.items():
        typer.echo(f"{f'posterior mass at eps <= {e:g}':28s}{m:>22.4g}")
    if at_chance:
        typer.echo(f"CAVEAT: this attack is at chance level (it guesses 'member' as often for members as for "
                   f"non-members: the {level:g} Clopper-Pearson interval reaches 0). The lower bound "
                   f"{_fmt(summ['lower_bound'])} is not evidence of leakage: the posterior puts "
                   f"{near_zero[NEAR_ZERO[-1]]:.0%} of its mass below eps = {NEAR_ZERO[-1]:g}. Report 'no leakage "
                   "detected by this attack', not 'eps >= the bound'.")
