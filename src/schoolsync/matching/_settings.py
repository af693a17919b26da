"""Thresholds and field weights for matching (``MatchSettings``)."""

from __future__ import annotations

import attrs

from schoolsync.errors import ValidationError
from schoolsync.matching._normalise import NicknameTable, default_nicknames

__all__ = ["MatchSettings"]


def _unit(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValidationError(attribute.name, value, "must be between 0 and 1")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0.0:
        raise ValidationError(attribute.name, value, "must not be negative")


@attrs.frozen(kw_only=True)
class MatchSettings:
    """How sure matching must be, and how much each field counts.

    A candidate pair's score is the weighted mean of its field similarities over the fields
    present on both sides (a missing birth date or gender does not count against a pair).

    * ``match_threshold``: a pair scoring at least this is Matched, provided its best competitor
      (another candidate of either record) scores at least ``ambiguity_margin`` less;
    * ``may_match_threshold``: a pair scoring at least this (and not Matched) is May match;
    * ``identifier_name_floor``: an identifier link (MIS id, UPN, email) whose name and birth
      date evidence scores below this is held at May match (an MIS id reused by a new MIS, a
      UPN typed against the wrong pupil);
    * ``name_similarity_floor``: name similarity is Jaro-Winkler rescaled so that this value
      and below (unrelated names score 0.5-0.7) count as 0: ``sqrt((jw - floor) / (1 - floor))``;
    * ``max_block_pairs``: a blocking key shared by more pairs than this is skipped (other keys
      still find the pairs); it bounds the cost of very common keys.

    The defaults were chosen on :mod:`schoolsync.testing.populations` (see docs/matching.md).
    """

    match_threshold: float = attrs.field(default=0.9, validator=_unit)
    may_match_threshold: float = attrs.field(default=0.7, validator=_unit)
    ambiguity_margin: float = attrs.field(default=0.05, validator=_unit)
    identifier_name_floor: float = attrs.field(default=0.5, validator=_unit)
    surname_weight: float = attrs.field(default=0.3, validator=_non_negative)
    forename_weight: float = attrs.field(default=0.3, validator=_non_negative)
    date_of_birth_weight: float = attrs.field(default=0.3, validator=_non_negative)
    gender_weight: float = attrs.field(default=0.05, validator=_non_negative)
    middle_names_weight: float = attrs.field(default=0.05, validator=_non_negative)
    day_month_swap_similarity: float = attrs.field(default=0.85, validator=_unit)
    near_date_similarity: float = attrs.field(default=0.6, validator=_unit)
    preferred_name_similarity: float = attrs.field(default=0.93, validator=_unit)
    name_part_similarity: float = attrs.field(default=0.93, validator=_unit)
    name_similarity_floor: float = attrs.field(default=0.7, validator=_unit)
    swapped_names_factor: float = attrs.field(default=0.97, validator=_unit)
    max_block_pairs: int = 5000
    use_mis_id: bool = True
    use_upn: bool = True
    use_email: bool = True
    nicknames: NicknameTable = attrs.field(factory=default_nicknames, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.may_match_threshold > self.match_threshold:
            raise ValidationError(
                "may_match_threshold",
                self.may_match_threshold,
                "must not be above match_threshold",
            )
        if self.surname_weight + self.forename_weight <= 0:
            raise ValidationError("forename_weight", self.forename_weight, "names need weight")
