"""The campaign archive against its three backends, each for real: a directory, moto's S3
server over HTTP, and an XRootD server on loopback. Round trips, failed uploads that are
reported (exit 3, the verdict stands), retries, and corrupt downloads that are caught."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from relval.workflows.archive import open_archive, resolve_url
from relval.workflows.archive.backend import ArchiveError, adler32_of
from relval.workflows.archive.local import LocalBackend
from relval.workflows.archive.runs import fetch_run, find_run, list_runs
from relval.workflows.archive.store import store_outcome
from relval.workflows.archive.transfer import upload_verified

from .archive_support import s3_server, small_toy, xrootd_server, _moto  # noqa: F401 (fixtures)

needs_makeflow = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
RELVAL = [sys.executable, "-m", "relval"]


def relval(*args, timeout=300, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*RELVAL, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """One real run of the toy chain (toy/v2 against toy/v1), judged, not yet archived."""
    if shutil.which("makeflow") is None:
        pytest.skip("makeflow not installed")
    from relval.workflows.run import run_local

    tmp = tmp_path_factory.mktemp("toy")
    result = run_local(small_toy(tmp), tmp / "work")
    assert result.verdict.verdict == "FAIL"  # toy/v2's planted regression
    return result


def round_trip(url: str, outcome, tmp_path: Path) -> dict:
    stored = store_outcome(outcome, url, backoff_s=0)
    assert stored.ok, stored.error
    assert len(stored.runs) == 2 and stored.files > 10
    backend = open_archive(url)
    runs = list_runs(backend, "smoke")
    assert sorted((r["release"], r["role"]) for r in runs) == [("toy/v1", "reference"),
                                                              ("toy/v2", "candidate")]
    candidate = find_run(backend, "smoke", "toy/v2")
    assert candidate["verdict"] == "FAIL" and candidate["exit_code"] == 1
    keys = {f["key"] for f in candidate["files"]}
    assert {"outputs/pp.QAmerged.root", "qa/Summary.json", "qa/index.html", "report.md",
            "logs.json"} <= keys
    fetched = fetch_run(backend, candidate, tmp_path / "back")
    assert len(fetched) == len(candidate["files"])
    original = outcome.workflows[0].directory / "pp.QAmerged.root"
    assert (tmp_path / "back" / "outputs" / "pp.QAmerged.root").read_bytes() == original.read_bytes()
    summary = json.loads((tmp_path / "back" / "qa" / "Summary.json").read_text())
    assert summary["verdict"] == "FAIL"
    tails = json.loads((tmp_path / "back" / "logs.json").read_text())
    assert len(tails) == len(outcome.workflows[0].workflow.graph.jobs)
    assert all("relval-job: exit code 0" in t["tail"] for t in tails)
    return candidate


def test_default_archive_is_a_local_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("RELVAL_ARCHIVE")
    monkeypatch.chdir(tmp_path)
    assert resolve_url(None) == (tmp_path / "relval-archive").as_uri()
    monkeypatch.setenv("RELVAL_ARCHIVE", "s3://b/p")
    assert resolve_url(None) == "s3://b/p" and resolve_url("root://h//x") == "root://h//x"


def test_file_round_trip(outcome, tmp_path):
    round_trip((tmp_path / "archive").as_uri(), outcome, tmp_path)


def test_s3_round_trip_against_moto(outcome, s3_server, tmp_path):
    candidate = round_trip(s3_server.url(), outcome, tmp_path)
    listed = s3_server.client.list_objects_v2(Bucket=s3_server.bucket, Prefix="relval/smoke/")
    assert f"relval/{candidate['path']}/index.json" in {o["Key"] for o in listed["Contents"]}


def test_xrootd_round_trip(outcome, xrootd_server, tmp_path):
    candidate = round_trip(xrootd_server.url("/arch/t1"), outcome, tmp_path)
    on_disk = xrootd_server.data / "arch" / "t1" / candidate["path"] / "outputs" / "pp.QAmerged.root"
    assert adler32_of(on_disk) == next(f["adler32"] for f in candidate["files"]
                                       if f["key"] == "outputs/pp.QAmerged.root")


def test_s3_corrupt_download_is_detected(outcome, s3_server, tmp_path):
    url = s3_server.url("c")
    assert store_outcome(outcome, url, backoff_s=0).ok
    candidate = find_run(open_archive(url), "smoke", "toy/v2")
    key = f"c/{candidate['path']}/outputs/pp.QAmerged.root"
    body = bytearray(s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF  # same size, one byte flipped
    s3_server.client.put_object(Bucket=s3_server.bucket, Key=key, Body=bytes(body))
    result = relval("archive", "fetch", "smoke", "toy/v2", "-o", str(tmp_path / "f"), "--archive", url)
    assert result.returncode == 3, result.stderr
    assert "corrupt download" in result.stderr and "pp.QAmerged.root" in result.stderr
    assert not (tmp_path / "f" / "outputs" / "pp.QAmerged.root").exists()
    # The other files of the run are intact and still fetch.
    good = relval("archive", "fetch", "smoke", "toy/v2", "-o", str(tmp_path / "g"), "--archive", url,
                  "--only", "qa/Summary.json")
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "g" / "qa" / "Summary.json").is_file()


def test_xrootd_corrupt_download_is_detected(outcome, xrootd_server, tmp_path):
    url = xrootd_server.url("/arch/t2")
    assert store_outcome(outcome, url, backoff_s=0).ok
    candidate = find_run(open_archive(url), "smoke", "toy/v2")
    on_disk = xrootd_server.data / "arch" / "t2" / candidate["path"] / "outputs" / "pp.QAmerged.root"
    body = bytearray(on_disk.read_bytes())
    body[100] ^= 0xFF
    on_disk.write_bytes(bytes(body))
    with pytest.raises(ArchiveError) as caught:
        fetch_run(open_archive(url), candidate, tmp_path / "f")
    assert "pp.QAmerged.root" in str(caught.value)
    assert not (tmp_path / "f" / "outputs" / "pp.QAmerged.root").exists()


def test_xrootd_failed_upload_is_reported(outcome, xrootd_server):
    """/ro is exported read-only: every attempt fails, the report says so."""
    stored = store_outcome(outcome, xrootd_server.url("/ro/arch"), retries=1, backoff_s=0)
    assert not stored.ok and stored.runs == []
    assert "failed after 2 attempt(s)" in stored.error and xrootd_server.url("/ro/arch") in stored.error


def test_s3_failed_upload_is_reported(outcome, s3_server):
    stored = store_outcome(outcome, f"s3://no-such-bucket/x?endpoint={s3_server.endpoint}", backoff_s=0)
    assert not stored.ok and "no-such-bucket" in stored.error


class CorruptOnce(LocalBackend):
    """A directory that stores a truncated copy on the first upload of each file."""

    def __init__(self, root, url):
        super().__init__(root, url)
        self.seen: set[str] = set()

    def put(self, pairs):
        super().put(pairs)
        for _, key in pairs:
            if key not in self.seen:
                self.seen.add(key)
                path = self._path(key)
                path.write_bytes(path.read_bytes()[:-1])


def test_a_bad_upload_is_caught_and_retried(tmp_path):
    source = tmp_path / "f.bin"
    source.write_bytes(os.urandom(10_000))
    backend = CorruptOnce(tmp_path / "a", "file://test")
    sleeps = []
    assert upload_verified(backend, [(source, "x/f.bin")], retries=2, backoff_s=0.5,
                           sleep=sleeps.append) == 10_000
    assert sleeps == [0.5] and (tmp_path / "a" / "x" / "f.bin").read_bytes() == source.read_bytes()
    never = CorruptOnce(tmp_path / "b", "file://never")
    never.put = lambda pairs: [LocalBackend.put(never, pairs),
                               [never._path(k).write_bytes(b"") for _, k in pairs]]
    with pytest.raises(ArchiveError, match=r"failed after 3 attempt\(s\).*x/f.bin \(0 bytes stored"):
        upload_verified(never, [(source, "x/f.bin")], retries=2, backoff_s=0, sleep=lambda s: None)


class CorruptCopyAnonymousError(LocalBackend):
    """Downloads a flipped copy of the second file, then fails without naming any file (as
    xrdcp's own checksum check may when it copies several files at once)."""

    def get(self, pairs):
        super().get(pairs)
        target = pairs[1][1]
        target.write_bytes(bytes([target.read_bytes()[0] ^ 0xFF]) + target.read_bytes()[1:])
        raise ArchiveError(f"{self.url}: download failed: CheckSum error")


def test_a_failed_batch_download_names_the_corrupt_file_and_removes_it(tmp_path):
    from relval.workflows.archive.transfer import download_verified

    backend = CorruptCopyAnonymousError(tmp_path / "a", "file://test")
    entries = []
    for name in ("x/a.root", "x/b.root"):
        body = os.urandom(1000)
        (tmp_path / "src").mkdir(exist_ok=True)
        (tmp_path / "src" / name.split("/")[1]).write_bytes(body)
        backend.put([(tmp_path / "src" / name.split("/")[1], name)])
        entries.append({"key": name, "size": 1000, "adler32": adler32_of(tmp_path / "src" / name.split("/")[1])})
    with pytest.raises(ArchiveError) as caught:
        download_verified(backend, entries, tmp_path / "down")
    assert "x/b.root (adler32" in str(caught.value) and "CheckSum error" in str(caught.value)
    assert not (tmp_path / "down" / "x" / "b.root").exists()


@needs_makeflow
def test_run_archives_and_a_failed_archive_is_exit_3_with_the_verdict_kept(xrootd_server, tmp_path):
    campaign = small_toy(tmp_path)
    ok = relval("run", str(campaign), "--local", "--workdir", str(tmp_path / "w"), "--json",
                "--archive", xrootd_server.url("/arch/run"))
    doc = json.loads(ok.stdout)
    assert ok.returncode == 1 and doc["verdict"] == "FAIL" and doc["archive"]["error"] is None
    assert len(doc["archive"]["runs"]) == 2
    listed = relval("archive", "list", "smoke", "--json", "--archive", xrootd_server.url("/arch/run"))
    assert {r["release"] for r in json.loads(listed.stdout)["runs"]} == {"toy/v1", "toy/v2"}
    # Same run, archive refused: the verdict is still FAIL, the exit code says the archive failed.
    bad = relval("run", str(campaign), "--local", "--workdir", str(tmp_path / "w"), "--json",
                 "--archive", xrootd_server.url("/ro/run"))
    doc = json.loads(bad.stdout)
    assert bad.returncode == 3 and doc["verdict"] == "FAIL" and doc["exit_code"] == 3
    assert doc["archive"]["error"] and doc["archive"]["runs"] == []


def test_archive_cli_on_an_empty_or_unknown_archive(tmp_path):
    empty = relval("archive", "list", "--json", "--archive", str(tmp_path / "none"))
    assert empty.returncode == 0 and json.loads(empty.stdout)["runs"] == []
    missing = relval("archive", "show", "smoke", "toy/v9", "--archive", str(tmp_path / "none"))
    assert missing.returncode == 3 and "no archived toy/v9" in missing.stderr
    scheme = relval("archive", "list", "--archive", "ftp://x/y")
    assert scheme.returncode == 2 and "--archive" in scheme.stderr and "Traceback" not in scheme.stderr
