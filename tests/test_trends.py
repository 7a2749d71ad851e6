"""`relval trends`: a page built from the archive over the last validated releases.

The model is tested on made-up runs (ordering, absent objects, releases without QA);
the whole path on five real toy releases archived by `relval run --local --archive`
(toy/v2 plants a physics regression, toy/v3 a memory one), read back from file://,
from moto's S3 and from a loopback XRootD server. The page in a browser:
test_trends_browser.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from relval.workflows.trends import ArchivedRun, build

from .archive_support import TREND_RELEASES as RELEASES
from .archive_support import _moto, s3_server, xrootd_server  # noqa: F401 (fixtures)
from .archive_support import trends_archive as archive  # noqa: F401 (fixture)
from .test_archive import relval

def _run(release: str, grades: dict[str, str] | None, verdict: str = "PASS", stamp: str = "0") -> ArchivedRun:
    index = {"release": release, "path": f"c/{release}/{stamp}", "created": stamp, "verdict": verdict,
             "role": "candidate", "reference": {"release": "v0"}}
    summary = None if grades is None else {"objects": [
        {"name": n, "grade": g, "reason": "", "tests": {"chi2": {"p": 0.5 if g == "GOOD" else 1e-9}}}
        for n, g in grades.items()]}
    return ArchivedRun(index, summary, None, None)


def test_the_latest_grade_change_comes_first():
    runs = [_run("a", {"h1": "GOOD", "h2": "GOOD", "h3": "GOOD"}),
            _run("b", {"h1": "BAD", "h2": "GOOD", "h3": "WARNING"}),
            _run("c", {"h1": "BAD", "h2": "BAD", "h3": "WARNING"})]
    trends = build("c", "file:///a", runs)
    assert [(o.name, o.changed_at, o.change) for o in trends.objects] == [
        ("h2", 2, ("GOOD", "BAD")), ("h1", 1, ("GOOD", "BAD")), ("h3", 1, ("GOOD", "WARNING"))]
    assert trends.objects[0].points[2].chi2_p == 1e-9


def test_absent_objects_and_releases_without_qa():
    runs = [_run("a", {"h1": "GOOD"}), _run("b", None, verdict="FAIL"), _run("c", {"h1": "GOOD", "new": "BAD"})]
    trends = build("c", "file:///a", runs)
    by_name = {o.name: o for o in trends.objects}
    # A release whose QA was not archived is not a grade change of every object.
    assert by_name["h1"].changed_at is None and by_name["h1"].points[1] is None
    assert by_name["new"].change == ("absent", "BAD")
    assert trends.objects[0].name == "new"


# ---- five real toy releases -------------------------------------------------------------


def trends_json(tmp_path, url, *extra):
    result = relval("trends", "smoke", "--archive", url, "-o", str(tmp_path / "page"), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_trends_over_five_archived_releases(archive, tmp_path):
    doc = trends_json(tmp_path, str(archive))
    assert [r["release"] for r in doc["releases"]] == RELEASES
    assert [r["verdict"] for r in doc["releases"]] == ["PASS", "PASS", "FAIL", "FAIL", "PASS"]
    objects = {o["name"]: o for o in doc["objects"]}
    dedx = objects["pp.QAmerged.root:QA/dedx"]
    assert dedx["grades"] == ["GOOD", "GOOD", "BAD", "GOOD", "GOOD"]
    assert dedx["changed_in"] == "toy/v3" and dedx["change"] == ["BAD", "GOOD"]
    # Changed objects come before unchanged ones.
    changed = [o["changed_in"] is not None for o in doc["objects"]]
    assert changed == sorted(changed, reverse=True) and changed[0]
    rec = next(s for s in doc["stages"] if s["stage"] == "rec")
    assert rec["grades"]["max_rss_kb"][3] == "BAD"  # toy/v3's planted memory regression
    v3, v4 = rec["values"]["max_rss_kb"][3], rec["values"]["max_rss_kb"][4]
    assert v3["max"] > 1.4 * v4["max"]
    assert (tmp_path / "page" / "index.html").is_file()
    # --last keeps the latest releases.
    assert [r["release"] for r in trends_json(tmp_path, str(archive), "--last", "2")["releases"]] == RELEASES[3:]


def _copy_to(archive: Path, url: str) -> None:
    from relval.workflows.archive import open_archive

    files = [p for p in archive.rglob("*") if p.is_file()]
    open_archive(url).put([(p, p.relative_to(archive).as_posix()) for p in files])


@pytest.mark.parametrize("backend", ["s3", "xrootd"])
def test_trends_read_from_s3_and_xrootd(archive, tmp_path, backend, request):
    if backend == "s3":
        url = request.getfixturevalue("s3_server").url("copy")
    else:
        url = request.getfixturevalue("xrootd_server").url(f"/arch/trends-{tmp_path.name}")
    _copy_to(archive, url)
    local, remote = trends_json(tmp_path / "l", str(archive)), trends_json(tmp_path / "r", url)
    for doc in (local, remote):
        doc.pop("archive"), doc.pop("page")
    assert remote == local


def test_a_corrupt_archived_summary_is_no_verdict(archive, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(archive, copy)
    summary = next(copy.glob("smoke/toy-v2-*/*/qa/Summary.json"))
    summary.write_text(summary.read_text().replace('"BAD"', '"GOOD"'))
    result = relval("trends", "smoke", "--archive", str(copy), "-o", str(tmp_path / "page"))
    assert result.returncode == 3 and "corrupt" in result.stderr and "Traceback" not in result.stderr


def test_nothing_archived_or_bad_input(tmp_path):
    empty = relval("trends", "smoke", "--archive", str(tmp_path / "none"), "-o", str(tmp_path / "p"))
    assert empty.returncode == 3 and "no validated release" in empty.stderr
    (tmp_path / "file").write_text("x")
    bad_out = relval("trends", "smoke", "--archive", str(tmp_path / "none"), "-o", str(tmp_path / "file"))
    assert bad_out.returncode == 2 and "not a directory" in bad_out.stderr
    assert relval("trends", "smoke", "--last", "0").returncode == 2
