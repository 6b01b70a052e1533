"""Run paper reproductions and write the report that ``probinf reproduce`` produces.

A reproduction is a function ``run(out_dir: Path, *, quick: bool = True, seed: int = 0)
-> ReproResult`` (see :mod:`probinf_cli.reproductions`).  It writes its PNG figures into
``out_dir`` and returns them with its tables; :func:`run_reproductions` writes each table as
CSV and an index report (``index.md`` and ``index.html``) linking everything.
"""

from __future__ import annotations

import html
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from probinf_cli.exceptions import OutputDirError, ReproductionFailedError, UnknownReproductionError
from probinf_cli.markdown import markdown_to_html
from probinf_cli.reproductions import REPRODUCTIONS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ReproResult", "get_reproduction", "run_reproductions", "check_writable"]


@dataclass(frozen=True)
class ReproResult:
    """What a reproduction produced: a title, a Markdown summary, figure paths and named tables.

    Immutable: ``figures`` is stored as a tuple and ``tables`` as a read-only mapping.

    Examples
    --------
    >>> r = ReproResult("t", "s", figures=["a.png"])
    >>> r.figures
    (PosixPath('a.png'),)
    """

    title: str
    summary: str = ""
    figures: Sequence[Path | str] = ()
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "figures", tuple(Path(f) for f in self.figures))
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))


def get_reproduction(name: str) -> Callable[..., ReproResult]:
    """The ``run`` function of the reproduction called ``name``."""
    if name not in REPRODUCTIONS:
        raise UnknownReproductionError(
            f"unknown reproduction {name!r}; expected one of {sorted(REPRODUCTIONS)} (see `probinf reproduce --list`)")
    return REPRODUCTIONS[name].run


def check_writable(out: Path) -> Path:
    """Create ``out`` if needed and check a file can be written there; raise :class:`OutputDirError` if not."""
    out = Path(out)
    probe = out / ".probinf-write-test"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputDirError(f"cannot write to the output directory {str(out)!r} ({reason}); "
                             "pass --out with a directory you can write to") from None
    return out


def _df_markdown(df: pd.DataFrame) -> str:
    try:
        return str(df.to_markdown(index=False, floatfmt=".4g"))
    except ImportError:  # tabulate missing: fall back to a plain table
        return "```\n" + df.to_string(index=False) + "\n```"


def _use_agg() -> None:
    """Figures are written to files: a non-interactive matplotlib backend, chosen by the runner only."""
    import matplotlib

    matplotlib.use("Agg")


def _section(name: str, sub: Path, out: Path, run: Callable[..., ReproResult], *, quick: bool, seed: int,
             echo: Callable[[str], Any]) -> tuple[list[str], list[str], bool]:
    """Run one reproduction; its Markdown and HTML parts and whether it succeeded."""
    t0 = time.perf_counter()
    try:
        result = run(sub, quick=quick, seed=seed)
    except Exception:  # report and go on with the others
        tb = traceback.format_exc()
        echo(tb)
        return ([f"## {name}: FAILED", "", "```", tb, "```", ""],
                [f"<h2>{html.escape(name)}: FAILED</h2><pre>{html.escape(tb)}</pre>"], False)
    dt = time.perf_counter() - t0
    md = [f"## {result.title} (`{name}`, {dt:.1f} s)", "", result.summary, ""]
    htm = [f"<h2>{html.escape(result.title)} ({html.escape(name)}, {dt:.1f} s)</h2>", markdown_to_html(result.summary)]
    for tname, df in result.tables.items():
        csv = sub / f"{tname}.csv"
        df.to_csv(csv, index=False)
        rel_csv = csv.relative_to(out).as_posix()
        md += [f"### {tname}", "", _df_markdown(df), "", f"[{rel_csv}]({rel_csv})", ""]
        htm += [f"<h3>{html.escape(tname)}</h3>", df.to_html(index=False, float_format=lambda x: f"{x:.4g}")]
    for fig in result.figures:
        rel = Path(fig).resolve().relative_to(out.resolve()).as_posix()
        md += [f"![{Path(rel).stem}]({rel})", ""]
        htm += [f"<p><img src='{html.escape(rel)}' style='max-width:900px'></p>"]
    return md, htm, True


def run_reproductions(names: Iterable[str], out: Path, *, quick: bool = True, seed: int = 0,
                      echo: Callable[[str], Any] = print) -> Path:
    """Run the named reproductions (all when empty), write the index report; return its path.

    Raises :class:`~probinf_cli.exceptions.UnknownReproductionError` or
    :class:`~probinf_cli.exceptions.OutputDirError` before anything runs.  A reproduction
    that raises is reported as failed in the index (with its traceback), and
    :class:`~probinf_cli.exceptions.ReproductionFailedError` is raised after the others have run.
    """
    names = list(names) or list(REPRODUCTIONS)
    runs = {name: get_reproduction(name) for name in names}
    out = check_writable(Path(out))
    _use_agg()
    title = f"probinf reproductions ({'quick' if quick else 'full'} scale, seed {seed})"
    md = [f"# {title}", ""]
    htm = ["<html><head><meta charset='utf-8'><title>probinf reproductions</title></head><body>",
           f"<h1>{html.escape(title)}</h1>"]
    failures = []
    for name, run in runs.items():
        sub = check_writable(out / name)
        echo(f"[probinf] reproducing {name} ...")
        part_md, part_htm, ok = _section(name, sub, out, run, quick=quick, seed=seed, echo=echo)
        md += part_md
        htm += part_htm
        if not ok:
            failures.append(name)
    htm.append("</body></html>")
    (out / "index.md").write_text("\n".join(md))
    (out / "index.html").write_text("\n".join(htm))
    if failures:
        raise ReproductionFailedError(f"reproductions failed: {failures}; see {out / 'index.md'}")
    return out / "index.md"
