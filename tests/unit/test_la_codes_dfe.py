"""The LA code list checked against the DfE's own table of three-digit LA codes.

`tests/data/la/dfe_old_la_codes.csv` is `data-raw/old_la_codes.csv` from the DfE's dfeR package
(github.com/dfe-analytical-services/dfeR, commit 7aa8b6f1adbb7ec6174ea6cc2b12d8b4f99ba22f, MIT
licence), which the DfE builds from the GIAS "Local authority name and associated codes" table.
"""

from __future__ import annotations

import csv
from pathlib import Path

from schoolsync.identifiers import Upn, upn_check_letter, upn_problem
from schoolsync.la_codes import DEFAULT_VERSION, la_code_source, la_codes

DFE = Path(__file__).parents[1] / "data" / "la" / "dfe_old_la_codes.csv"


def _dfe_codes() -> dict[str, str]:
    with DFE.open(encoding="utf-8", newline="") as handle:
        return {
            row["old_la_code"]: row["la_name"]
            for row in csv.DictReader(handle)
            if row["old_la_code"].isdigit()  # "z": Scotland and Northern Ireland have none
        }


def test_every_dfe_la_code_is_on_the_default_list() -> None:
    """Every English and Welsh LA code in the DfE's table is known, 838 and 839 included."""
    dfe = _dfe_codes()
    assert {"838", "839", "940", "941", "942", "943"} <= set(dfe)
    missing = {code: name for code, name in dfe.items() if code not in la_codes()}
    assert {} == missing
    assert "Dorset" == dfe["838"]
    assert "Bournemouth, Christchurch and Poole" == dfe["839"]


def test_the_list_records_its_source_and_date() -> None:
    """The default version names the DfE table it was checked against and when."""
    source = la_code_source(DEFAULT_VERSION)
    assert "GIAS" in source
    assert "dfeR" in source
    assert "2026-12-06" in source


def test_dorset_and_bcp_upns_are_accepted_even_in_strict_mode() -> None:
    """A UPN issued by Dorset (838) or BCP (839): no warning, and strict mode accepts it."""
    for la in ("838", "839"):
        body = f"{la}201600123"[:12].ljust(12, "0")
        upn = Upn.parse(upn_check_letter(body) + body)
        assert upn.la_code_warning() is None
        assert upn_problem(upn.value, strict=True) is None
