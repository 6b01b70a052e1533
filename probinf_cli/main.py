"""The ``probinf`` command line (typer): ``reproduce``, ``dp-epsilon`` and ``tts``.

The shell sits above the applications and imports them directly, inside the commands, so that
``probinf --help`` and the light commands do not pay for JAX, torch or matplotlib at import time.
"""

from __future__ import annotations

from pathlib import Path

import typer

from probinf_cli.commands.dp_epsilon import dp_epsilon
from probinf_cli.commands.tts import app as tts_app

__all__ = ["app", "main"]

app = typer.Typer(help="probinf: validated SMC/MCMC and its applications.", no_args_is_help=True)
app.add_typer(tts_app, name="tts")
app.command(name="dp-epsilon")(dp_epsilon)


def _list_reproductions() -> None:
    from probinf_cli.reproductions import REPRODUCTIONS

    width = max(len(n) for n in REPRODUCTIONS)
    typer.echo(f"{'name':{width}s}  {'quick':>9s}  {'full':>9s}  description")
    for name, r in REPRODUCTIONS.items():
        typer.echo(f"{name:{width}s}  {f'~{r.quick_minutes:g} min':>9s}  {f'~{r.full_minutes:g} min':>9s}  "
                   f"{r.description}")
    typer.echo("Times: minutes on 2 shared CPU cores (quick: default; full: --full).")


@app.command()
def reproduce(
    names: list[str] | None = typer.Argument(None, help="Reproductions to run (default: all; see --list)."),
    quick: bool = typer.Option(True, "--quick/--full", help="Quick scale (minutes) or full paper scale."),
    out: Path = typer.Option(Path("reports"), "--out", help="Output directory for figures, tables and index."),
    seed: int = typer.Option(0, help="Master seed."),
    list_: bool = typer.Option(False, "--list", help="List the reproductions with descriptions and times, and exit."),
) -> None:
    """Run paper reproductions and write an index report (Markdown + HTML) with figures."""
    if list_:
        _list_reproductions()
        return
    from probinf_cli.exceptions import CLIError
    from probinf_cli.runner import run_reproductions

    try:
        index = run_reproductions(names or [], out, quick=quick, seed=seed, echo=typer.echo)
    except CLIError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"report written to {index}")


def main() -> None:  # pragma: no cover - the console script's entry point
    """Run the ``probinf`` application."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
