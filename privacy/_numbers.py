"""One check for scalar parameters given by users: a real number, never text or a bool."""

from __future__ import annotations

import numpy as np

__all__ = ["real_number"]


def real_number(v, name: str, expected: str = "a real number", error: type[Exception] = TypeError) -> float:
    """``v`` as a float: Python and NumPy reals, 0-d arrays of them.

    Text (``float("1")`` would parse it), bools and anything without a real value raise
    ``error`` (``TypeError`` by default) saying "``name`` must be ``expected``".
    """
    if isinstance(v, (str, bytes, bool, np.bool_)) or not hasattr(v, "__float__") or np.ndim(v) != 0 \
            or np.asarray(v).dtype.kind not in "iuf":
        got = f"the text {v!r}" if isinstance(v, (str, bytes)) else f"{v!r} ({type(v).__name__})"
        raise error(f"{name} must be {expected}, got {got}")
    return float(v)
