"""Lazy package exports (PEP 562): a package's public names are imported from their modules on first use.

Every package ``__init__`` with heavy submodules uses this one helper, so that ``import probinf``,
``import privacy`` and the command line start fast (``docs/conventions.md``, *Layers*).

Examples
--------
In a package's ``__init__.py``::

    _LAZY = {"Population": "probinf.population", "reweight": "probinf.population"}
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` for the names in ``where``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : mapping of str to str
        Public name -> the module that defines it.

    Returns
    -------
    (__getattr__, __dir__)
        ``__getattr__(name)`` imports ``where[name]`` once and caches the value in the package (an unknown name is
        the usual ``AttributeError``); ``__dir__()`` lists the package's globals and its ``__all__``.
    """

    def __getattr__(name: str) -> Any:
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[package])
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
