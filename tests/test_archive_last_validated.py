"""`relval archive last-validated`: the reference a release pipeline takes when it is given
none. Read from an archive of five real toy releases (toy/v2 and toy/v3 FAIL), as a
directory and copied into moto's S3 server; an unreadable archive is exit 3, never a
silent fallback."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from .archive_support import _moto, free_port, s3_server, small_toy, trends_archive  # noqa: F401
from .conftest import REPO
from .test_archive import relval


def last_validated(archive, *args):
    return relval("archive", "last-validated", *args, "--archive", str(archive))


def test_the_last_passing_release_is_chosen_and_a_fail_never_is(trends_archive, tmp_path):  # noqa: F811
    latest = last_validated(trends_archive, "smoke")
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout == "toy/v4\n"
    assert "toy/v4 is the last release of campaign smoke validated" in latest.stderr
    # Without toy/v4 (the release under validation), the two FAILs before it are passed
    # over: their releases carry the planted regressions.
    earlier = last_validated(trends_archive, "smoke", "--exclude-release", "toy/v4", "--json")
    assert earlier.returncode == 0, earlier.stderr
    doc = json.loads(earlier.stdout)
    assert doc["release"] == "toy/v1.2" and doc["source"] == "archive" and doc["verdict"] == "PASS"
    assert doc["run"].startswith("smoke/toy-v1.2-") and doc["created"]


def test_none_validated_is_an_empty_answer_and_names_the_fallback(trends_archive, tmp_path):  # noqa: F811
    campaign = small_toy(tmp_path)  # campaign smoke, its own reference toy/v1
    passing = ["toy/v1.1", "toy/v1.2", "toy/v4"]
    excluded = [arg for release in passing for arg in ("--exclude-release", release)]
    none = last_validated(trends_archive, str(campaign), *excluded)
    assert none.returncode == 0 and none.stdout == "", none.stderr
    assert "no release of campaign smoke other than toy/v1.1, toy/v1.2, toy/v4 was validated" in none.stderr
    assert "the campaign file's reference toy/v1 stands" in none.stderr
    doc = json.loads(last_validated(trends_archive, str(campaign), *excluded, "--json").stdout)
    assert doc["release"] is None and doc["source"] == "campaign" and doc["fallback"] == "toy/v1"
    # An archive that does not exist yet holds nothing validated; another campaign neither.
    assert last_validated(tmp_path / "no-archive-yet", "smoke").stdout == ""
    assert last_validated(trends_archive, "other-campaign").stdout == ""


def test_from_s3(trends_archive, s3_server):  # noqa: F811
    for path in trends_archive.rglob("*"):
        if path.is_file():
            key = "arch/" + path.relative_to(trends_archive).as_posix()
            s3_server.client.upload_file(str(path), s3_server.bucket, key)
    url = s3_server.url("arch")
    result = last_validated(url, "smoke", "--exclude-release", "toy/v4")
    assert result.returncode == 0 and result.stdout == "toy/v1.2\n", result.stderr


def test_an_unreadable_archive_is_no_verdict(s3_server, tmp_path):  # noqa: F811
    missing_bucket = f"s3://no-such-bucket-{free_port()}/x?endpoint={s3_server.endpoint}"
    result = last_validated(missing_bucket, "smoke")
    assert result.returncode == 3 and result.stdout == "", result.stderr
    assert "Traceback" not in result.stderr and "no-such-bucket" in result.stderr
    not_a_directory = tmp_path / "archive"
    not_a_directory.write_text("")
    result = last_validated(not_a_directory, "smoke")
    assert result.returncode == 3 and "not a directory" in result.stderr, result.stderr


def test_a_bad_campaign_file_is_bad_input(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("name: [unclosed\n")
    result = last_validated(tmp_path / "a", str(bad))
    assert result.returncode == 2 and "c.yaml" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("index,validated", [
    ({"role": "candidate", "verdict": "PASS", "exit_code": 0, "complete": True}, True),
    ({"role": "candidate", "verdict": "FAIL", "exit_code": 1, "complete": True}, False),
    ({"role": "candidate", "verdict": "JOBS_PASSED", "exit_code": 0, "complete": True}, False),
    ({"role": "candidate", "verdict": "PASS", "exit_code": 0, "complete": False}, False),
    ({"role": "reference", "verdict": None, "exit_code": None, "complete": True}, False),
])
def test_what_counts_as_validated(index, validated):
    from relval.workflows.archive.validated import is_validated

    assert is_validated(index) is validated


# --- the validate job's own lines, run in bash as GitLab runs them --------------------------------

def choose_in_bash(variables: dict[str, str]) -> subprocess.CompletedProcess:
    from .test_release_pipeline import job_key

    line = next(s for s in job_key("validate", "script") if "relval archive last-validated" in s)
    line = line.replace("venv/bin/relval", f"{shlex.quote(sys.executable)} -m relval")
    script = f"set -eo pipefail\n{line}\nprintf 'chosen=%s\\n' \"${{REFERENCE_RELEASE:-}}\""
    env = {k: v for k, v in os.environ.items() if k not in ("REFERENCE_RELEASE", "RELVAL_ARCHIVE")}
    return subprocess.run(["bash", "-c", script], cwd=REPO, env={**env, **variables},
                          capture_output=True, text=True, timeout=120)


def test_the_validate_job_takes_the_last_validated_release(trends_archive, tmp_path):  # noqa: F811
    campaign = str(small_toy(tmp_path))
    pipeline = {"CAMPAIGN": campaign, "RELEASE": "toy/v5", "RELVAL_ARCHIVE": str(trends_archive)}
    chosen = choose_in_bash(pipeline)
    assert chosen.returncode == 0 and chosen.stdout.endswith("chosen=toy/v4\n"), chosen.stderr
    assert "toy/v4 is the last release of campaign smoke validated" in chosen.stderr  # the job log
    # Rerunning toy/v4's own pipeline: never itself.
    again = choose_in_bash({**pipeline, "RELEASE": "toy/v4"})
    assert again.stdout.endswith("chosen=toy/v1.2\n"), again.stderr
    # REFERENCE_RELEASE given: it wins, and the log says so.
    given = choose_in_bash({**pipeline, "REFERENCE_RELEASE": "toy/v1"})
    assert given.stdout == "reference: toy/v1, given by REFERENCE_RELEASE\nchosen=toy/v1\n"
    # No archive yet: the campaign file's reference (REFERENCE_RELEASE stays empty).
    empty = choose_in_bash({**pipeline, "RELVAL_ARCHIVE": str(tmp_path / "none")})
    assert empty.returncode == 0 and empty.stdout.endswith("chosen=\n")
    assert "the campaign file's reference toy/v1 stands" in empty.stderr
    # An unreadable archive stops the job: no verdict, not a silent fallback.
    (tmp_path / "file").write_text("")
    broken = choose_in_bash({**pipeline, "RELVAL_ARCHIVE": str(tmp_path / "file")})
    assert broken.returncode == 3 and "chosen=" not in broken.stdout, broken.stderr
