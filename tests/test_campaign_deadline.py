"""`relval campaign --timeout auto|SECONDS --ceiling SECONDS`: relval stops itself (exit 3,
with the reason) before a CI job's static timeout kills it without a result."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from relval.campaign_deadline import (CEILING_MARGIN_S, OVERHEAD_S, Estimate, choose_deadline,
                                      deadline_for, estimate, parse_timeout)
from relval.errors import RelvalError
from relval.workflows.campaign import load_campaign

from .conftest import REPO

O2 = load_campaign(REPO / "examples" / "o2-nightly.yaml")


def test_the_o2_nightly_upper_bound():
    # mc: 120 jobs (100 pp + 20 PbPb) for each of two chains on 20 workers: 12 rounds of up
    # to 43200 s, twice (retries: 1); merge: 4 jobs in one round of up to 7200 s, twice.
    found = estimate(O2, slots=20)
    assert found.seconds == 12 * 43200 * 2 + 7200 * 2 + OVERHEAD_S
    assert found.lines[0].startswith("mc: 120 job(s) x 2 chain(s) on 20 slot(s) = 12 round(s)")
    # More workers, fewer rounds; the reference given as outputs runs no reference chain.
    assert estimate(O2, slots=240).seconds == 43200 * 2 + 7200 * 2 + OVERHEAD_S
    given = replace(O2, reference_outputs="s3://bucket/ref")
    assert estimate(given, slots=120).seconds == 43200 * 2 + 7200 * 2 + OVERHEAD_S
    assert estimate(given, slots=60).seconds == 2 * 43200 * 2 + 7200 * 2 + OVERHEAD_S


def test_a_stage_without_wall_time_has_no_bound():
    found = estimate(load_campaign(REPO / "examples" / "smoke-cluster.yaml"), slots=4)
    assert found.seconds is None and "has no resources.wall_time_s" in found.lines[0]
    # Only the job's timeout applies then, and the log says why.
    deadline = choose_deadline("auto", found, ceiling_s=7200)
    assert deadline.seconds == 7200 - CEILING_MARGIN_S
    assert "no estimate" in deadline.reason and "before the job's timeout" in deadline.reason
    assert choose_deadline("auto", found, None).seconds is None


def test_the_earliest_bound_wins_and_a_hopeless_one_is_said():
    hours = 3600
    capped = deadline_for(O2, 20, "condor", "auto", 12 * hours)
    assert capped.seconds == 12 * hours - CEILING_MARGIN_S
    assert "exceeds the job's timeout" in capped.reason
    roomy = choose_deadline("auto", Estimate(2 * hours), 12 * hours)
    assert roomy.seconds == 2 * hours and "estimated upper bound" in roomy.reason
    assert "exceeds" not in roomy.reason
    assert choose_deadline(parse_timeout("90"), None, None).seconds == 90
    assert choose_deadline(None, None, None).seconds is None
    # --batch local: one job at a time on the head.
    assert deadline_for(O2, 20, "local", "auto", None).seconds > estimate(O2, 20).seconds


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", ""])
def test_a_bad_timeout_is_bad_input(value):
    with pytest.raises(RelvalError, match="--timeout: 'auto' or a number of seconds"):
        parse_timeout(value)


def test_a_ceiling_with_no_room_is_bad_input():
    with pytest.raises(RelvalError, match="--ceiling: 300 s leaves no time"):
        choose_deadline(None, None, 300)


def test_relval_campaign_refuses_a_bad_timeout_before_anything(tmp_path):
    result = subprocess.run([sys.executable, "-m", "relval", "campaign", "examples/smoke.yaml",
                             "--stack", "alice-relval", "--timeout", "soon"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "--timeout: 'auto' or a number of seconds" in result.stderr and "Traceback" not in result.stderr


# --- the deadline through the real steps, against a real sshd (up/down replaced: no cloud) ---------

from .submit_sshd import sshd, tiny_campaign  # noqa: E402,F401 (sshd: a fixture)




def test_a_campaign_past_its_deadline_stops_with_no_verdict_and_is_torn_down(sshd, tmp_path, monkeypatch):
    from relval import lifecycle
    from relval.campaign import EXIT_ERROR, run_campaign
    from relval.campaign_steps import ClusterSteps
    from relval.infra import automation

    campaign = tiny_campaign(tmp_path, "late", "sleep 20;")
    outputs = sshd.outputs(tmp_path / "outputs.json")
    events = []
    monkeypatch.setattr(automation, "up", lambda stack, on_output: events.append("up") or {})
    monkeypatch.setattr(lifecycle, "down", lambda stack, on_output: events.append("down"))
    deadline = choose_deadline(parse_timeout("3"), None, None)
    start = time.monotonic()
    steps = ClusterSteps(campaign, sshd.head(outputs), batch="local", remote_base=str(tmp_path / "remote"),
                         say=lambda line: None, poll_s=0.5, ready_timeout_s=30,
                         deadline=start + deadline.seconds, deadline_reason=deadline.reason)
    result = run_campaign(campaign, "late", "t1", steps, root=tmp_path)
    elapsed = time.monotonic() - start
    assert result.exit_code == EXIT_ERROR and result.verdict is None
    assert re.search(r"had not ended at its deadline \(relval stops after 3 s .*--timeout", result.error)
    assert events == ["up", "down"]                      # torn down all the same
    assert [s.name for s in result.steps if not s.ok] == ["follow"]
    assert elapsed < 20, elapsed                         # it did not wait for the jobs


# --- the pipeline passes it ----------------------------------------------------------------------

def test_the_validate_job_passes_an_auto_timeout_and_the_time_left_in_the_job():
    from .test_release_pipeline import all_script_text, job_key

    script = all_script_text("validate")
    assert "--timeout auto" in script and '${JOB_LEFT:+--ceiling "$JOB_LEFT"}' in script
    line = next(s for s in job_key("validate", "script") if "JOB_LEFT=" in s)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 100))
    for variables, expected in (({"CI_JOB_TIMEOUT": "3600", "CI_JOB_STARTED_AT": started}, range(3490, 3502)),
                                ({}, None)):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CI_JOB_")}
        result = subprocess.run(["bash", "-c", f"set -eo pipefail\n{line}\necho \"left=${{JOB_LEFT:-}}\""],
                                env={**env, **variables}, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        left = result.stdout.strip().rsplit("=", 1)[1]
        assert (int(left) in expected) if expected else left == "", result.stdout
