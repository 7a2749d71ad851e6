"""The trends page in Debian's headless Chromium (through chromedriver), opened from
file:// as a copied artifact: no console errors, the regressed histogram's row and plot
show its grade change, the memory regression's point is marked BAD, the filter narrows
the table, and 5,000 histograms x 10 releases are shown a page at a time."""

from __future__ import annotations

from pathlib import Path

from relval.workflows.trends import build
from relval.workflows.trends_page import PAGE_ROWS, write_page

from .archive_support import trends_archive  # noqa: F401 (fixture)
from .test_archive import relval
from .test_qa_browser import browser, pytestmark  # noqa: F401 (fixture; skipped without chromium)
from .trends_support import object_name, synthetic_runs


def _names(browser) -> list[str]:
    return [r.get_attribute("data-name") for r in browser.find_elements("css selector", "#objects tr.row")]


def _set(browser, element_id: str, value: str, event: str) -> None:
    """What typing or choosing does: a new value, then the event the page listens to."""
    browser.execute_script("const f = document.getElementById(arguments[0]); f.value = arguments[1];"
                           "f.dispatchEvent(new Event(arguments[2]));", element_id, value, event)


def test_page_in_headless_chromium(trends_archive, browser, tmp_path):  # noqa: F811
    result = relval("trends", "smoke", "--archive", str(trends_archive), "-o", str(tmp_path / "page"))
    assert result.returncode == 0, result.stderr
    browser.get(Path(result.stdout.strip()).as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    rows = browser.find_elements("css selector", "#objects tr.row")
    assert rows[0].get_attribute("data-changed") == "toy/v3"  # the latest change first
    dedx = browser.find_element("css selector", 'tr.row[data-name="pp.QAmerged.root:QA/dedx"]')
    cells = dedx.find_elements("css selector", "td.grade")
    assert [c.get_attribute("data-grade") for c in cells] == ["GOOD", "GOOD", "BAD", "GOOD", "GOOD"]
    assert "toy/v3: BAD → GOOD" in dedx.find_element("css selector", "td.change").text
    plot = dedx.find_element("css selector", "svg.pplot")
    browser.execute_script("arguments[0].scrollIntoView()", plot)
    assert plot.is_displayed() and plot.size["width"] >= 200
    strip = plot.find_elements("css selector", "rect.strip")
    assert [s.get_attribute("data-grade") for s in strip] == ["GOOD", "GOOD", "BAD", "GOOD", "GOOD"]
    # The BAD release is drawn red, the others green, as the browser renders them.
    fills = [browser.execute_script("return getComputedStyle(arguments[0]).fill", s) for s in strip]
    assert fills[2] == "rgb(198, 40, 40)" and set(fills[:2] + fills[3:]) == {"rgb(46, 125, 50)"}
    # Its chi2 p-value point dips below the bad threshold line in toy/v2 only.
    circles = plot.find_elements("css selector", "circle")
    bad_line = max(float(l.get_attribute("y1")) for l in plot.find_elements("css selector", "line.threshold"))
    assert [float(c.get_attribute("cy")) > bad_line for c in circles] == [False, False, True, False, False]
    memory = browser.find_element("css selector", 'tr.stage[data-stage="rec"][data-metric="memory"]')
    points = memory.find_elements("css selector", "svg.mplot circle")
    assert [p.get_attribute("data-grade") for p in points][3] == "BAD"
    # The filter narrows the table: by name, then by grade.
    everything = _names(browser)
    changed = [r.get_attribute("data-name") for r in browser.find_elements("css selector", "#objects tr.row")
               if r.get_attribute("data-changed")]
    browser.find_element("id", "filter-name").send_keys("dedx")
    narrowed = _names(browser)
    assert 0 < len(narrowed) < len(everything) and all("dedx" in n for n in narrowed), narrowed
    assert "pp.QAmerged.root:QA/dedx" in narrowed
    browser.find_element("id", "filter-name").clear()
    _set(browser, "filter-name", "", "input")
    assert _names(browser) == everything
    _set(browser, "filter-grade", "changed", "change")
    assert _names(browser) == changed and 0 < len(changed) < len(everything)


def test_five_thousand_histograms_a_page_at_a_time(browser, tmp_path):  # noqa: F811
    page = write_page(build("scale", "file:///made-up", synthetic_runs(5000, 10)), tmp_path / "page")
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    first = _names(browser)
    assert len(first) == PAGE_ROWS and "of 5000 matching" in browser.find_element("id", "objects-status").text
    # The latest changes first: every 50th histogram turned BAD in v9.
    assert all(int(n[-4:]) % 50 == 0 for n in first[:100])
    browser.find_element("id", "page-next").click()
    second = _names(browser)
    assert len(second) == PAGE_ROWS and not set(second) & set(first)
    assert browser.find_element("id", "objects-status").text.startswith("101-200 of 5000")
    # A name (substring) narrows to one row, with its plot; a glob to a detector's first hundred.
    _set(browser, "filter-name", object_name(4321), "input")
    assert _names(browser) == [object_name(4321)]
    assert browser.find_elements("css selector", "#objects tr.row svg.pplot")
    _set(browser, "filter-name", "*/tpc/h00*", "input")
    assert sorted(_names(browser)) == [object_name(i) for i in range(0, 100, 5)]
    # The grade: those whose latest grade is BAD (100 of them, one page); then WARNING: none
    # is WARNING last (the v5 ones are GOOD again), so the table is empty and says so.
    _set(browser, "filter-name", "", "input")
    _set(browser, "filter-grade", "BAD", "change")
    bad = browser.find_elements("css selector", "#objects tr.row")
    assert len(bad) == 100 and all(r.find_elements("css selector", 'td.grade[data-grade="BAD"]') for r in bad)
    assert browser.find_element("id", "page-next").get_attribute("disabled") is not None
    _set(browser, "filter-grade", "changed", "change")
    assert "of 150 matching" in browser.find_element("id", "objects-status").text
