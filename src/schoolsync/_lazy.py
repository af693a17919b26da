"""Names a package loads from their modules on first use (PEP 562), shared by the lazy packages.

A package keeps a mapping ``name -> module`` and defines::

    def __getattr__(name: str) -> Any:
        return load(__name__, _LAZY, name)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from importlib import import_module
from typing import Any

__all__ = ["load"]


def load(package: str, module_of: Mapping[str, str], name: str) -> Any:
    """Attribute *name* of *package*, imported from ``module_of[name]`` and kept on the package.

    Raises:
        AttributeError: *name* is not one of the package's lazy names (as for any module).
    """
    module = module_of.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    setattr(sys.modules[package], name, value)  # later look-ups do not come here again
    return value
