"""``probinf dp-epsilon``: posterior of epsilon from membership-inference counts, beside Clopper-Pearson.

Registered in :mod:`probinf.cli` under ``_COMMANDS["dp-epsilon"]``.

Example::

    probinf dp-epsilon --tp 1000 --fn 0 --tn 1000 --fp 0 --delta 1e-5
    probinf dp-epsilon --tp 900 --fn 100 --tn 950 --fp 50 --delta 1e-5 --level 0.9 --json
"""

from __future__ import annotations

import json
import math

import typer

__all__ = ["dp_epsilon"]


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4f}"


def dp_epsilon(
    tp: int = typer.Option(..., "--tp", help="True positives (member trials guessed 'member')."),
    fn: int = typer.Option(..., "--fn", help="False negatives (member trials guessed 'non-member')."),
    tn: int = typer.Option(..., "--tn", help="True negatives (non-member trials guessed 'non-member')."),
    fp: int = typer.Option(..., "--fp", help="False positives (non-member trials guessed 'member')."),
    delta: float = typer.Option(..., "--delta", help="The DP delta, in [0, 1)."),
    level: float = typer.Option(0.95, "--level", help="Credibility/confidence level in (0, 1)."),
    prior: str = typer.Option("jeffreys", "--prior", help="Rate prior: jeffreys or uniform."),
    model: str = typer.Option("independent", "--model", help="independent (fixed P, N) or dirichlet (random P, N)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of a table."),
):
    """Bayesian posterior of epsilon (Zanella-Beguelin et al. 2023) beside the Clopper-Pearson interval."""
    from privacy import AttackCounts, epsilon_posterior
    from privacy.baselines import clopper_pearson_interval, clopper_pearson_lower_bound

    try:
        counts = AttackCounts(tp=tp, fn=fn, tn=tn, fp=fp)
        post = epsilon_posterior(counts, delta, prior=prior, model=model)
        summ = post.summary(level)
        cp = clopper_pearson_interval(counts, delta, level)
        cp_lb = clopper_pearson_lower_bound(counts, delta, level) if level > 0.5 else float("nan")
    except (ValueError, TypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2)
    if as_json:
        out = {"bayesian": summ, "clopper_pearson": {"interval_lower": cp.lower, "interval_upper": cp.upper,
                                                     "lower_bound": cp_lb, "level": level}}
        typer.echo(json.dumps(out, indent=2, default=lambda v: None if v != v else v).replace("Infinity", '"inf"'))
        return
    typer.echo(f"counts: TP={tp} FN={fn} TN={tn} FP={fp}  (P={counts.P}, N={counts.N}; "
               f"FPR={counts.fpr:.4g}, FNR={counts.fnr:.4g}); delta={delta:g}; level={level:g}")
    typer.echo(f"plug-in epsilon at the empirical rates: {_fmt(summ['empirical_epsilon'])}")
    typer.echo(f"{'':28s}{'Bayesian (' + prior + ')':>22s}{'Clopper-Pearson':>18s}")
    typer.echo(f"{'interval (equal-tailed)':28s}{'[' + _fmt(summ['interval_lower']) + ', ' + _fmt(summ['interval_upper']) + ']':>22s}"
               f"{'[' + _fmt(cp.lower) + ', ' + _fmt(cp.upper) + ']':>18s}")
    typer.echo(f"{'one-sided lower bound':28s}{_fmt(summ['lower_bound']):>22s}{_fmt(cp_lb):>18s}")
    typer.echo(f"{'posterior mean / median':28s}{_fmt(summ['mean']) + ' / ' + _fmt(summ['median']):>22s}")
    typer.echo(f"{'posterior mass at eps = 0':28s}{summ['mass_at_zero']:>22.4g}")
