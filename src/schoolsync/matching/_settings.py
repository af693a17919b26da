"""How sure person matching must be, as match probabilities (``MatchSettings``)."""

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


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValidationError(attribute.name, value, "must be at least 1")


@attrs.frozen(kw_only=True)
class MatchSettings:
    """How sure matching must be. Scores are match probabilities (0-1), see docs/matching.md.

    * ``match_threshold``: a pair whose match probability is at least this is Matched, provided
      two independent kinds of evidence agree (names, birth date, an identifier, the address),
      no competitor comes within ``ambiguity_bits`` of it and the twin rule allows it;
    * ``may_match_threshold``: a pair at least this likely (and not Matched) is May match;
    * ``evidence_bits``: a kind of evidence *agrees* when one of its fields' learned weights
      for the pair reaches this many bits (1 bit: that comparison level is at least twice as
      likely for the same person as for two people, so a birth date one digit wrong or with
      day and month swapped still counts where the data say so);
    * ``ambiguity_bits``: a pair is held at May match when another free candidate of either
      record is within this many bits of it (3 bits: less than 8 times less likely);
    * ``block_window``: the neighbours a record is compared with in blocking's second round
      (records the first left without a partner), a third of it in the first round's name
      pass; it bounds the candidate pairs per record at any school size;
    * ``learn``: estimate m and u probabilities by EM on the two lists (else the priors);
      ``min_pairs_to_learn``: fewer candidate pairs than this use the priors anyway;
      ``prior_strength``: pseudo-pairs of the priors mixed into what is learned;
      ``em_rounds``: rounds of expectation maximisation;
    * ``use_mis_id`` / ``use_upn`` / ``use_email``: the identifier ladder's rungs.
    """

    match_threshold: float = attrs.field(default=0.9, validator=_unit)
    may_match_threshold: float = attrs.field(default=0.2, validator=_unit)
    evidence_bits: float = attrs.field(default=1.0, validator=_non_negative)
    ambiguity_bits: float = attrs.field(default=3.0, validator=_non_negative)
    block_window: int = attrs.field(default=6, validator=_positive_int)
    learn: bool = True
    min_pairs_to_learn: int = attrs.field(default=300, validator=_positive_int)
    prior_strength: float = attrs.field(default=50.0, validator=_non_negative)
    em_rounds: int = attrs.field(default=12, validator=_positive_int)
    tf_smoothing: float = attrs.field(default=200.0, validator=_non_negative)
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
