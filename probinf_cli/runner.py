"""Registry of paper reproductions and the report that ``probinf reproduce`` writes.

A reproduction is a function ``run(out_dir: Path, *, quick: bool = True, seed: int = 0)
-> ReproResult``.  It writes its PNG figures into ``out_dir`` and returns them with
its tables; :func:`run_reproductions` writes each table as CSV and an index report
(``index.md`` and ``index.html``) linking everything.

Reproductions are registered by name -> ``"module:function"`` strings and imported
lazily, so the core never imports an application package at import time.
Each application adds its own line to :data:`REPRODUCTIONS`.
"""

from __future__ import annotations

import html
import importlib
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["ReproResult", "REPRODUCTIONS", "get_reproduction", "run_reproductions"]

# name -> "module:function"; one line per reproduction, kept sorted.
REPRODUCTIONS: dict[str, str] = {
    "conformal": "probinf_cli.reproductions.conformal:run",
    "crowd": "probinf_cli.reproductions.crowd:run",
    "dp-epsilon": "probinf_cli.reproductions.dp_epsilon:run",
    "dp-km": "probinf_cli.reproductions.dp_km:run",
    "smc-samplers": "probinf_cli.reproductions.smc_samplers:run",
    "smc-validity": "probinf_cli.reproductions.smc_validity:run",
    "tts": "probinf_cli.reproductions.tts:run",
}


@dataclass
class ReproResult:
    """What a reproduction produced: a title, a Markdown summary, figure paths and named tables."""

    title: str
    summary: str = ""
    figures: list[Path] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def get_reproduction(name: str):
    """The ``run`` function registered under ``name`` (imported lazily)."""
    if name not in REPRODUCTIONS:
        raise ValueError(f"unknown reproduction {name!r}; registered: {sorted(REPRODUCTIONS)}")
    module, func = REPRODUCTIONS[name].split(":")
    return getattr(importlib.import_module(module), func)


def _df_markdown(df: pd.DataFrame) -> str:
    try:
        return df.to_markdown(index=False, floatfmt=".4g")
    except ImportError:  # tabulate missing: fall back to a plain table
        return "```\n" + df.to_string(index=False) + "\n```"


def run_reproductions(names, out: Path, *, quick: bool = True, seed: int = 0, echo=print) -> Path:
    """Run the named reproductions (all when empty), write the index report; return its path.

    A reproduction that raises is reported as failed in the index (with its
    traceback) and the command exits non-zero after the others have run.
    """
    names = list(names) or sorted(REPRODUCTIONS)
    for name in names:
        if name not in REPRODUCTIONS:
            raise ValueError(f"unknown reproduction {name!r}; registered: {sorted(REPRODUCTIONS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# probinf reproductions ({'quick' if quick else 'full'} scale, seed {seed})", ""]
    htm = [f"<html><head><meta charset='utf-8'><title>probinf reproductions</title></head><body>",
           f"<h1>probinf reproductions ({'quick' if quick else 'full'} scale, seed {seed})</h1>"]
    failures = []
    for name in names:
        sub = out / name
        sub.mkdir(parents=True, exist_ok=True)
        echo(f"[probinf] reproducing {name} ...")
        t0 = time.perf_counter()
        try:
            result = get_reproduction(name)(sub, quick=quick, seed=seed)
        except Exception:  # report and go on with the others
            tb = traceback.format_exc()
            failures.append(name)
            md += [f"## {name}: FAILED", "", "```", tb, "```", ""]
            htm += [f"<h2>{html.escape(name)}: FAILED</h2><pre>{html.escape(tb)}</pre>"]
            echo(tb)
            continue
        dt = time.perf_counter() - t0
        md += [f"## {result.title} (`{name}`, {dt:.1f} s)", "", result.summary, ""]
        htm += [f"<h2>{html.escape(result.title)} ({html.escape(name)}, {dt:.1f} s)</h2>",
                f"<pre style='white-space:pre-wrap'>{html.escape(result.summary)}</pre>"]
        for tname, df in result.tables.items():
            csv = sub / f"{tname}.csv"
            df.to_csv(csv, index=False)
            md += [f"### {tname}", "", _df_markdown(df), "", f"[{csv.relative_to(out)}]({csv.relative_to(out)})", ""]
            htm += [f"<h3>{html.escape(tname)}</h3>", df.to_html(index=False, float_format=lambda x: f"{x:.4g}")]
        for fig in result.figures:
            rel = Path(fig).resolve().relative_to(out.resolve())
            md += [f"![{rel.stem}]({rel})", ""]
            htm += [f"<p><img src='{rel}' style='max-width:900px'></p>"]
    htm.append("</body></html>")
    (out / "index.md").write_text("\n".join(md))
    (out / "index.html").write_text("\n".join(htm))
    if failures:
        raise RuntimeError(f"reproductions failed: {failures}; see {out / 'index.md'}")
    return out / "index.md"
