"""Outputs of a comparison: Summary.json, index.html (BAD first), plots, JUnit XML."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from relval.workflows.qa import compare_paths

from .qa_support import gaus_counts, write_root


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("qa_report")
    rng = np.random.default_rng(5)
    same = gaus_counts(rng)
    h2 = np.histogram2d(rng.normal(size=4000), rng.normal(size=4000), bins=(10, 10), range=((-3, 3), (-3, 3)))
    h2_wide = np.histogram2d(rng.normal(0, 1.3, 4000), rng.normal(size=4000), bins=(10, 10),
                             range=((-3, 3), (-3, 3)))
    new = write_root(tmp_path / "new.root", {"a_same": same, "b_same": same, "z_shifted": gaus_counts(rng, mean=0.2),
                                             "h2": h2_wide, "only_new": same, "text": "x"})
    ref = write_root(tmp_path / "ref.root", {"a_same": same, "b_same": same, "z_shifted": gaus_counts(rng),
                                             "h2": h2, "text": "y"})
    out = tmp_path / "report"
    return compare_paths(new, ref, out_dir=out), out


def test_summary_json_has_values_grades_counts_and_verdict(compared):
    summary, out = compared
    document = json.loads((out / "Summary.json").read_text())
    assert document["verdict"] == "FAIL" == summary.verdict
    assert document["counts"] == {"GOOD": 2, "WARNING": 0, "BAD": 3, "NOT_COMPARED": 1}
    rows = {o["name"]: o for o in document["objects"]}
    assert set(rows) == {"a_same", "b_same", "z_shifted", "h2", "only_new", "text"}
    shifted = rows["z_shifted"]
    assert shifted["grade"] == "BAD" and shifted["tests"]["ks"]["grade"] == "BAD"
    assert set(shifted["tests"]["chi2"]) >= {"chi2", "ndf", "chi2_ndf", "p", "grade"}
    assert rows["only_new"]["status"] == "new"
    assert document["files"]["html"].endswith("index.html")
    assert [o["grade"] for o in document["objects"]][:3] == ["BAD", "BAD", "BAD"]
    assert summary.summary_json == out / "Summary.json"


def _report_data(out) -> dict:
    return json.loads((out / "report_data.js").read_text().split("=", 1)[1].rstrip().rstrip(";"))


def test_html_lists_bad_first_and_links_existing_plots(compared):
    summary, out = compared
    page = (out / "index.html").read_text()
    rows = _report_data(out)["objects"]
    assert [r["g"] for r in rows] == ["BAD", "BAD", "BAD", "GOOD", "GOOD", "NOT_COMPARED"]
    links = [r["plot"] for r in rows if "plot" in r]
    assert len(links) == 2  # the two BAD histograms; "only_new" has nothing to overlay
    for link in links:
        assert link.startswith("plots/") and (out / link).is_file() and (out / link).stat().st_size > 1000
    assert "verdict: FAIL" in page and '<script src="report_data.js">' in page
    assert not list(out.glob("grid_*.png"))  # the GOOD ones are drawn by the browser
    assert summary.html == out / "index.html"


def test_plots_only_where_needed_without_grid(tmp_path):
    rng = np.random.default_rng(1)
    same = gaus_counts(rng)
    path = write_root(tmp_path / "f.root", {"h": same})
    summary = compare_paths(path, path, out_dir=tmp_path / "out", grid=False)
    assert summary.plots == [] and not (tmp_path / "out" / "plots").exists()
    assert summary.overview is None
    summary = compare_paths(path, path, out_dir=tmp_path / "none", plots=False)
    assert summary.plots == [] and (tmp_path / "none" / "index.html").is_file()


def test_junit_has_one_testcase_per_object_and_bad_as_failure(compared):
    summary, out = compared
    root = ET.parse(out / "junit.xml").getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 6 and suite.get("tests") == "6" and suite.get("failures") == "3"
    failed = sorted(c.get("name") for c in cases if c.find("failure") is not None)
    assert failed == ["h2", "only_new", "z_shifted"]
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    assert skipped == ["text"]
    assert summary.junit == out / "junit.xml"
