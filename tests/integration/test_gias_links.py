"""The real GIAS links file: following schools across their URNs."""

from __future__ import annotations

from pathlib import Path

import pytest

from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.clock import FixedClock
from schoolsync.errors import FileFormatError
from schoolsync.identifiers import Urn
from schoolsync.sources.gias import read_gias_links
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import School

# The shared fixtures folder sits beside the clone (../shared/fixtures).
FIXTURE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "fixtures"
    / "gias-links-mastodonc"
    / "links_edubasealldata20250422.csv"
)

needs_fixture = pytest.mark.skipif(
    not FIXTURE.exists(),
    reason="the shared fixtures folder (../shared/fixtures beside the clone) is absent",
)


@pytest.fixture(scope="module")
def links():
    return read_gias_links(FIXTURE)


@needs_fixture
def test_reads_every_row_of_the_real_file(links) -> None:
    """All 33,801 rows of the Windows-1252 file are read."""
    assert 33_801 == len(links)


@needs_fixture
def test_follows_a_chain_of_successors(links) -> None:
    """Woodlands Primary (109027) became 131768, then 135943, then Yate Academy 145135."""
    assert Urn("145135") == links.current_urn(Urn("109027"))
    assert Urn("109027") in links.former_urns(Urn("145135"))


@needs_fixture
def test_split_is_not_followed_by_default(links) -> None:
    """A split school's successor is a different school; the URN stays put."""
    assert Urn("145135") == links.current_urn(Urn("145135"))


@needs_fixture
def test_school_is_found_by_any_linked_urn(links) -> None:
    """A school stored under its old URN is found by its new one, and vice versa."""
    school = School(id="s1", name="Woodlands", urn=Urn("109027"))

    assert school == links.find_school([school], Urn("145135"))
    assert links.find_school([school], Urn("100000")) is None


@needs_fixture
def test_grants_survive_following_gias_links(links) -> None:
    """After following GIAS links the school has its new URN, its old ones, and its grants."""
    store = MemoryStore()
    life = TrustLifecycle(store, FixedClock(), RecordingNotifier())
    trust = life.create_trust(name="Yate Trust")
    life.add_school(trust.id, School(id="s1", name="Woodlands", urn=Urn("109027")))

    [moved] = life.follow_urn_changes(links.current_urn)

    assert Urn("145135") == moved.urn
    assert Urn("109027") in moved.former_urns
    with store.unit_of_work() as uow:
        assert [m.school_id for m in uow.memberships.list()] == ["s1"]


# Real rows of the GIAS links download (Crown copyright, Open Government Licence v3.0), kept here
# so the reader is tested even where the shared fixture directory is not mounted.
EXCERPT = (
    '"URN","LinkURN","LinkName","LinkType","LinkEstablishedDate"\r\n'
    '108299,138950,"St Thomas \u00e0 Becket Catholic Secondary School, A Voluntary Academy",'
    '"Successor","31-10-2012"\r\n'
    '109027,131768,"Woodlands Primary School","Successor",""\r\n'
    '131768,109027,"Stanshawes Court Junior School","Predecessor",""\r\n'
    '131768,135943,"The Ridings Federation Yate International Academy","Successor","31-08-2011"\r\n'
    '135943,131768,"Woodlands Primary School","Predecessor","01-09-2011"\r\n'
    '135943,145135,"Yate Academy","Successor","31-08-2017"\r\n'
    '145135,147311,"Woodlands Primary School","Successor - Split School","31-08-2019"\r\n'
)


def test_excerpt_in_windows_1252(tmp_path: Path) -> None:
    """The reader decodes Windows-1252, parses dd-mm-yyyy dates and follows the chain."""
    path = tmp_path / "links.csv"
    path.write_bytes(EXCERPT.encode("cp1252"))

    excerpt = read_gias_links(path)

    assert 7 == len(excerpt)
    assert "St Thomas à Becket" in excerpt.links[0].link_name
    assert (2012, 10, 31) == excerpt.links[0].established.timetuple()[:3]
    assert Urn("145135") == excerpt.current_urn(Urn("109027"))
    assert (Urn("135943"), Urn("131768"), Urn("109027")) == excerpt.former_urns(Urn("145135"))


def test_more_link_types_can_be_followed(tmp_path: Path) -> None:
    """A host may choose to follow split links too."""
    path = tmp_path / "links.csv"
    path.write_bytes(EXCERPT.encode("cp1252"))

    excerpt = read_gias_links(path, identity_types={"Successor", "Successor - Split School"})

    assert Urn("147311") == excerpt.current_urn(Urn("109027"))


def test_not_a_links_file(tmp_path: Path) -> None:
    """A CSV without the links columns is refused."""
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")

    with pytest.raises(FileFormatError):
        read_gias_links(path)


def test_bad_urn_is_skipped_or_named_by_row_and_column(tmp_path: Path) -> None:
    """A row with a bad URN is skipped; with ``strict`` it is refused, naming file, row, column
    and value; a short row counts as bad too."""
    path = tmp_path / "links.csv"
    path.write_text(
        "URN,LinkURN,LinkName,LinkType,LinkEstablishedDate\n"
        "100001,148001,Oak,Successor,01-09-2026\n"
        "100002,14800,Elm,Successor,\n"
        "100003\n",
        encoding="utf-8",
    )

    assert 1 == len(read_gias_links(path))
    with pytest.raises(FileFormatError) as info:
        read_gias_links(path, strict=True)

    error = info.value
    assert ("links.csv", 3, "LinkURN", "14800") == (error.file, error.row, error.field, error.value)


def test_missing_file_is_a_file_format_error(tmp_path: Path) -> None:
    """A file that cannot be read is a FileFormatError naming it."""
    with pytest.raises(FileFormatError) as info:
        read_gias_links(tmp_path / "links_edubasealldata.csv")

    assert "links_edubasealldata.csv" == info.value.file
