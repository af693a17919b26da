"""Batch email generation for staff from the school's pattern."""

from __future__ import annotations

from typing import Any

import pytest

from schoolsync.errors import ValidationError
from schoolsync.people import StaffMember
from schoolsync.sync import EmailPolicy, generate_emails, is_valid_email, normalise_name_part

PATTERN = "{forename}.{surname}@school.example"


def staff(sid: str, forename: str, surname: str, **kw: Any) -> StaffMember:
    return StaffMember(id=sid, school_id="s", forename=forename, surname=surname, **kw)


class TestNormalise:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("Zoë", "zoe"),
            ("O'Brien", "obrien"),
            ("D’Souza", "dsouza"),
            ("Mary Ann", "maryann"),
            ("Smith-Jones", "smith-jones"),
            ("Øberg", "oberg"),
            ("Straße", "strasse"),
            ("Łukasz", "lukasz"),
            ("  Renée  ", "renee"),
            ("Ní Bhriain", "nibhriain"),
        ],
    )
    def test_names_become_ascii_address_parts(self, name: str, expected: str) -> None:
        """Diacritics, apostrophes and spaces are normalised away; hyphens are kept."""
        assert expected == normalise_name_part(name)

    def test_policy_can_turn_spaces_into_dots(self) -> None:
        """A school whose addresses keep word breaks can say so."""
        assert "mary.ann" == normalise_name_part("Mary Ann", EmailPolicy(space="."))


class TestGenerate:
    def test_pattern_fills_preferred_names(self) -> None:
        """The preferred forename is used where there is one."""
        batch = generate_emails(
            [staff("1", "Alexander", "Smith", preferred_forename="Alex")], PATTERN
        )
        assert {"1": "alex.smith@school.example"} == dict(batch.generated)

    def test_collisions_get_stable_numeric_suffixes(self) -> None:
        """Two John Smiths and an existing address get distinct, repeatable addresses."""
        people = [staff("b", "John", "Smith"), staff("a", "John", "Smith")]
        batch = generate_emails(people, PATTERN, taken=["JOHN.SMITH@school.example"])
        assert {
            "a": "john.smith2@school.example",
            "b": "john.smith3@school.example",
        } == dict(batch.generated)
        assert batch == generate_emails(
            list(reversed(people)), PATTERN, taken=["john.smith@school.example"]
        )

    def test_names_without_latin_letters_are_reported(self) -> None:
        """Someone whose name has no usable letters is reported, not dropped or mangled."""
        batch = generate_emails([staff("x", "李", "王"), staff("y", "Ann", "Lee")], PATTERN)
        assert ["x"] == [f.staff_id for f in batch.failures]
        assert "no usable letters" in batch.failures[0].reason
        assert {"y": "ann.lee@school.example"} == dict(batch.generated)

    def test_every_generated_address_is_valid(self) -> None:
        """Results are validated."""
        people = [
            staff(str(i), f, s)
            for i, (f, s) in enumerate(
                [("Zoë", "O'Neill"), ("Jean-Luc", "Picard"), ("Siân", "Ní Bhriain"), ("A", "B-")]
            )
        ]
        batch = generate_emails(people, "{initial}{surname}@school.example")
        assert all(is_valid_email(e) for e in batch.generated.values())
        assert "jpicard@school.example" in batch.generated.values()

    @pytest.mark.parametrize(
        "pattern",
        ["{forename}.{surname}", "{first}.{surname}@school.example", "x@{surname}.example", "a@b"],
    )
    def test_unusable_patterns_are_refused(self, pattern: str) -> None:
        """A pattern without one @, with an unknown placeholder or a bad domain is refused."""
        with pytest.raises(ValidationError):
            generate_emails([staff("1", "A", "B")], pattern)

    def test_batch_renders_as_a_table(self) -> None:
        """The batch lists addresses and problems side by side."""
        batch = generate_emails([staff("x", "李", "王"), staff("y", "Ann", "Lee")], PATTERN)
        rows = batch.to_rows()
        assert {"y", "x"} == {r["staff_id"] for r in rows}
        assert "1 need a person" in batch._repr_html_()
