"""The job wrapper's control of its payload: a stop kills every process the payload
started (also under the wall-time `timeout`, which used to leave its own process group
running), and a failing environment setup fails the job with a clear line (`eval $(alienv
...)` used to pass when alienv was missing)."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from relval.workflows.campaign import WRAPPER_NAME, parse_campaign
from relval.workflows.shell import encode_words
from relval.workflows.wrapper import EXIT_SETUP_FAILED, wrapper_script

from .test_workflow_campaign import BASE


def sandbox(tmp_path: Path, **top) -> Path:
    doc = copy.deepcopy(BASE)
    doc.update(top)
    (tmp_path / WRAPPER_NAME).write_text(wrapper_script(parse_campaign(doc)))
    return tmp_path


def start(directory: Path, command: str, wall: str = "0") -> subprocess.Popen:
    return subprocess.Popen(["/bin/sh", WRAPPER_NAME, "job.log", wall, "-c", *encode_words(command)],
                            cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def with_marker(marker: str) -> list[int]:
    """Pids of live `sleep MARKER` processes (the payload's own processes)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cmdline.startswith(b"sleep " + marker.encode()) and state != "Z":
            found.append(int(proc.name))
    return found

def sleeping_campaign(tmp_path: Path, marker: str, jobs: int) -> Path:
    """A campaign of `jobs` jobs that each sleep MARKER seconds (found by `with_marker`)."""
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": "w", "release": "r", "retries": 0, "datasets": [{"name": "d", "jobs": jobs}],
        "stages": [{"name": "work", "per": "job", "command": f"sleep {marker}; echo > {{outputs[0]}}",
                    "outputs": ["o.txt"]}]}))
    return path



def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("wall", ["0", "600"])
def test_a_stopped_job_leaves_no_payload_process_behind(tmp_path, wall):
    marker = f"{3000 + int(wall)}.{os.getpid()}"
    directory = sandbox(tmp_path)
    # A payload that starts a background child and a foreground one, as real chains do.
    job = start(directory, f"sleep {marker} & sleep {marker}; wait", wall)
    try:
        assert wait_for(lambda: len(with_marker(marker)) == 2), "the payload did not start"
        job.send_signal(signal.SIGTERM)     # what makeflow sends a job it removes
        job.wait(timeout=10)
        assert wait_for(lambda: not with_marker(marker), 5), with_marker(marker)
    finally:
        for pid in with_marker(marker):
            os.kill(pid, signal.SIGKILL)
    assert "stopped by a signal" in (directory / "job.log").read_text()


def test_eval_of_a_missing_environment_tool_fails_the_job(tmp_path):
    directory = sandbox(tmp_path, environment={"setup": "eval $(/nonexistent/alienv printenv {release})"})
    job = start(directory, "echo payload ran")
    job.wait(timeout=30)
    log = (directory / "job.log").read_text()
    assert job.returncode == EXIT_SETUP_FAILED, log
    assert "payload ran\n" not in log.replace("command: echo payload ran\n", "")
    assert "relval-job: environment setup failed (exit 127)" in log


def test_a_failing_first_setup_command_fails_the_job(tmp_path):
    directory = sandbox(tmp_path, environment={"setup": "false; export X=1"})
    job = start(directory, "echo payload ran")
    job.wait(timeout=30)
    assert job.returncode == EXIT_SETUP_FAILED
    assert (directory / "job.log").read_text().startswith("relval-job: environment setup failed (exit 1)")


def test_a_working_eval_setup_reaches_the_payload(tmp_path):
    directory = sandbox(tmp_path, environment={"setup": "eval \"$(echo export FROM_SETUP={release})\""},
                        release="v9")
    job = start(directory, 'echo "got $FROM_SETUP"')
    job.wait(timeout=30)
    assert job.returncode == 0
    assert (directory / "job.log").read_text().startswith("got v9\n")


@pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
def test_interrupting_a_run_kills_payloads_under_wall_time(tmp_path):
    from relval.workflows.run import prepare, run_chains

    marker = f"4001.{os.getpid()}"
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": "w", "release": "r", "retries": 0, "datasets": [{"name": "d", "jobs": 2}],
        "stages": [{"name": "work", "per": "job", "command": f"sleep {marker}; echo > {{outputs[0]}}",
                    "outputs": ["o.txt"], "resources": {"wall_time_s": 600}}]}))
    _, _, chains = prepare(path, tmp_path / "w")

    def interrupt(role, release, status):
        if len(with_marker(marker)) >= 2:
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            run_chains(chains, 0, on_status=interrupt, poll_s=0.05)
        assert wait_for(lambda: not with_marker(marker), 10), with_marker(marker)
    finally:
        for pid in with_marker(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
def test_ctrl_c_prints_how_to_resume(tmp_path):
    import sys

    marker = f"4002.{os.getpid()}"
    path = sleeping_campaign(tmp_path, marker, jobs=2)
    proc = subprocess.Popen([sys.executable, "-m", "relval", "run", str(path), "--local"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(with_marker(marker)) >= 1, 30)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 3, stderr
        text = " ".join(stderr.split())
        assert "interrupted: makeflow and its jobs were stopped" in text
        assert f"To resume, run: relval run {path} --local --workdir {tmp_path / 'relval-w'}" in text
        assert wait_for(lambda: not with_marker(marker), 10)
    finally:
        proc.kill()
        for pid in with_marker(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
def test_jobs_of_a_makeflow_killed_alone_do_not_outlive_the_run(tmp_path):
    """A makeflow killed by itself (its pid, not its group) leaves its running jobs behind;
    they held the work directory's lock, so a rerun right away found it "in use"."""
    import sys

    from relval.workflows.status import LOCK_FILE, PID_FILE, lock_held

    marker = f"4004.{os.getpid()}"
    path = sleeping_campaign(tmp_path, marker, jobs=2)
    workdir = tmp_path / "w"
    proc = subprocess.Popen([sys.executable, "-m", "relval", "run", str(path), "--local",
                             "--workdir", str(workdir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(with_marker(marker)) >= 2, 30)
        [pid_file] = workdir.glob(f"*/{PID_FILE}")
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 3, stderr
        # Right when relval has ended: no job left, and the directory free for a rerun.
        assert with_marker(marker) == []
        assert lock_held(workdir / LOCK_FILE) is False
    finally:
        proc.kill()
        for pid in with_marker(marker):
            os.kill(pid, signal.SIGKILL)


# --- one run per directory; a dead makeflow is not "running" --------------------------------

@pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
def test_a_second_run_in_the_same_directory_is_refused(tmp_path):
    """Before: two `relval run` started together in one directory both ran."""
    import sys

    marker = f"4003.{os.getpid()}"
    path = sleeping_campaign(tmp_path, marker, jobs=1)
    run = [sys.executable, "-m", "relval", "run", str(path), "--local", "--workdir", str(tmp_path / "w")]
    first = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: len(with_marker(marker)) >= 1, 30)
        second = subprocess.run(run, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"is in use by another relval run (pid {first.pid})" in " ".join(second.stderr.split())
        # relval itself dies; its makeflow keeps the directory locked and `status` sees it alive.
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        status = subprocess.run([sys.executable, "-m", "relval", "status", str(tmp_path / "w"), "--json"],
                                capture_output=True, text=True, timeout=60)
        assert '"state": "running"' in status.stdout, status.stdout + status.stderr
        assert subprocess.run(run, capture_output=True, text=True, timeout=60).returncode == 2
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in with_marker(marker):
            os.kill(pid, signal.SIGKILL)
        for proc in Path("/proc").iterdir():  # the orphaned makeflow of this work directory
            try:
                if proc.name.isdigit() and os.readlink(proc / "cwd").startswith(str(tmp_path)):
                    os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                pass


def test_status_of_a_dead_makeflow_says_stopped_and_watch_ends(tmp_path):
    """Before: a makeflow that died (no pid file) showed as "running" with an ETA, and
    `--watch` never returned."""
    import sys

    chain = tmp_path / "w" / "candidate-r"
    chain.mkdir(parents=True)
    (chain / "w.makeflow").write_text("")
    (chain / "w.makeflow.makeflowlog").write_text("# STARTED 1000000\n1000000 0 1 7 0 1 0 0 0 2\n")
    status = subprocess.run([sys.executable, "-m", "relval", "status", str(tmp_path / "w"), "--json"],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 3 and '"state": "stopped"' in status.stdout, status.stdout
    watch = subprocess.run([sys.executable, "-m", "relval", "status", str(tmp_path / "w"), "--watch", "--json"],
                           capture_output=True, text=True, timeout=30)
    assert watch.returncode == 3
    # The same log held open by a process (a makeflow started by hand) is running.
    holder = subprocess.Popen(["sleep", "60"], stdin=open(chain / "w.makeflow.makeflowlog"))
    try:
        again = subprocess.run([sys.executable, "-m", "relval", "status", str(tmp_path / "w"), "--json"],
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and '"state": "running"' in again.stdout, again.stdout
    finally:
        holder.kill()


def test_a_release_missing_on_cvmfs_stops_the_run_before_any_job(tmp_path):
    import sys

    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": "e", "release": "O2::v99-1", "retries": 0,
        "environment": {"setup": "eval $(/cvmfs/nowhere.cern.ch/bin/alienv printenv {release})"},
        "datasets": [{"name": "d", "jobs": 1}],
        "stages": [{"name": "work", "per": "job", "command": "echo > {outputs[0]}", "outputs": ["o.txt"]}]}))
    result = subprocess.run([sys.executable, "-m", "relval", "run", str(path), "--local", "--workdir",
                             str(tmp_path / "w")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    text = " ".join(result.stderr.split())
    assert "e.yaml: environment.setup fails for release O2::v99-1 on this machine (is the release on CVMFS?)" in text
    assert "relval-job: environment setup failed (exit 127)" in text
    assert not (tmp_path / "w").exists()
