"""Real makeflow -T condor against a condor_submit stand-in that speaks its protocol
(`tests/fake_condor.py`): the submit files are makeflow's own, the policies are evaluated
with the real ClassAd library. Before: every stray file came back, `wall_time_s` never
reached HTCondor, and a held job kept the campaign waiting for ever."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from relval.workflows.condor import parse_job_log, submit_lines
from relval.workflows.makeflow import MAKEFLOW_ENV, generate, makeflow_command
from relval.workflows.status import read_status
from relval.workflows.supervise import SUPERVISOR_NAME, supervisor_script

from . import fake_condor

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
classad2 = pytest.importorskip("classad2")


def campaign(tmp_path: Path, command: str, wall: int | None = 600, jobs: int = 2) -> Path:
    work = {"name": "work", "per": "job", "command": command, "outputs": ["out.txt"]}
    if wall:
        work["resources"] = {"wall_time_s": wall}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": "c", "release": "r1", "retries": 0, "datasets": [{"name": "d", "jobs": jobs}],
        "stages": [work, {"name": "sum", "per": "dataset", "after": ["work"],
                          "command": "cat {inputs} > {outputs[0]}", "outputs": ["sum.txt"]}]}))
    return path


def run_condor(tmp_path: Path, path: Path, timeout: float = 120, **env) -> tuple[Path, Path]:
    chain = tmp_path / "chain"
    workflow = generate(path, chain)
    state = tmp_path / "condor-state"
    bin_dir = fake_condor.install(tmp_path / "bin")
    environment = {**os.environ, **MAKEFLOW_ENV, "FAKE_CONDOR_STATE": str(state),
                   "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
    argv = makeflow_command(workflow.makeflow_file, "condor", 0, submit_lines=submit_lines("s1"))
    # As `relval submit` starts it on the head: under the supervisor, which ends a makeflow
    # that can make no more progress (quick intervals for the test).
    (chain / SUPERVISOR_NAME).write_text(supervisor_script(interval_s=1, quiet_s=2))
    argv = ["/bin/sh", SUPERVISOR_NAME, workflow.log_path.name, *argv]
    proc = subprocess.Popen(argv, cwd=chain, env=environment, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        pytest.fail(f"makeflow -T condor did not finish within {timeout} s")
    return chain, state


def test_only_declared_outputs_and_logs_come_back_from_condor(tmp_path):
    path = campaign(tmp_path, "echo {job} > sim_1.root; echo {job} > AO2D.root; echo {job} > {outputs[0]}")
    chain, _ = run_condor(tmp_path, path)
    status = read_status(chain / "c.makeflow.makeflowlog")
    assert (status.done, status.total) == (3, 3)
    returned = sorted((chain / "fake-condor-returned.txt").read_text().split())
    assert returned == sorted(["d.0000.out.txt", "d.0000.work.log", "d.0001.out.txt", "d.0001.work.log",
                               "d.sum.txt", "d.sum.log"])
    assert not (chain / "sim_1.root").exists() and not (chain / "AO2D.root").exists()
    assert (chain / "d.sum.txt").read_text() == "0\n1\n"


def test_wall_time_reaches_condor_as_a_remove_policy(tmp_path):
    path = campaign(tmp_path, "echo {job} > {outputs[0]}", wall=600, jobs=1)
    _, state = run_condor(tmp_path, path)
    submits = {int(p.stem): fake_condor.read_submit(p) for p in state.glob("*.submit")}
    work, merge = submits[1], submits[2]       # work has wall_time_s 600, sum none
    now = int(time.time())

    def removed(keys, running_for):
        args = fake_condor.arguments(keys["arguments"]).replace('"', '\\"')
        ad = f'JobStatus = 2\nEnteredCurrentStatus = {now - running_for}\nArguments = "{args}"'
        return fake_condor.policy(keys, "periodic_remove", ad)

    assert not removed(work, 600 + 290)        # the wrapper's timeout acts first
    assert removed(work, 600 + 310)            # then HTCondor removes it
    assert not removed(merge, 10 ** 6)         # no wall time: never removed for its age


def test_a_held_job_is_removed_by_the_policy_and_reported_with_its_reason(tmp_path):
    from relval.workflows.makeflow import generate as generate_again
    from relval.workflows.run import Chain, chain_result

    path = campaign(tmp_path, "echo HOLDME {job} > {outputs[0]}", jobs=1)
    chain, _ = run_condor(tmp_path, path, FAKE_CONDOR_HOLD="HOLDME")   # hung for ever before
    log = chain / "c.makeflow.makeflowlog"
    status = read_status(log)
    assert status.failed == 1
    jobs = parse_job_log((chain / "c.makeflow.condorlog").read_bytes())
    assert [j.event for j in jobs.values()] == ["aborted"]
    result = chain_result(Chain("candidate", generate_again(path, chain)), status)
    [failed] = result.failed_jobs
    assert "held by HTCondor: Job has gone over memory limit of 1000 megabytes. (hold code 34)" in failed.log_tail
    assert "removed" in failed.log_tail


def test_a_transient_hold_is_released_twice_then_removed(tmp_path):
    path = campaign(tmp_path, "echo HOLDME {job} > {outputs[0]}", jobs=1)
    chain, _ = run_condor(tmp_path, path, FAKE_CONDOR_HOLD="HOLDME", FAKE_CONDOR_HOLD_CODE="13")
    text = (chain / "c.makeflow.condorlog").read_text()
    assert text.count("Job was released.") == 2 and text.count("Job was held.") == 3
    assert "Job was aborted." in text


def test_a_user_hold_is_left_alone():
    # condor_hold by a person (code 1) is theirs to release: never removed or released.
    keys = {line.split(" = ", 1)[0]: line.split(" = ", 1)[1] for line in submit_lines("s")}
    ad = 'JobStatus = 5\nHoldReasonCode = 1\nNumHolds = 1\nEnteredCurrentStatus = 0\nArguments = "a b c 60"'
    assert not fake_condor.policy(keys, "periodic_remove", ad)
    assert not fake_condor.policy(keys, "periodic_release", ad)


def test_the_event_log_read_in_pieces_tells_which_jobs_are_held():
    from relval.workflows.condor import JobLogState

    log = (b"000 (012.000.000) 2026-01-02 03:04:05 Job submitted from host: <10.0.0.1:9618>\n...\n"
           b"012 (012.000.000) 2026-01-02 03:05:05 Job was held.\n"
           b"\tError from slot1@w1: transfer of input failed\n\tCode 13 Subcode 2\n...\n"
           b"013 (012.000.000) 2026-01-02 03:06:05 Job was released.\n\tby policy\n...\n"
           b"012 (013.000.000) 2026-01-02 03:07:05 Job was held.\n"
           b"\tJob has gone over memory limit of 2000 megabytes.\n\tCode 34 Subcode 0\n...\n")
    state = JobLogState()
    for i in range(0, len(log), 37):          # arbitrary pieces, cutting events apart
        state.feed(log[i:i + 37])
    assert state.held() == ["job 13: Job has gone over memory limit of 2000 megabytes. (hold code 34)"]
    assert state.jobs[12].event == "released" and state.jobs[12].holds == 1
