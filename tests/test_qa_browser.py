"""The QA report in a real browser: Debian's headless Chromium driven through chromedriver.

The page is opened from file:// as a user opens a copied CI artifact: it must load
without console errors, its filters must narrow the table, a BAD overlay must be
visible inline, and the overview must draw the GOOD histograms page by page.
Skipped where chromium or chromedriver is missing (`apt-get install chromium chromium-driver`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from relval.workflows.qa import compare_paths

from .qa_support import gaus_counts, write_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromium-driver")

DIRS = ("tpc", "its", "tof")
PER_DIR = 40  # 120 histograms per file, two files: more than one overview page


def _release(directory: Path, seed: int, regressed: bool) -> None:
    """Two QA files of 120 histograms each; the new release shifts tpc/h007 in the first file."""
    rng = np.random.default_rng(seed)
    directory.mkdir()
    for file in ("pp.root", "pbpb.root"):
        objects = {}
        for d in DIRS:
            for i in range(PER_DIR):
                shift = 0.5 if regressed and file == "pp.root" and d == "tpc" and i == 7 else 0.0
                objects[f"QA/{d}/h{i:03d}"] = gaus_counts(rng, n=5000, mean=shift)
        objects["QA/tpc/map"] = np.histogram2d(rng.normal(size=5000), rng.normal(size=5000), bins=(40, 40),
                                               range=((-3, 3), (-3, 3)))
        write_root(directory / file, objects)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("browser")
    _release(base / "new", 1, regressed=True)
    _release(base / "ref", 2, regressed=False)
    out = base / "qa"
    summary = compare_paths(base / "new", base / "ref", out_dir=out, labels=("O2 v2", "O2 v1"))
    assert summary.verdict == "FAIL"
    # The report must survive being copied elsewhere (a CI artifact): open the copy.
    copied = base / "copied"
    shutil.copytree(out, copied)
    return copied / "index.html"


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="relval-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _rows(driver) -> list:
    return [r for r in driver.find_elements("css selector", "tr.row") if r.is_displayed()]


def _open(driver, page: Path):
    driver.get(page.as_uri())
    driver.find_element("id", "shown")
    return driver


def test_page_loads_without_console_errors_and_names_the_releases(browser, report):
    _open(browser, report)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert browser.find_element("id", "label-new").text == "O2 v2"
    assert browser.find_element("id", "label-ref").text == "O2 v1"
    assert browser.find_element("id", "shown").text == "showing 242 of 242 objects"


def test_bad_overlay_is_visible_inline(browser, report):
    _open(browser, report)
    bad = [r for r in _rows(browser) if r.find_element("css selector", "td.grade").text == "BAD"]
    assert [r.get_attribute("data-name") for r in bad] == ["pp.root:QA/tpc/h007"]
    image = browser.find_element("css selector", "img.overlay")
    browser.execute_script("arguments[0].scrollIntoView()", image)
    browser.execute_script("return arguments[0].decode()", image)
    assert image.is_displayed()
    width = browser.execute_script("return arguments[0].naturalWidth", image)
    assert width >= 800  # 120 dpi: readable at 100% zoom


def test_grade_filter_and_search_narrow_the_table(browser, report):
    _open(browser, report)
    browser.find_element("id", "group").send_keys("nothing")  # one group, every row rendered
    assert len(_rows(browser)) == 242
    browser.find_element("id", "grade-GOOD").click()
    browser.find_element("id", "grade-WARNING").click()  # a few same-distribution pairs warn, by design
    assert [r.get_attribute("data-name") for r in _rows(browser)] == ["pp.root:QA/tpc/h007"]
    browser.find_element("id", "grade-GOOD").click()
    browser.find_element("id", "grade-WARNING").click()
    search = browser.find_element("id", "search")
    search.send_keys("its/h00")
    names = [r.get_attribute("data-name") for r in _rows(browser)]
    assert len(names) == 20 and all("/its/h00" in n for n in names)
    search.clear()
    search.send_keys("pbpb.root:*/map")
    assert [r.get_attribute("data-name") for r in _rows(browser)] == ["pbpb.root:QA/tpc/map"]
    assert browser.find_element("id", "shown").text == "showing 1 of 242 objects"


def test_groups_by_file_and_directory_with_counts(browser, report):
    _open(browser, report)
    heads = [h.text for h in browser.find_elements("css selector", "tr.grouphead")]
    assert len(heads) == 6  # 2 files x 3 directories
    assert heads[0].startswith("▾ pp.root : QA/tpc (41: 1 BAD") and "GOOD" in heads[0]
    # Groups without a problem start folded; a click unfolds them.
    quiet = [h for h in heads if "BAD" not in h and "WARNING" not in h]
    folded = browser.find_elements("css selector", "tbody.group:not(.open) tr.grouphead")
    assert len(folded) == len(quiet) >= 1 and all(h.text.startswith("▸") for h in folded)
    assert not browser.find_elements("css selector", "tbody.group:not(.open) tr.row")
    folded[0].click()
    assert len(browser.find_elements("css selector", "tbody.group.open")) == 6 - len(quiet) + 1


def test_overview_draws_every_histogram_page_by_page(browser, report):
    _open(browser, report)
    cards = browser.find_elements("css selector", "#overview canvas")
    assert len(cards) == 48
    assert browser.find_element("id", "page").text == "page 1 of 6 (242 drawn)"
    painted = browser.execute_script(
        "var c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;"
        "for (var i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 1] < 80) n++; return n;", cards[5])
    assert painted > 50  # the new release's red line is drawn
    for _ in range(5):
        browser.find_element("id", "next").click()
    assert browser.find_element("id", "page").text == "page 6 of 6 (242 drawn)"
    assert len(browser.find_elements("css selector", "#overview canvas")) == 242 - 5 * 48
