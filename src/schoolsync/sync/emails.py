"""Batch-generate staff email addresses from a school's pattern.

Every member of staff needs a valid email address to log in. :func:`generate_emails` builds them
from the school's pattern (:attr:`schoolsync.trusts.School.email_pattern`, e.g.
``"{forename}.{surname}@school.example"``):

* names are transliterated to ASCII (``Zoë`` -> ``zoe``, ``Søren`` -> ``soren``, ``Straße`` ->
  ``strasse``), lower-cased, apostrophes removed (``O'Brien`` -> ``obrien``), spaces removed
  (``Mary Ann`` -> ``maryann``) and hyphens kept (``Smith-Jones`` -> ``smith-jones``), as
  configured by :class:`EmailPolicy`;
* the preferred name is used where there is one (people log in with the name they use);
* collisions with existing addresses and within the batch get a deterministic numeric suffix
  (``john.smith2@...``), in a stable order, so re-running gives the same answers;
* every result is validated; people for whom no valid address can be made are reported in
  :attr:`EmailBatch.failures`, never silently dropped.

A UPN or a birth date is never part of an address (rules.md R5.9, R4.1).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping

import attrs

from schoolsync.errors import ValidationError
from schoolsync.people import StaffMember
from schoolsync.tables import Tabular

__all__ = [
    "EmailBatch",
    "EmailFailure",
    "EmailPolicy",
    "generate_emails",
    "is_valid_email",
    "normalise_name_part",
    "validate_pattern",
]

PLACEHOLDERS = frozenset(
    {"forename", "surname", "initial", "surname_initial", "legal_forename", "legal_surname"}
)
_SPECIAL = {
    "ø": "o",
    "Ø": "o",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ß": "ss",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "þ": "th",
    "Þ": "th",
    "ı": "i",
}
_APOSTROPHES = "'’‘ʼ`´"
_LOCAL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._+-]*[a-z0-9])?$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@attrs.frozen(kw_only=True)
class EmailPolicy:
    """How names become the parts of an address.

    ``space`` replaces spaces inside a name part (default: removed); ``hyphen`` replaces hyphens
    (default: kept). ``use_preferred`` takes preferred names over legal ones.
    """

    space: str = ""
    hyphen: str = "-"
    use_preferred: bool = True

    def __attrs_post_init__(self) -> None:
        for name in ("space", "hyphen"):
            value = getattr(self, name)
            if value not in ("", "-", ".", "_"):
                raise ValidationError(name, value, "must be one of '', '-', '.', '_'")


@attrs.frozen(kw_only=True)
class EmailFailure:
    """A member of staff for whom no valid address could be made, and why."""

    staff_id: str
    reason: str


@attrs.frozen(kw_only=True)
class EmailBatch(Tabular):
    """The result of :func:`generate_emails`: addresses made and people who need one by hand."""

    generated: Mapping[str, str] = attrs.field(factory=dict)
    failures: tuple[EmailFailure, ...] = ()

    def to_rows(self) -> list[dict[str, object]]:
        """One row per member of staff: the address made, or why none could be."""
        rows: list[dict[str, object]] = [
            {"staff_id": sid, "email": email, "problem": None}
            for sid, email in self.generated.items()
        ]
        rows += [
            {"staff_id": f.staff_id, "email": None, "problem": f.reason} for f in self.failures
        ]
        return rows

    def table_caption(self) -> str | None:
        return f"{len(self.generated)} addresses generated, {len(self.failures)} need a person"


def normalise_name_part(text: str | None, policy: EmailPolicy | None = None) -> str:
    """A name as it appears in an address: ASCII, lower case, no apostrophes.

    >>> normalise_name_part("Zoë O'Brien-Smith")
    'zoeobrien-smith'
    """
    policy = policy or EmailPolicy()
    if not text:
        return ""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text.strip()):
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _APOSTROPHES:
            continue
        elif ch.isspace():
            out.append(" ")
        else:
            decomposed = unicodedata.normalize("NFKD", ch)
            out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
    folded = "".join(out).lower()
    folded = re.sub(r"\s+", " ", folded).strip()
    folded = re.sub(r"[‐‑‒–—]", "-", folded)
    folded = folded.replace(" ", "\0").replace("-", "\1")
    folded = "".join(c for c in folded if c in "\0\1" or (c.isascii() and c.isalnum()))
    folded = folded.replace("\0", policy.space).replace("\1", policy.hyphen)
    # Collapse separators that end up doubled or at the ends.
    for sep in {policy.space, policy.hyphen} - {""}:
        folded = re.sub(re.escape(sep) + "{2,}", sep, folded).strip(sep)
    return folded


#: The longest email pattern accepted (an address is at most 254 characters).
MAX_PATTERN_CHARS = 254


def validate_pattern(pattern: str) -> None:
    """Check an email pattern; raises :class:`~schoolsync.errors.ValidationError` if unusable.

    A pattern has one ``@``, a domain without placeholders and a local part made of
    placeholders (``{forename}``, ``{surname}``, ``{initial}``, ``{surname_initial}``,
    ``{legal_forename}``, ``{legal_surname}``) and literal ``.``, ``_``, ``-`` or letters.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValidationError(
            "email_pattern", pattern[:40] + "...", f"longer than {MAX_PATTERN_CHARS} characters"
        )
    if pattern.count("@") != 1:
        raise ValidationError("email_pattern", pattern, "must contain exactly one '@'")
    local, domain = pattern.split("@")
    try:
        parsed = list(string.Formatter().parse(local))
    except ValueError as exc:  # an unmatched brace
        raise ValidationError("email_pattern", pattern, f"not a pattern ({exc})") from None
    for _, name, spec, conversion in parsed:
        if name is not None and (spec or conversion):
            # {forename:>300000000} would pad to 300 MB; {forename:d} or {forename!z} fail
            # only when used. Placeholders are plain names.
            raise ValidationError(
                "email_pattern",
                pattern,
                "a placeholder takes no format spec or conversion (write {forename}, not "
                "{forename:...} or {forename!...})",
            )
    fields = [name for _, name, _, _ in parsed if name is not None]
    if not fields:
        raise ValidationError("email_pattern", pattern, "the local part has no name placeholder")
    unknown = sorted(set(fields) - PLACEHOLDERS)
    if unknown:
        raise ValidationError(
            "email_pattern",
            pattern,
            f"unknown placeholder(s) {', '.join(unknown)}; use {', '.join(sorted(PLACEHOLDERS))}",
        )
    if "{" in domain or not _DOMAIN_RE.match(domain.lower()):
        raise ValidationError("email_pattern", pattern, "the domain is not a valid domain name")


def is_valid_email(address: str) -> bool:
    """True if *address* is a plausible, deliverable-looking address (local@domain)."""
    if address.count("@") != 1:
        return False
    local, domain = address.split("@")
    return (
        0 < len(local) <= 64
        and ".." not in local
        and bool(_LOCAL_RE.match(local.lower()))
        and bool(_DOMAIN_RE.match(domain.lower()))
    )


def _parts(member: StaffMember, policy: EmailPolicy) -> dict[str, str]:
    forename = (policy.use_preferred and member.preferred_forename) or member.forename
    surname = (policy.use_preferred and member.preferred_surname) or member.surname
    f = normalise_name_part(forename, policy)
    s = normalise_name_part(surname, policy)
    return {
        "forename": f,
        "surname": s,
        "initial": f[:1],
        "surname_initial": s[:1],
        "legal_forename": normalise_name_part(member.forename, policy),
        "legal_surname": normalise_name_part(member.surname, policy),
    }


def generate_emails(
    staff: Iterable[StaffMember],
    pattern: str,
    *,
    taken: Iterable[str] = (),
    policy: EmailPolicy | None = None,
) -> EmailBatch:
    """Make an address for each member of *staff* from *pattern*.

    Args:
        staff: the people who need an address (their current ``email`` is ignored).
        pattern: e.g. ``"{forename}.{surname}@school.example"`` (see :func:`validate_pattern`).
        taken: addresses already in use (compared case-insensitively); never generated again.
        policy: how names are normalised (:class:`EmailPolicy`).

    Returns:
        An :class:`EmailBatch`; people processed in (surname, forename, id) order so that
        collision suffixes are stable.

    Raises:
        ValidationError: the pattern itself is unusable.
    """
    validate_pattern(pattern)
    policy = policy or EmailPolicy()
    used = {t.strip().lower() for t in taken if t}
    local_pattern, domain = pattern.split("@")
    domain = domain.lower()
    generated: dict[str, str] = {}
    failures: list[EmailFailure] = []
    fields = {name for _, name, _, _ in string.Formatter().parse(local_pattern) if name}
    ordered = sorted(staff, key=lambda m: (m.surname.casefold(), m.forename.casefold(), m.id))
    for member in ordered:
        parts = _parts(member, policy)
        missing = sorted(f for f in fields if not parts[f])
        if missing:
            failures.append(
                EmailFailure(
                    staff_id=member.id,
                    reason=f"no usable letters for {', '.join(missing)} after normalising",
                )
            )
            continue
        local = local_pattern.format(**parts)
        local = re.sub(r"([._-])\1+", r"\1", local).strip("._-")
        candidate = f"{local}@{domain}"
        n = 1
        while candidate in used:
            n += 1
            candidate = f"{local}{n}@{domain}"
        if not is_valid_email(candidate):
            failures.append(
                EmailFailure(staff_id=member.id, reason="the generated address is not valid")
            )
            continue
        used.add(candidate)
        generated[member.id] = candidate
    return EmailBatch(generated=generated, failures=tuple(failures))
