"""References that need no rerun: the archived results of the reference release, and a
`reference.outputs` URL on S3 (moto) or XRootD (loopback server)."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import yaml

from .archive_support import _moto, free_port, s3_server, small_toy, xrootd_server  # noqa: F401
from .test_archive import relval

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")


def run(campaign, workdir, archive, *extra):
    result = relval("run", str(campaign), "--local", "--workdir", str(workdir), "--json",
                    "--archive", str(archive), *extra)
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)


def test_a_second_campaign_takes_the_reference_from_the_archive(tmp_path):
    campaign, archive = small_toy(tmp_path), tmp_path / "archive"
    first, doc1 = run(campaign, tmp_path / "w1", archive)
    assert first.returncode == 1 and [c["role"] for c in doc1["chains"]] == ["candidate", "reference"]
    reference_run = next(r for r in doc1["archive"]["runs"] if "/toy-v1-" in r)

    second, doc2 = run(campaign, tmp_path / "w2", archive)
    assert second.returncode == 1 and doc2["verdict"] == "FAIL"
    assert [c["role"] for c in doc2["chains"]] == ["candidate"]          # only the candidate ran
    assert not list((tmp_path / "w2").glob("reference-toy-v1-*"))
    assert doc2["reference_source"]["source"] == "archive"
    assert doc2["reference_source"]["run"] == reference_run
    report = (tmp_path / "w2" / "report.md").read_text()
    assert "taken from the archive" in report and reference_run in report
    # Resources are compared with the archived reference's metrics, stage by stage.
    assert {g["stage"] for g in doc2["resources"]} == {"sim", "rec", "qa", "merge"}
    # The same histograms are flagged as when the reference chain ran.
    assert {o["name"] for o in doc2["qa"]["flagged"]} == {o["name"] for o in doc1["qa"]["flagged"]}
    # The candidate's archived index says where its reference came from.
    show = relval("archive", "show", "smoke", "toy/v2", "--archive", str(archive))
    assert json.loads(show.stdout)["reference"]["run"] == reference_run


def test_an_incompatible_archived_reference_is_not_used(tmp_path):
    archive = tmp_path / "archive"
    same, doc = run(small_toy(tmp_path, release="toy/v1", reference="toy/v1"), tmp_path / "w1", archive)
    # A release against itself: PASS, no false resource alarm.
    assert same.returncode == 0 and doc["verdict"] == "PASS", doc["reasons"]
    assert doc["resources"] and all(g["grade"] != "BAD" for g in doc["resources"])
    other = tmp_path / "other"
    other.mkdir()
    changed = small_toy(other, events=300)  # another parameter: the archived toy/v1 does not fit
    result, doc = run(changed, tmp_path / "w2", archive)
    assert [c["role"] for c in doc["chains"]] == ["candidate", "reference"]
    assert doc["reference_source"] is None
    assert any("not used" in n and "parameters differ" in n for n in doc["notes"])


def _upload_reference_outputs(tmp_path, url):
    """A toy/v1 run's merged QA file, uploaded where reference.outputs will point."""
    from relval.workflows.archive import open_archive

    campaign = small_toy(tmp_path, release="toy/v1", reference="toy/v1")
    doc = yaml.safe_load(campaign.read_text())
    del doc["compare"]
    del doc["reference"]
    campaign.write_text(yaml.safe_dump(doc))
    result, _ = run(campaign, tmp_path / "ref", tmp_path / "a0")
    assert result.returncode == 0
    merged = next((tmp_path / "ref").glob("candidate-toy-v1-*")) / "pp.QAmerged.root"
    open_archive(url).put([(merged, "pp.QAmerged.root")])


def _with_outputs(tmp_path, url):
    campaign = small_toy(tmp_path)
    doc = yaml.safe_load(campaign.read_text())
    doc["reference"] = {"outputs": url}
    campaign.write_text(yaml.safe_dump(doc))
    return campaign


def test_reference_outputs_from_s3_and_xrootd(tmp_path, s3_server, xrootd_server):
    s3_url, root_url = s3_server.url("ref"), xrootd_server.url("/arch/ref")
    _upload_reference_outputs(tmp_path, s3_url)
    _upload_reference_outputs(tmp_path, root_url)
    for name, url in (("s3", s3_url), ("root", root_url)):
        (tmp_path / name).mkdir()
        result, doc = run(_with_outputs(tmp_path / name, url), tmp_path / name / "w", tmp_path / "a1")
        assert result.returncode == 1 and doc["verdict"] == "FAIL", (name, result.stderr)
        assert [c["role"] for c in doc["chains"]] == ["candidate"]
        assert doc["reference_source"] == {"release": None, "source": "outputs", "url": url}
        assert {o["name"].split(":")[-1] for o in doc["qa"]["flagged"]} >= {"QA/vz", "QA/dedx"}


@pytest.mark.parametrize("where", ["closed-port", "missing-file"])
def test_an_unreachable_reference_is_exit_3_before_anything_runs(tmp_path, where, xrootd_server):
    url = (f"root://127.0.0.1:{free_port()}//x" if where == "closed-port"
           else xrootd_server.url("/arch/empty"))
    start = time.monotonic()
    result = relval("run", str(_with_outputs(tmp_path, url)), "--local", "--workdir",
                    str(tmp_path / "w"), "--archive", str(tmp_path / "a"),
                    env={"XRD_CONNECTIONWINDOW": "2", "XRD_CONNECTIONRETRY": "1"})
    assert result.returncode == 3, result.stderr
    assert "reference.outputs" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "w").exists() and time.monotonic() - start < 60
