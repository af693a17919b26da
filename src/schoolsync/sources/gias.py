"""The DfE "Get Information about Schools" (GIAS) links file: predecessor and successor URNs.

An academy conversion (and some re-organisations) closes the old establishment and opens a new
one with a new URN. GIAS publishes the links between them (``links_edubasealldata*.csv``:
``URN``, ``LinkURN``, ``LinkName``, ``LinkType``, ``LinkEstablishedDate``). A host loads the file
with :func:`read_gias_links` and follows a school across its URNs with
:meth:`GiasLinks.current_urn` (e.g. through
:meth:`~schoolsync.access.lifecycle.TrustLifecycle.follow_urn_changes`), so memberships and
grants, which hang on the school's own id, carry on.

Only plain ``Successor``/``Predecessor`` links are followed by default: merges, amalgamations
and splits join or divide establishments, so which school carries the grants is a decision for a
person (pass *identity_types* to follow more).

The file is Windows-1252 encoded (the reader also accepts UTF-8); dates are ``dd-mm-yyyy`` and
often blank. Contains public sector information licensed under the Open Government Licence v3.0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable
from datetime import date, datetime
from pathlib import Path

import attrs

from schoolsync.errors import FileFormatError, InvalidIdentifierError
from schoolsync.identifiers import Urn
from schoolsync.trusts import School

__all__ = [
    "DEFAULT_IDENTITY_TYPES",
    "GiasLink",
    "GiasLinks",
    "read_gias_links",
]

#: Link types that mean "the same school, now under a new URN".
DEFAULT_IDENTITY_TYPES: frozenset[str] = frozenset({"Successor"})

_REQUIRED = ("URN", "LinkURN", "LinkType")


@attrs.frozen(kw_only=True)
class GiasLink:
    """One row of the links file: *urn* is linked to *link_urn* as *link_type*."""

    urn: Urn
    link_urn: Urn
    link_type: str
    link_name: str = ""
    established: date | None = None

    @property
    def is_successor(self) -> bool:
        """True if *link_urn* succeeds *urn* (any ``Successor...`` type)."""
        return self.link_type.startswith("Successor")

    @property
    def is_predecessor(self) -> bool:
        """True if *link_urn* preceded *urn* (any ``Predecessor...`` type)."""
        return self.link_type.startswith("Predecessor")


@attrs.frozen
class GiasLinks:
    """The links file, indexed for following establishments across URNs.

    Args:
        links: the rows.
        identity_types: successor link types followed by :meth:`current_urn` (the matching
            ``Predecessor`` types are followed backwards by :meth:`former_urns`).
    """

    links: tuple[GiasLink, ...]
    identity_types: frozenset[str] = DEFAULT_IDENTITY_TYPES
    _successors: dict[str, list[str]] = attrs.field(init=False, eq=False, repr=False)
    _predecessors: dict[str, list[str]] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        successors: dict[str, set[str]] = {}
        predecessors: dict[str, set[str]] = {}
        backwards = {t.replace("Successor", "Predecessor", 1) for t in self.identity_types}
        for link in self.links:
            if link.link_type in self.identity_types:
                successors.setdefault(link.urn.value, set()).add(link.link_urn.value)
                predecessors.setdefault(link.link_urn.value, set()).add(link.urn.value)
            elif link.link_type in backwards:
                predecessors.setdefault(link.urn.value, set()).add(link.link_urn.value)
                successors.setdefault(link.link_urn.value, set()).add(link.urn.value)
        object.__setattr__(self, "_successors", {k: sorted(v) for k, v in successors.items()})
        object.__setattr__(self, "_predecessors", {k: sorted(v) for k, v in predecessors.items()})

    def __len__(self) -> int:
        return len(self.links)

    def successors(self, urn: Urn) -> tuple[Urn, ...]:
        """The URNs that directly succeed *urn* (identity links only)."""
        return tuple(Urn(u) for u in self._successors.get(urn.value, ()))

    def predecessors(self, urn: Urn) -> tuple[Urn, ...]:
        """The URNs that *urn* directly succeeds (identity links only)."""
        return tuple(Urn(u) for u in self._predecessors.get(urn.value, ()))

    def current_urns(self, urn: Urn) -> frozenset[Urn]:
        """Every URN at the end of *urn*'s successor chains (itself if it has no successor)."""
        ends: set[str] = set()
        seen: set[str] = set()
        stack = [urn.value]
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            nxt = [s for s in self._successors.get(u, ()) if s not in seen]
            if not nxt:
                if not self._successors.get(u):
                    ends.add(u)
                continue
            stack.extend(nxt)
        if not ends:  # a cycle with no way out: stay where we are
            ends.add(urn.value)
        return frozenset(Urn(u) for u in ends)

    def current_urn(self, urn: Urn) -> Urn:
        """The URN the establishment holds now, following successor links to the end.

        Returns *urn* itself when it has no successor, and also when its chain branches into
        several current URNs (a person must decide; see :meth:`current_urns`).
        """
        ends = self.current_urns(urn)
        return next(iter(ends)) if len(ends) == 1 else urn

    def former_urns(self, urn: Urn) -> tuple[Urn, ...]:
        """Every URN that precedes *urn* through identity links, nearest first."""
        order: list[str] = []
        seen = {urn.value}
        frontier = [urn.value]
        while frontier:
            following: list[str] = []
            for u in frontier:
                for p in self._predecessors.get(u, ()):
                    if p not in seen:
                        seen.add(p)
                        order.append(p)
                        following.append(p)
            frontier = following
        return tuple(Urn(u) for u in order)

    def find_school(self, schools: Iterable[School], urn: Urn) -> School | None:
        """The school known by *urn*, directly (current or former URN) or across GIAS links."""
        candidates = {urn, *self.current_urns(urn), *self.former_urns(urn)}
        for end in list(candidates):
            candidates.update(self.former_urns(end))
        direct: School | None = None
        linked: School | None = None
        for school in schools:
            if school.holds_urn(urn):
                direct = school
            elif linked is None and any(school.holds_urn(c) for c in candidates):
                linked = school
        return direct or linked


def _parse_date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    for fmt in ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def read_gias_links(
    path: str | Path,
    *,
    identity_types: Collection[str] = DEFAULT_IDENTITY_TYPES,
    strict: bool = False,
) -> GiasLinks:
    """Read a GIAS links file.

    Args:
        path: ``links_edubasealldata*.csv``.
        identity_types: the successor link types :meth:`GiasLinks.current_urn` follows.
        strict: raise on a row with a bad URN instead of skipping it.

    Raises:
        FileFormatError: the file cannot be read, lacks the ``URN``, ``LinkURN`` or
            ``LinkType`` column, or (when *strict*) a row has a URN that is not six digits
            (naming the row and the column).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(path.name, f"cannot read the file: {exc}", code="unreadable") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _read_links(path.name, reader, identity_types, strict=strict)
    except csv.Error as exc:  # a field beyond csv's limit, a NUL
        raise FileFormatError(
            path.name, f"broken CSV ({exc})", row=reader.line_num, code="unreadable"
        ) from None


def _read_links(
    name: str,
    reader: csv.DictReader[str],
    identity_types: Iterable[str],
    *,
    strict: bool,
) -> GiasLinks:
    fields = reader.fieldnames or []
    missing = [c for c in _REQUIRED if c not in fields]
    if missing:
        raise FileFormatError(
            name,
            f"not a GIAS links file: missing column(s) {', '.join(missing)}",
            row=1,
            code="header_missing",
        )
    links: list[GiasLink] = []
    for record in reader:
        urns: list[Urn] = []
        for column in ("URN", "LinkURN"):
            value = record.get(column) or ""
            try:
                urns.append(Urn.parse(value))
            except InvalidIdentifierError as exc:
                if strict:
                    raise FileFormatError(
                        name,
                        exc.reason,
                        row=reader.line_num,
                        field=column,
                        value=value,
                        code="urn_invalid",
                    ) from exc
                break
        if len(urns) != 2:
            continue
        urn, link_urn = urns
        links.append(
            GiasLink(
                urn=urn,
                link_urn=link_urn,
                link_type=(record.get("LinkType") or "").strip(),
                link_name=(record.get("LinkName") or "").strip(),
                established=_parse_date(record.get("LinkEstablishedDate") or ""),
            )
        )
    return GiasLinks(tuple(links), frozenset(identity_types))
