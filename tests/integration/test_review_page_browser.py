"""The review page in a real browser: headless Chromium (Debian's package) driven by Selenium.

A review of 1,500 pupils is served on 127.0.0.1 by the same server `schoolsync review` runs;
the browser filters, unmatches a pair, leaves pupils out of the import, saves, and the stored
decisions are checked. Screenshots go to build/artefacts/review/ (kept by CI as artefacts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schoolsync.matching import MatchReview, MatchStatus, match_pupils
from schoolsync.review import Choice, ReviewDecisions, review_lines
from schoolsync.testing.browser import browser_paths, chromium
from schoolsync.testing.populations import pupil_population

# Waits end as soon as their condition holds; the bound only matters on a loaded machine.
PATIENCE = 90
ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "artefacts" / "review"

if browser_paths() is None:
    if os.environ.get("SCHOOLSYNC_REQUIRE_BROWSER"):
        raise RuntimeError("SCHOOLSYNC_REQUIRE_BROWSER is set but chromium/chromedriver are absent")
    pytest.skip(
        "chromium and chromium-driver are not installed (.ci/run installs them)",
        allow_module_level=True,
    )

pytest.importorskip("selenium", reason="selenium is in the dev extra")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from schoolsync.review.page import ReviewPage  # noqa: E402
from schoolsync.review.serve import running_review  # noqa: E402


@pytest.fixture(scope="module")
def review() -> MatchReview[Any]:
    population = pupil_population(1500, seed=7, school_size=1500)
    found = match_pupils(list(population.mis), list(population.app))
    assert len(found.pairs()) > 1000
    assert found.by_status(MatchStatus.NEW)
    assert found.by_status(MatchStatus.NOT_MATCHED)
    return found


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def served(review: MatchReview[Any], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    target = tmp_path / "decisions.json"
    page = ReviewPage(review, save=lambda d: d.save(target), title="Oak Primary: MIS against app")
    with running_review(page.app(), token="secret-token") as url:
        yield url, target


def shoot(driver: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTEFACTS / f"{name}.png"))


def visible_rows(driver: Any) -> list[str]:
    """The ids of the rows the filter shows (asked in one script, not one call per row)."""
    ids: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('table.lines tbody tr')]"
        ".filter(r => !r.hidden).map(r => r.id)"
    )
    return ids


def test_filter_unmatch_untick_and_save_in_a_real_browser(
    driver: Any, served: tuple[str, Path], review: MatchReview[Any]
) -> None:
    url, target = served
    driver.get(url)
    headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "section.panel h2")]
    assert ["Not matched", "New", "May match", "Matched"] == [h.rsplit(" ", 1)[0] for h in headings]
    count = driver.execute_script("return document.querySelectorAll('table.lines tbody tr').length")
    assert len(review) == count
    # Every control has a label a screen reader announces.
    # (Linear: `e.labels` rescans the document per control, minutes for 3,000 controls on
    # Chromium 156; a control is labelled by an enclosing <label> or one whose `for` names it.)
    unlabelled = driver.execute_script(
        "const named = new Set([...document.querySelectorAll('label[for]')].map(l => l.htmlFor));"
        "return [...document.querySelectorAll('input:not([type=hidden]), select')]"
        ".filter(e => !(e.closest('label') || (e.id && named.has(e.id))))"
        ".map(e => e.id || e.name)"
    )
    assert [] == unlabelled
    shoot(driver, "1-loaded")

    # Filter by the surname and forename of a matched pair whose app values will be overwritten.
    lines = review_lines(review)
    pair = next(
        ln
        for ln in lines
        if ln.status is MatchStatus.MATCHED
        and len(ln.mis_id) == len(max(lines, key=lambda x: len(x.mis_id)).mis_id)
        and any(ln.app_values[i] for i in ln.overwritten)
    )  # the longest ids are no other id's prefix
    box = driver.find_element(By.ID, "filter")
    box.send_keys(f"{pair.mis_id}")
    WebDriverWait(driver, PATIENCE).until(lambda d: len(visible_rows(d)) == 1)
    assert [f"r{pair.row}"] == visible_rows(driver)
    row = driver.find_element(By.ID, f"r{pair.row}")
    assert driver.find_element(By.ID, "shown").text == f"1 of {len(review)} shown"
    assert row.find_elements(By.TAG_NAME, "del")  # app values the MIS replaces: struck out
    Select(row.find_element(By.TAG_NAME, "select")).select_by_visible_text("Unmatch")
    shoot(driver, "2-filtered-unmatch")

    # Untick every New pupil whose name holds a common letter pair, by filter and "untick all".
    box.clear()
    news = [ln for ln in lines if ln.status is MatchStatus.NEW]
    word = next(ln.mis_values[1][:3].casefold() for ln in news if ln.mis_values[1][:3].isascii())
    expected_untick = {ln.mis_id for ln in news if word in ln.search_text and ln.selected}
    expected_rows = sorted(f"r{ln.row}" for ln in lines if word in ln.search_text)
    box.send_keys(word)
    WebDriverWait(driver, PATIENCE).until(lambda d: sorted(visible_rows(d)) == expected_rows)
    driver.find_element(By.CSS_SELECTOR, "#new [data-tick='0']").click()
    shoot(driver, "3-untick-shown")
    driver.find_element(By.ID, "save").click()
    WebDriverWait(driver, PATIENCE).until(ec.presence_of_element_located((By.ID, "saved")))
    shoot(driver, "4-saved")

    saved = ReviewDecisions.load(target)
    assert json.loads(target.read_text(encoding="utf-8"))["format"].startswith("schoolsync.")
    rejects = [d for d in saved.decisions if d.choice is Choice.REJECT]
    assert [(pair.mis_id, pair.app_id)] == [(d.mis_id, d.app_id) for d in rejects]
    unticked = {d.mis_id for d in saved.decisions if d.choice is Choice.DO_NOT_IMPORT}
    assert expected_untick == unticked
    after = saved.apply(review)
    assert MatchStatus.NEW is after.result_for(mis=pair.mis_id).status
    assert MatchStatus.NOT_MATCHED is after.result_for(app=pair.app_id).status
    # The page now starts from the saved decisions: the pair's control still says Unmatch.
    driver.get(url)
    select = Select(driver.find_element(By.ID, f"d{pair.index}"))
    assert "Unmatch" == select.first_selected_option.text


def test_a_bad_match_is_shown_on_its_row_and_nothing_is_saved(
    driver: Any, served: tuple[str, Path], review: MatchReview[Any]
) -> None:
    url, target = served
    driver.get(url)
    lines = review_lines(review)
    leaver = next(ln for ln in lines if ln.status is MatchStatus.NOT_MATCHED)
    field = driver.find_element(By.ID, f"t{leaver.index}")
    field.send_keys("no-such-pupil")
    field.submit()
    alert = WebDriverWait(driver, PATIENCE).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
    )
    assert f"Row {leaver.row}, Match to id: no MIS record has this id" in alert.text
    assert alert == driver.switch_to.active_element  # focus moves to the problems
    assert "bad" in driver.find_element(By.ID, f"r{leaver.row}").get_attribute("class")
    assert "no-such-pupil" == driver.find_element(By.ID, f"t{leaver.index}").get_attribute("value")
    shoot(driver, "5-problem")
    assert not target.exists()
