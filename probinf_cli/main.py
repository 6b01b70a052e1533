"""The ``probinf`` command line (typer).

Application sub-commands are registered here (the CLI may import applications;
the ``probinf`` package itself never does). Each application adds one line to
``_SUBAPPS`` or ``_COMMANDS``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="probinf: validated SMC/MCMC and its applications.", no_args_is_help=True)

# Application sub-commands: (module, attribute) of a typer app or command, registered lazily.
_SUBAPPS: dict[str, tuple[str, str]] = {
    "tts": ("probinf_cli.commands.tts", "app"),
}
_COMMANDS: dict[str, tuple[str, str]] = {
    "dp-epsilon": ("probinf_cli.commands.dp_epsilon", "dp_epsilon"),
}


@app.command()
def reproduce(
    names: Optional[List[str]] = typer.Argument(None, help="Reproductions to run (default: all)."),
    quick: bool = typer.Option(True, "--quick/--full", help="Quick scale (minutes) or full paper scale."),
    out: Path = typer.Option(Path("reports"), "--out", help="Output directory for figures, tables and index."),
    seed: int = typer.Option(0, help="Master seed."),
    list_: bool = typer.Option(False, "--list", help="List registered reproductions and exit."),
):
    """Run paper reproductions and write an index report (Markdown + HTML) with figures."""
    from probinf_cli.runner import REPRODUCTIONS, run_reproductions

    if list_:
        for name, target in sorted(REPRODUCTIONS.items()):
            typer.echo(f"{name}\t{target}")
        return
    try:
        index = run_reproductions(names or [], out, quick=quick, seed=seed, echo=typer.echo)
    except (ValueError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"report written to {index}")


def _register_lazy():
    for name, (module, attr) in _SUBAPPS.items():
        try:
            app.add_typer(getattr(importlib.import_module(module), attr), name=name)
        except ImportError as exc:  # optional dependency missing: say so instead of vanishing
            def _missing(exc=exc, name=name):
                typer.echo(f"'{name}' is unavailable: {exc}", err=True)
                raise typer.Exit(code=1)
            app.command(name=name)(_missing)
    for name, (module, attr) in _COMMANDS.items():
        app.command(name=name)(getattr(importlib.import_module(module), attr))


_register_lazy()

if __name__ == "__main__":  # pragma: no cover
    app()
