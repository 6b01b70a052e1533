"""Renamed arguments and result fields: the former name keeps working for one release and warns.

The rule (``docs/conventions.md``): a public argument that is renamed keeps its old name for one release as a
deprecated alias. The old name's default is ``None`` ("not given"; ``get_params``/``clone`` of an estimator still
work), and the function resolves it with :func:`renamed_argument`, which warns with the package's own deprecation
warning (a subclass of the package's warning base and of :class:`FutureWarning`). A renamed field of a result
keeps its old name as a read-only property from :func:`renamed_attribute`.

Examples
--------
>>> import warnings
>>> def interval(confidence_level=0.95, *, level=None):
...     return renamed_argument(level, confidence_level, old="level", new="confidence_level", default=0.95,
...                             category=FutureWarning)
>>> interval(0.9)
0.9
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     interval(level=0.8)
0.8
>>> str(caught[0].message).split(";")[0]
'level was renamed to confidence_level (same meaning) and will be removed in the next release'
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["renamed_argument", "renamed_attribute"]


def _is_default(value: object, default: object) -> bool:
    if value is default:
        return True
    try:
        return bool(value == default)
    except (TypeError, ValueError):  # arrays and other values without a single truth value
        return False


def renamed_argument(old_value: Any, new_value: Any, *, old: str, new: str, default: Any,
                     category: type[Warning], stacklevel: int = 3) -> Any:
    """The value of ``new`` when its former name ``old`` may have been passed instead.

    Parameters
    ----------
    old_value, new_value
        What the caller passed under the former and the new name (``old_value`` is ``None`` when the former
        name was not used).
    old, new : str
        The two names, for the messages.
    default
        ``new``'s default: a value other than it together with ``old`` means both were given.
    category : type of Warning
        The package's deprecation warning.
    stacklevel : int
        Passed to :func:`warnings.warn` (3: the caller of the function that calls this one).

    Returns
    -------
    ``new_value``, or ``old_value`` (with a warning) when the former name was used.

    Raises
    ------
    TypeError
        Both names were given.
    """
    if old_value is None:
        return new_value
    if not _is_default(new_value, default):
        raise TypeError(f"{old} and {new} were both given ({old}={old_value!r}, {new}={new_value!r}); {old} is the "
                        f"former name of {new}: pass only {new}")
    warnings.warn(f"{old} was renamed to {new} (same meaning) and will be removed in the next release; pass "
                  f"{new}={old_value!r}", category, stacklevel=stacklevel)
    return old_value


def renamed_attribute(old: str, new: str, category: type[Warning], stacklevel: int = 2) -> property:
    """A read-only property ``old`` that warns and returns the attribute ``new`` (a renamed result field).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Interval:
    ...     confidence_level: float
    ...     level = renamed_attribute("level", "confidence_level", FutureWarning)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     Interval(0.9).level
    0.9
    """

    def get(self: object) -> Any:
        warnings.warn(f"{type(self).__name__}.{old} was renamed to {new} (same meaning) and will be removed in the "
                      "next release", category, stacklevel=stacklevel)
        return getattr(self, new)

    return property(get, doc=f"Former name of ``{new}`` (deprecated; it warns).")
