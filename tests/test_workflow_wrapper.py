"""The job wrapper script, run directly with /bin/sh in a sandbox-like directory."""

from __future__ import annotations

import copy
import subprocess

from relval.workflows.campaign import WRAPPER_NAME, parse_campaign
from relval.workflows.shell import encode_words
from relval.workflows.wrapper import BUILTIN_PATTERNS, EXIT_CRASH_PATTERN, EXIT_SETUP_FAILED, wrapper_script

from .test_workflow_campaign import BASE
from .test_workflow_job_control import with_marker


def sandbox(tmp_path, **top):
    doc = copy.deepcopy(BASE)
    doc.update(top)
    campaign = parse_campaign(doc)
    (tmp_path / WRAPPER_NAME).write_text(wrapper_script(campaign))
    return tmp_path


def run(directory, *words, wall="0"):
    """The wrapper as a rule calls it: the command encoded for makeflow (`-c WORD...`)."""
    return subprocess.run(["/bin/sh", WRAPPER_NAME, "job.log", wall, "-c", *encode_words(" ".join(words))],
                          cwd=directory, capture_output=True, text=True, timeout=30)


def test_environment_setup_and_variables_reach_the_payload(tmp_path):
    d = sandbox(tmp_path, release="rel/7",
                environment={"setup": "export FROM_SETUP=got-{release}", "variables": {"OMP_NUM_THREADS": 3}})
    result = run(d, 'echo "$FROM_SETUP $OMP_NUM_THREADS"')
    assert result.returncode == 0
    log = (d / "job.log").read_text().splitlines()
    assert log[0] == "got-rel/7 3"
    assert log[-2].startswith("relval-job: exit code 0 after")


def test_payload_exit_code_is_kept_and_logged(tmp_path):
    d = sandbox(tmp_path)
    result = run(d, "echo", "partial;", "exit", "5")
    assert result.returncode == 5
    assert "relval-job: job.log failed with exit code 5" in result.stderr
    assert "relval-job: command: echo partial; exit 5" in (d / "job.log").read_text()


def test_every_builtin_pattern_fails_a_zero_exit(tmp_path):
    d = sandbox(tmp_path)
    for pattern in BUILTIN_PATTERNS:
        result = run(d, f"echo 'before'; echo 'xx {pattern} yy'")
        assert result.returncode == EXIT_CRASH_PATTERN, pattern
        assert f"crash pattern in log line 2: xx {pattern} yy" in (d / "job.log").read_text()


def test_command_text_itself_is_not_scanned(tmp_path):
    d = sandbox(tmp_path)
    # The pattern appears in the command (which the wrapper logs) but not in the output.
    result = run(d, "true || echo AliFatal")
    assert result.returncode == 0


def test_failing_setup_fails_the_job(tmp_path):
    d = sandbox(tmp_path, environment={"setup": "false"})
    assert run(d, "echo never").returncode == EXIT_SETUP_FAILED
    assert "environment setup failed" in (d / "job.log").read_text()


def test_wall_time_is_enforced(tmp_path):
    d = sandbox(tmp_path)
    result = run(d, "sleep 5", wall="1")
    assert result.returncode == 124
    assert "wall time of 1 s exceeded" in (d / "job.log").read_text()


def test_a_command_file_runs_and_the_log_names_it(tmp_path):
    """`-f CMD_FILE` (a command too long for one line): the payload runs from the file,
    and the log names that file, not the shell that reads it."""
    d = sandbox(tmp_path)
    (d / "job.cmd").write_text("echo from-the-file; exit 4\n")
    result = subprocess.run(["/bin/sh", WRAPPER_NAME, "job.log", "0", "-f", "job.cmd"], cwd=d,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 4
    log = (d / "job.log").read_text()
    assert log.splitlines()[0] == "from-the-file"
    assert "relval-job: command: (the command in job.cmd)" in log


def test_a_stop_at_any_moment_leaves_no_payload_running(tmp_path):
    """Before: a TERM landing between the payload's start and the wrapper's trap killed the
    wrapper alone, and one landing after 0.2 s waited for ever on the memory sampler, which
    ignores TERM; either way the payload ran on (a cancel or Ctrl-C that left jobs behind)."""
    import os
    import signal
    import time

    d = sandbox(tmp_path)
    marker = f"7{os.getpid() % 1000}.5"
    words = encode_words(f"sleep {marker}")
    orphans = 0
    for trial in range(40):
        wrapper = subprocess.Popen(["/bin/sh", WRAPPER_NAME, "job.log", "0", "-c", *words], cwd=d,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Stops spread over the wrapper's first 20 ms, and some once the memory sampler runs.
        time.sleep(0.4 if trial % 10 == 9 else (trial % 10) * 0.002)
        wrapper.send_signal(signal.SIGTERM)
        wrapper.wait(timeout=30)
        deadline = time.time() + 3
        while time.time() < deadline and with_marker(marker):
            time.sleep(0.05)
        left = with_marker(marker)
        orphans += bool(left)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert orphans == 0, f"{orphans} of 40 stops left the payload running"

