"""Progress bars for long work (tqdm), silenced with ``PROBINF_PROGRESS=0``."""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["progress"]


def progress(iterable=None, *, desc: str | None = None, total: int | None = None, leave: bool = False, **kwargs):
    """A tqdm progress bar over ``iterable``; disabled when ``PROBINF_PROGRESS=0``."""
    disable = os.environ.get("PROBINF_PROGRESS", "1") == "0"
    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=disable, dynamic_ncols=True, **kwargs)
