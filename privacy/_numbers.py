"""One check for scalar parameters given by users: a real number, never text or a bool."""

from __future__ import annotations

import numpy as np

__all__ = ["real_number"]


def real_number(v, name: str) -> float:
    """``v`` as a float: Python and NumPy reals, 0-d arrays of them.

    Text (``float("1")`` would parse it), bools and anything without a real value raise
    ``TypeError`` naming the parameter.
    """
    if isinstance(v, (str, bytes, bool, np.bool_)) or not hasattr(v, "__float__") or np.ndim(v) != 0 \
            or np.asarray(v).dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number, got {v!r} ({type(v).__name__})")
    return float(v)
