"""The files of ``probinf tts run``: the problems it reads and the results it appends to."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["read_problems", "load_done", "count_records"]


def read_problems(path: Path) -> list[dict]:
    """Problems from a JSONL file (``prompt``/``question``, optional ``id`` and ``answer``)."""
    out = []
    with Path(path).open() as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(d, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(d).__name__}")
            prompt = d.get("prompt", d.get("question"))
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"{path}:{lineno}: needs a non-empty string 'prompt' (or 'question'), got {prompt!r}")
            d = dict(d, prompt=prompt, id=str(d.get("id", lineno)))
            out.append(d)
    ids = [d["id"] for d in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: problem ids must be unique")
    return out


def _key(rec: dict) -> tuple:
    return (str(rec.get("id")), rec.get("method"), int(rec.get("budget", -1)), int(rec.get("seed", -1)))


def _records(out: Path) -> tuple[list[dict], int]:
    """The complete records of ``out`` and the byte length they span (a torn last line excluded).

    Raises ValueError for a damaged line before the last one: that is not a kill mid-write,
    and dropping it would lose a result.
    """
    data = Path(out).read_bytes()
    records, end, pos = [], 0, 0
    lines = data.split(b"\n")
    for lineno, raw in enumerate(lines, 1):
        last = lineno == len(lines)
        if last and not raw.strip():
            break
        try:
            rec = json.loads(raw)
            if last or not isinstance(rec, dict):  # no newline yet: the write was cut
                raise ValueError("torn line")
        except ValueError:
            if last:
                break
            if not raw.strip():
                pos += len(raw) + 1
                end = pos
                continue
            raise ValueError(f"{out}:{lineno}: not a JSON record; fix or remove that line (results after it are "
                             "kept), or pass --overwrite to start again") from None
        records.append(rec)
        pos += len(raw) + 1
        end = pos
    return records, end


def count_records(out: Path) -> int:
    """How many complete results ``out`` holds (0 when it does not exist)."""
    return len(_records(out)[0]) if Path(out).exists() else 0


def load_done(out: Path) -> set[tuple]:
    """Keys ``(id, method, budget, seed)`` already in ``out``.

    A torn last line (a record cut by a kill mid-write) is cut off the file so that the next
    append starts on a fresh line; complete records are never touched.
    """
    out = Path(out)
    if not out.exists():
        return set()
    records, end = _records(out)
    if end < out.stat().st_size:
        with out.open("r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    return {_key(rec) for rec in records}
