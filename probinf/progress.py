"""Progress bars for long work (tqdm): on in interactive use, off in CI or with ``PROBINF_PROGRESS=0``.

``PROBINF_PROGRESS=1`` forces bars on (also in CI); ``PROBINF_PROGRESS=0`` forces them off;
unset, they are off when the ``CI`` environment variable is set (as GitHub Actions, GitLab
and most CI services do) and on otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["enabled", "progress"]


def enabled() -> bool:
    """Whether progress bars are shown by default (see the module docstring)."""
    flag = os.environ.get("PROBINF_PROGRESS", "").strip()
    if flag in ("0", "1"):
        return flag == "1"
    return os.environ.get("CI", "").strip().lower() in ("", "0", "false", "no")


def progress(iterable: Iterable[Any] | None = None, *, desc: str | None = None, total: int | None = None,
             leave: bool = False, **kwargs: Any) -> tqdm[Any]:
    """A tqdm progress bar over ``iterable``; ``disable`` defaults to ``not enabled()``."""
    disable = kwargs.pop("disable", not enabled())
    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=disable, dynamic_ncols=True, **kwargs)
