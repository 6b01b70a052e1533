"""Shared assertion of the fuzz suites: a bad input raises OUR clear error, never a result or a dependency's."""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

# Bad scalars for a parameter that must be a number in some range.
BAD_NUMBERS = [math.nan, math.inf, -math.inf, -1.0, "0.5", None, [], object(), 1e300j]


def raise_site(exc: BaseException) -> str:
    tb = exc.__traceback__
    last = ""
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last


def assert_clear_error(packages, func, /, *args, **kwargs):
    """``func(*args, **kwargs)`` must raise a ValueError/TypeError (or sklearn's NotFittedError) whose raise
    site is in one of ``packages`` (so it is our check, not a dependency's), with a message that says
    something.  Returns the exception."""
    roots = [os.path.dirname(p.__file__) + os.sep for p in packages]
    try:
        out = func(*args, **kwargs)
    except NotFittedError as exc:
        return exc
    except (ValueError, TypeError) as exc:
        site = raise_site(exc)
        assert any(site.startswith(r) for r in roots), f"{type(exc).__name__} raised in {site}: {exc}"
        assert len(str(exc)) >= 20, f"unhelpful message: {exc!r}"
        return exc
    raise AssertionError(f"bad input accepted silently; returned {type(out).__name__}")


def nan_free(x) -> bool:
    a = np.asarray(x, dtype=float)
    return not np.isnan(a).any()


def bad_matrix(n_rows: int, n_cols: int):
    """Strategy of bad 2-D feature inputs for a (n_rows, n_cols) slot."""
    good = np.zeros((n_rows, n_cols))
    with_nan = good.copy()
    with_nan[0, 0] = np.nan
    with_inf = good.copy()
    with_inf[-1, -1] = np.inf
    return st.sampled_from([
        None, "X", 3.0, np.zeros(n_rows), np.zeros((n_rows, n_cols, 2)), np.zeros((0, n_cols)),
        np.zeros((n_rows, 0)), with_nan, with_inf, np.full((n_rows, n_cols), "a"), good.astype(complex),
    ])


def bad_vector(n: int, *, numeric: bool = True):
    """Strategy of bad 1-D target inputs for a length-n slot (wrong length, 2-D, NaN/inf, text)."""
    items = [None, np.zeros(n + 1), np.zeros(max(n - 1, 0)), np.zeros((n, 2))]
    if numeric:
        v = np.zeros(n)
        v[0] = np.nan
        w = np.zeros(n)
        w[-1] = -np.inf
        items += [v, w, np.array(["a"] * n)]
    return st.sampled_from(items)
