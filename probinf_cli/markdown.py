"""Markdown summaries to HTML for the report's ``index.html``.

Uses the ``markdown`` package (with its ``tables`` extension) when it is installed; otherwise a
small converter that covers what the reproductions' summaries use: paragraphs, ``-`` bullet
lists, pipe tables, headings, inline code, bold and italics.  Everything is HTML-escaped first.
"""

from __future__ import annotations

import html
import re

__all__ = ["markdown_to_html"]

_INLINE = (
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])"), r"<em>\1</em>"),
)
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(lines[0]))
    body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(r)) + "</tr>" for r in lines[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _block(lines: list[str]) -> str:
    if len(lines) >= 2 and lines[0].lstrip().startswith("|") and _TABLE_RULE.match(lines[1].strip()):
        return _table(lines)
    if all(re.match(r"^\s*[-*] ", ln) or (i and ln.startswith("  ")) for i, ln in enumerate(lines)):
        items: list[str] = []
        for ln in lines:
            if re.match(r"^\s*[-*] ", ln):
                items.append(ln.strip()[2:])
            else:  # continuation of the previous item
                items[-1] += " " + ln.strip()
        return "<ul>" + "".join(f"<li>{_inline(it)}</li>" for it in items) + "</ul>"
    m = re.match(r"^(#{1,6}) (.*)$", lines[0])
    if m and len(lines) == 1:
        level = len(m.group(1))
        return f"<h{level}>{_inline(m.group(2))}</h{level}>"
    return "<p>" + "<br>\n".join(_inline(ln) for ln in lines) + "</p>"


def _fallback(text: str) -> str:
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            blocks[-1].append(line.rstrip())
        elif blocks[-1]:
            blocks.append([])
    return "\n".join(_block(b) for b in blocks if b)


def markdown_to_html(text: str) -> str:
    """HTML for a Markdown ``text`` (never wrapped in ``<pre>``).

    Examples
    --------
    >>> from probinf_cli.markdown import _fallback
    >>> _fallback("Intro with `code`.\\n\\n- one\\n- **two**")
    '<p>Intro with <code>code</code>.</p>\\n<ul><li>one</li><li><strong>two</strong></li></ul>'
    >>> _fallback("| a | b |\\n|---|---|\\n| 1 | 2 |")
    '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>'
    """
    try:
        import markdown
    except ImportError:
        return _fallback(text)
    return str(markdown.markdown(text, extensions=["tables"]))
