"""The trends page in Debian's headless Chromium (through chromedriver), opened from
file:// as a copied artifact: no console errors, the regressed histogram's row and plot
show its grade change, the memory regression's point is marked BAD."""

from __future__ import annotations

from pathlib import Path

from .archive_support import trends_archive  # noqa: F401 (fixture)
from .test_archive import relval
from .test_qa_browser import browser, pytestmark  # noqa: F401 (fixture; skipped without chromium)


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
