"""The exception tree drawn in ``errors.py``'s docstring is the real one, and it is the only one.

As httpx's ``test_exceptions`` does: the drawing is parsed and compared with the classes, so
the documentation cannot drift from the code.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import schoolsync
import schoolsync.errors as errors

_NODE = re.compile(r"── (\w+)(?: \(([\w, ]+)\))?")

#: Exceptions of the test doubles, deliberately outside the tree (see errors.py's docstring).
_TEST_DOUBLE_ERRORS = {
    "schoolsync.testing.faults.InjectedFailure",
    "schoolsync.testing.faults.NotAllOrNothingError",
}


def _drawn_tree() -> dict[str, tuple[str | None, set[str]]]:
    """Each class in the drawing -> (its parent in the drawing, the extra bases in brackets)."""
    doc = errors.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert block[0].strip() == "SchoolsyncError"
    tree: dict[str, tuple[str | None, set[str]]] = {"SchoolsyncError": (None, set())}
    stack: list[str] = ["SchoolsyncError"]
    for line in block[1:]:
        found = _NODE.search(line)
        if found is None:  # a description carried onto the next line
            continue
        depth = (found.start() - 4) // 4 + 1
        name, extra = found.group(1), found.group(2)
        del stack[depth:]
        tree[name] = (stack[-1], {b.strip() for b in extra.split(",")} if extra else set())
        stack.append(name)
    return tree


def _real_tree() -> dict[str, tuple[str | None, set[str]]]:
    tree: dict[str, tuple[str | None, set[str]]] = {}
    for name in dir(errors):
        cls = getattr(errors, name)
        if not (isinstance(cls, type) and issubclass(cls, errors.SchoolsyncError)):
            continue
        if cls is errors.SchoolsyncError:
            tree[name] = (None, set())
            continue
        ours = [b for b in cls.__bases__ if issubclass(b, errors.SchoolsyncError)]
        others = {b.__name__ for b in cls.__bases__ if b not in ours[:1]}
        tree[name] = (ours[0].__name__, others - {"SchoolsyncError"})
    return tree


def test_the_drawn_tree_is_the_class_tree() -> None:
    """Every class, its parent and its other bases are as drawn; nothing is missing."""
    assert _drawn_tree() == _real_tree()


def test_every_drawn_class_is_public() -> None:
    """``errors.__all__`` lists exactly the classes of the tree."""
    assert set(errors.__all__) == set(_drawn_tree())


def test_every_exception_is_defined_in_errors() -> None:
    """No public exception class is defined anywhere else in the package (modules that raise
    one re-export it from ``schoolsync.errors``)."""
    elsewhere: list[str] = []
    for info in pkgutil.walk_packages(schoolsync.__path__, "schoolsync."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and not name.startswith("_")
            ):
                elsewhere.append(f"{info.name}.{name}")
    assert set(elsewhere) - {f"schoolsync.errors.{n}" for n in errors.__all__} == (
        _TEST_DOUBLE_ERRORS
    )


def test_moved_errors_are_still_importable_where_they_were() -> None:
    """The exceptions that moved into errors.py keep their old import paths."""
    from schoolsync.bulk import BulkImportError, BulkRowError
    from schoolsync.trusts import MembershipStateError, TrustAdminTokenError

    assert BulkImportError is errors.BulkImportError
    assert BulkRowError is errors.BulkRowError
    assert MembershipStateError is errors.MembershipStateError
    assert TrustAdminTokenError is errors.TrustAdminTokenError
