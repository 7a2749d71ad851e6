"""Submission over SSH against a real sshd on 127.0.0.1, started by this module
(see `submit_sshd`: temporary keys, a free port, nothing under ~/.ssh touched)."""

from __future__ import annotations

import json
import re
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relval.errors import RelvalError
from relval.workflows.remote import SshError, SshTransport, wait_until_reachable
from relval.workflows.remote_status import RemoteLogReader, follow_remote
from relval.workflows.run import chain_dir_name
from relval.workflows.submit import submit

from .conftest import REPO

# chain directories name their release (relval.workflows.run.chain_dir_name)
C2, R1 = "candidate-toy-v2-188798", "reference-toy-v1-0aac6d"
from .submit_sshd import SSHD, Server, free_port, keygen, sshd_available, tiny_campaign
from .submit_sshd import sshd  # noqa: F401 - the module's sshd fixture

RELVAL = [sys.executable, "-m", "relval"]

pytestmark = pytest.mark.skipif(not sshd_available(),
                                reason="needs openssh-server, openssh-client and rsync")




def relval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RELVAL, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def wait_finished(server: Server, outputs: Path, base: Path, campaign: str, timeout: float = 60):
    """Follow the remote logs over SSH until no makeflow of the campaign runs."""
    statuses = None
    deadline = time.monotonic() + timeout
    for statuses in follow_remote("t1", campaign, server.head(outputs), str(base), watch=True,
                                  interval_s=0.2):
        assert time.monotonic() < deadline, "the remote campaign did not finish in time"
    return {s.name: s.status for s in statuses}


def node_lines_after_last_start(log: Path) -> list[str]:
    lines = log.read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("# STARTED"))
    return [line for line in lines[start:] if line and not line.startswith("#")]


# --- the transport ---------------------------------------------------------------------

def test_correct_pin_connects_runs_and_uploads(sshd, tmp_path):
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    (local / "a.txt").write_text("alpha\n")
    (local / "sub" / "b.sh").write_text("#!/bin/sh\necho b\n")
    (local / "sub" / "b.sh").chmod(0o755)
    remote = tmp_path / "remote" / "x"
    with SshTransport(sshd.target()) as ssh:
        rc, out, _ = ssh.run("echo hello; exit 7")
        assert (rc, out) == (7, b"hello\n")
        ssh.upload(local, str(remote))
        assert ssh.read_file(str(remote / "a.txt"), 2) == b"pha\n"
        assert ssh.read_file(str(remote / "missing")) is None
        known_hosts = ssh._known_hosts.read_text()
    assert (remote / "a.txt").read_text() == "alpha\n"
    assert (remote / "sub" / "b.sh").read_text() == "#!/bin/sh\necho b\n"
    assert os.access(remote / "sub" / "b.sh", os.X_OK)
    # The private known_hosts holds exactly the pinned key, nothing learnt on the way.
    assert known_hosts.split() == ["relval-head", *sshd.host_key.split()[:2]]


def test_upload_keeps_unchanged_files_and_remote_outputs(sshd, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "remote"
    local.mkdir()
    (local / "same.txt").write_text("same\n")
    (local / "changed.txt").write_text("v1\n")
    with SshTransport(sshd.target()) as ssh:
        ssh.upload(local, str(remote))
        os.utime(remote / "same.txt", (1_000_000, 1_000_000))
        (remote / "output.root").write_text("produced on the head\n")
        (local / "changed.txt").write_text("v2\n")
        os.utime(local / "same.txt")  # newer, same content: must not be re-sent
        ssh.upload(local, str(remote))
    assert os.stat(remote / "same.txt").st_mtime == 1_000_000
    assert (remote / "changed.txt").read_text() == "v2\n"
    assert (remote / "output.root").read_text() == "produced on the head\n"


def test_wrong_pin_is_refused_and_nothing_uploaded(sshd, tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    (local / "a.txt").write_text("alpha\n")
    remote = tmp_path / "remote"
    with SshTransport(sshd.target(key=sshd.other_key)) as ssh:
        with pytest.raises(RelvalError) as caught:
            ssh.upload(local, str(remote))
    assert caught.value.problems == [
        f"host key of 127.0.0.1:{sshd.port} does not match headHostPublicKey from stack t1; "
        "refusing to connect (the head was rebuilt, or this is not the head)"]
    assert not remote.exists()


def test_pin_of_another_key_type_is_refused(sshd):
    with SshTransport(sshd.target(key=sshd.ecdsa_key)) as ssh:
        with pytest.raises(RelvalError, match="does not match headHostPublicKey from stack t1: "
                           "the server offers no ecdsa-sha2-nistp256 host key"):
            ssh.run("true")


def test_connection_refused_timeout_and_auth_failure(sshd, tmp_path):
    with SshTransport(sshd.target(port=free_port())) as ssh:
        with pytest.raises(RelvalError, match="connection refused"):
            ssh.run("true")
    # A server that accepts the TCP connection and never speaks SSH.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with SshTransport(sshd.target(port=silent.getsockname()[1], timeout=1)) as ssh:
            started = time.monotonic()
            with pytest.raises(RelvalError, match="timed out"):
                ssh.run("true")
            assert time.monotonic() - started < 10
    stranger = tmp_path / "stranger"
    keygen(stranger, "ed25519")
    with SshTransport(sshd.target(identity=stranger)) as ssh:
        with pytest.raises(RelvalError, match=f"authentication as '{sshd.user}' on "
                           f"127.0.0.1:{sshd.port} failed"):
            ssh.run("true")


def test_remote_log_reader_returns_only_appended_whole_lines(sshd, tmp_path):
    log = tmp_path / "x.makeflowlog"
    with SshTransport(sshd.target()) as ssh:
        reader = RemoteLogReader(ssh, str(log))
        assert reader.read_new() == b"" and not reader.exists
        log.write_bytes(b"one\ntw")
        assert reader.read_new() == b"one\n"
        with open(log, "ab") as f:
            f.write(b"o\nthree\n")
        assert reader.read_new() == b"two\nthree\n"
        assert reader.offset == len(b"one\ntwo\nthree\n")
        assert reader.read_new() == b""
        log.write_bytes(b"new\n")  # a shorter file: a new log, read from the start
        assert reader.read_new() == b"new\n" and reader.restarted


# --- relval submit ---------------------------------------------------------------------

@pytest.mark.slow
def test_submit_runs_detached_and_resubmit_resumes(sshd, tmp_path):
    outputs = sshd.outputs(tmp_path / "outputs.json")
    base = tmp_path / "remote"
    campaign = tiny_campaign(tmp_path)
    args = ["submit", str(campaign), *sshd.ssh_args(outputs), "--batch", "local",
            "--remote-base", str(base)]
    first = relval(*args, "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["remote_dir"] == str(base / "tiny") and result["resumed"] is False
    assert [c["name"] for c in result["chains"]] == [C2, R1]

    statuses = wait_finished(sshd, outputs, base, "tiny")
    assert {name: (s.state, s.done, s.total) for name, s in statuses.items()} == {
        C2: ("finished", 3, 3), R1: ("finished", 3, 3)}
    assert (base / "tiny" / C2 / "mc.sum.txt").read_text() == "toy/v2 0\ntoy/v2 1\n"
    assert (base / "tiny" / R1 / "mc.sum.txt").read_text() == "toy/v1 0\ntoy/v1 1\n"
    produced = {p: p.stat().st_mtime_ns for p in (base / "tiny").glob("*/mc.*.txt")}
    status = relval("status", *sshd.ssh_args(outputs), "--campaign", "tiny",
                    "--remote-base", str(base), "--json")
    assert status.returncode == 0, status.stderr
    assert [(w["name"], w["done"], w["failed"]) for w in json.loads(status.stdout)["workflows"]] == [
        (C2, 3, 0), (R1, 3, 0)]
    with SshTransport(sshd.target()) as ssh:  # what `relval campaign` fetches afterwards
        ssh.download(str(base / "tiny"), tmp_path / "fetched", include=("*.sum.txt", "*.makeflowlog"))
    fetched = sorted(str(p.relative_to(tmp_path / "fetched"))
                     for p in (tmp_path / "fetched").rglob("*") if p.is_file())
    assert fetched == [f"{C2}/mc.sum.txt", f"{C2}/tiny.makeflow.makeflowlog",
                       f"{R1}/mc.sum.txt", f"{R1}/tiny.makeflow.makeflowlog"]

    again = relval(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == str(base / "tiny")
    assert f"resumed {C2} chain" in again.stderr
    statuses = wait_finished(sshd, outputs, base, "tiny")
    assert all(s.state == "finished" and s.starts == 2 for s in statuses.values())
    for chain in (C2, R1):
        # The second run started and completed without running any node again.
        assert node_lines_after_last_start(base / "tiny" / chain / "tiny.makeflow.makeflowlog") == []
    assert {p: p.stat().st_mtime_ns for p in produced} == produced


def test_submit_refuses_a_second_makeflow_while_one_runs(sshd, tmp_path):
    outputs = sshd.outputs(tmp_path / "outputs.json")
    base = tmp_path / "remote"
    campaign = tiny_campaign(tmp_path, "slow", gen="sleep 60;")
    result = submit(campaign, "t1", batch="local", head=sshd.head(outputs), remote_base=str(base))
    pids = [c.pid for c in result.chains]
    try:
        # The SSH session is over; makeflow lives on, detached.
        for pid in pids:
            os.kill(pid, 0)
        assert [int((base / "slow" / c / "makeflow.pid").read_text()) for c in
                (C2, R1)] == pids
        with pytest.raises(RelvalError, match=r"campaign slow is still running on 127\.0\.0\.1:"
                           rf"{sshd.port} in {base}/slow \(makeflow {C2}: pid {pids[0]}"):
            submit(campaign, "t1", batch="local", head=sshd.head(outputs), remote_base=str(base))
        statuses = next(follow_remote("t1", "slow", sshd.head(outputs), str(base)))
        assert [s.status.state for s in statuses] == ["running", "running"]
    finally:
        for pid in pids:
            try:
                os.killpg(pid, 15)  # makeflow leads its own session and group (setsid)
            except ProcessLookupError:
                pass


def test_submit_condor_without_condor_on_the_head_is_refused(sshd, tmp_path):
    if shutil.which("condor_submit"):
        pytest.skip("this host has HTCondor: the refusal cannot be observed")
    outputs = sshd.outputs(tmp_path / "outputs.json")
    base = tmp_path / "remote"
    result = relval("submit", str(tiny_campaign(tmp_path)), *sshd.ssh_args(outputs),
                    "--remote-base", str(base))
    assert result.returncode == 3  # a tool missing on the head: no verdict possible
    assert "error: 127.0.0.1:" in result.stderr and "condor_submit not found on PATH" in result.stderr
    assert not base.exists()  # nothing uploaded, nothing run locally instead


def test_submit_with_a_wrong_pin_exits_3_and_uploads_nothing(sshd, tmp_path):
    outputs = sshd.outputs(tmp_path / "outputs.json", key=sshd.other_key)
    base = tmp_path / "remote"
    result = relval("submit", str(tiny_campaign(tmp_path)), *sshd.ssh_args(outputs),
                    "--batch", "local", "--remote-base", str(base))
    assert result.returncode == 3  # the head cannot be trusted: unreachable, no verdict
    assert (f"error: host key of 127.0.0.1:{sshd.port} does not match headHostPublicKey from "
            "stack t1") in result.stderr
    assert "Traceback" not in result.stderr
    assert not base.exists()


# --- waiting for a booting head ------------------------------------------------------------

def test_wait_until_reachable_retries_until_sshd_answers(sshd, tmp_path):
    port = free_port()
    late = []

    def boot_on_first_sleep(seconds: float) -> None:
        if not late:  # the same server keys, now also listening on the awaited port
            late.append(subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(sshd.root / "sshd_config"), "-o", f"Port={port}",
                 "-o", f"PidFile={tmp_path / 'late.pid'}"], stderr=subprocess.DEVNULL))
        time.sleep(0.2)

    retried = []
    try:
        with SshTransport(sshd.target(port=port)) as ssh:
            wait_until_reachable(ssh, timeout_s=20, interval_s=0.2, sleep=boot_on_first_sleep,
                                 on_retry=lambda error: retried.append(error.kind))
            assert ssh.run("echo up")[1] == b"up\n"
    finally:
        for process in late:
            process.terminate()
            process.wait(timeout=5)
    assert retried and set(retried) <= {"refused", "closed"}


def test_wait_until_reachable_gives_up_and_never_retries_a_wrong_pin(sshd):
    slept = []

    def sleep(seconds: float) -> None:  # a fake clock: only sleeping moves it
        slept.append(seconds)

    with SshTransport(sshd.target(port=free_port())) as ssh:
        with pytest.raises(SshError, match="connection refused") as caught:
            wait_until_reachable(ssh, timeout_s=10, interval_s=3, sleep=sleep,
                                 clock=lambda: sum(slept))
    assert caught.value.kind == "refused" and slept == [3, 3, 3]
    slept.clear()
    with SshTransport(sshd.target(key=sshd.other_key)) as ssh:
        with pytest.raises(SshError, match="does not match headHostPublicKey") as caught:
            wait_until_reachable(ssh, timeout_s=60, interval_s=1, sleep=slept.append)
    assert caught.value.kind == "host-key" and slept == []


@pytest.mark.slow
def test_resubmitting_an_edited_campaign_never_reuses_stale_outputs(sshd, tmp_path):
    """Before: release v1 -> v2 resubmitted gave "finished 3/3" with v1's outputs. Now the
    changed rules rerun on the head, an added job runs, unchanged rules are kept."""
    outputs = sshd.outputs(tmp_path / "outputs.json")
    base = tmp_path / "remote"
    campaign = tiny_campaign(tmp_path, "edit", compare=False)
    args = ["submit", str(campaign), *sshd.ssh_args(outputs), "--batch", "local", "--remote-base", str(base)]
    assert relval(*args).returncode == 0
    wait_finished(sshd, outputs, base, "edit")
    chain = base / "edit" / C2
    assert (chain / "mc.sum.txt").read_text() == "toy/v2 0\ntoy/v2 1\n"
    kept = (chain / "mc.0000.gen.txt").stat().st_mtime_ns

    campaign.write_text(campaign.read_text().replace("jobs: 2", "jobs: 3"))   # one more job
    again = relval(*args)
    assert again.returncode == 0, again.stderr
    assert f"the {C2} chain changed" in again.stderr
    [status] = wait_finished(sshd, outputs, base, "edit").values()
    assert (status.state, status.done, status.total) == ("finished", 4, 4)
    assert (chain / "mc.sum.txt").read_text() == "toy/v2 0\ntoy/v2 1\ntoy/v2 2\n"
    assert (chain / "mc.0000.gen.txt").stat().st_mtime_ns == kept      # unchanged: not rerun

    # A new release runs in a directory of its own; the old release's outputs stay as they were.
    assert relval(*args, "--release", "toy/v3").returncode == 0
    statuses = wait_finished(sshd, outputs, base, "edit")
    v3 = base / "edit" / chain_dir_name("candidate", "toy/v3")
    assert {name: (s.state, s.done) for name, s in statuses.items()} == {v3.name: ("finished", 4)}
    assert (v3 / "mc.sum.txt").read_text() == "toy/v3 0\ntoy/v3 1\ntoy/v3 2\n"
    assert (chain / "mc.sum.txt").read_text() == "toy/v2 0\ntoy/v2 1\ntoy/v2 2\n"


def test_submit_refuses_jobs_bigger_than_where_they_would_run(sshd, tmp_path):
    """Before: a job larger than every worker was submitted and waited for ever."""
    outputs = sshd.outputs(tmp_path / "outputs.json")
    base = tmp_path / "remote"
    campaign = tiny_campaign(tmp_path)
    cores = os.cpu_count() + 1
    campaign.write_text(campaign.read_text().replace("per: job", f"per: job\n    resources: {{cores: {cores}}}", 1))
    result = relval("submit", str(campaign), *sshd.ssh_args(outputs), "--batch", "local",
                    "--remote-base", str(base))
    assert result.returncode == 3, result.stderr
    assert (f"tiny.yaml: stages[0].resources.cores: {cores} cores do not fit the head of stack t1 "
            f"(--batch local) ({os.cpu_count()} cores)") in " ".join(result.stderr.split())
    assert not base.exists()  # nothing uploaded, nothing started


def test_cancel_stops_a_submitted_campaign_and_every_job_process(sshd, tmp_path):
    outputs = sshd.outputs(tmp_path / "outputs.json")
    base = tmp_path / "remote"
    marker = f"6{os.getpid() % 1000}"
    campaign = tiny_campaign(tmp_path, "slow", gen=f"sleep {marker};")
    result = submit(campaign, "t1", batch="local", head=sshd.head(outputs), remote_base=str(base))
    pids = [c.pid for c in result.chains]
    try:
        deadline = time.time() + 30
        while time.time() < deadline and len(sleeping(marker)) < 2:
            time.sleep(0.2)
        assert sleeping(marker), "the jobs did not start"
        cancelled = relval("cancel", "slow", *sshd.ssh_args(outputs), "--remote-base", str(base), "--json")
        assert cancelled.returncode == 0, cancelled.stderr
        assert json.loads(cancelled.stdout)["chains"] == {C2: pids[0], R1: pids[1]}
        for pid in pids:  # gone, or a zombie nobody reaped (the container's init may not)
            stat = Path(f"/proc/{pid}/stat")
            assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
        deadline = time.time() + 10
        while time.time() < deadline and sleeping(marker):
            time.sleep(0.2)
        assert sleeping(marker) == []          # no payload outlives the cancel
        status = relval("status", *sshd.ssh_args(outputs), "--campaign", "slow", "--remote-base", str(base))
        assert status.returncode == 3, status.stdout + status.stderr   # stopped with work left
        again = relval("cancel", "slow", *sshd.ssh_args(outputs), "--remote-base", str(base))
        assert again.returncode == 0 and "was not running" in again.stderr
    finally:
        for pid in pids + sleeping(marker):
            try:
                os.killpg(pid, 9)
            except (ProcessLookupError, PermissionError):
                pass


def test_cancel_of_a_campaign_never_submitted_is_bad_input(sshd, tmp_path):
    outputs = sshd.outputs(tmp_path / "outputs.json")
    result = relval("cancel", "nope", *sshd.ssh_args(outputs), "--remote-base", str(tmp_path / "remote"))
    assert result.returncode == 2 and "campaign nope was not submitted to stack t1" in result.stderr


def test_a_follow_without_progress_stops_with_exit_3(sshd, tmp_path):
    """Before: `--watch` on a campaign whose jobs never moved waited for ever."""
    outputs = sshd.outputs(tmp_path / "outputs.json")
    chain = tmp_path / "remote" / "idle" / "candidate-x"
    chain.mkdir(parents=True)
    (chain / "idle.makeflow").write_text("")
    (chain / "idle.makeflow.makeflowlog").write_text("# STARTED 1000000\n1000000 0 1 7 0 1 0 0 0 1\n")
    (chain / "idle.makeflow.condorlog").write_text(
        "000 (007.000.000) 2026-01-02 03:04:05 Job submitted from host: <10.0.0.1:9618>\n...\n"
        "012 (007.000.000) 2026-01-02 03:05:05 Job was held.\n"
        "\tJob has gone over memory limit of 16000 megabytes.\n\tCode 34 Subcode 0\n...\n")
    fake = subprocess.Popen(["bash", "-c", "exec -a makeflow-stand-in sleep 120"], start_new_session=True)
    try:
        (chain / "makeflow.pid").write_text(f"{fake.pid}\n")
        result = relval("status", *sshd.ssh_args(outputs), "--campaign", "idle", "--remote-base",
                        str(tmp_path / "remote"), "--watch", "--interval", "0.2", "--stall-timeout", "2",
                        "--json")
        assert result.returncode == 3, result.stderr
        assert re.search(r"no progress for \d+ s \(--stall-timeout 2\): no job started or ended "
                         r"\(candidate-x: 0/1 done, 1 running", result.stderr)
        assert "relval cancel idle --stack t1" in " ".join(result.stderr.split())
        held = "job 7: Job has gone over memory limit of 16000 megabytes. (hold code 34)"
        assert json.loads(result.stdout.splitlines()[0])["workflows"][0]["held"] == [held]
        assert f"on hold in HTCondor: {held}" in " ".join(result.stderr.split())
    finally:
        fake.kill()


def sleeping(marker: str) -> list[int]:
    """Pids of live `sleep MARKER` processes."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def test_submit_checks_the_release_setup_on_the_head_first(sshd, tmp_path):
    outputs = sshd.outputs(tmp_path / "outputs.json")
    base = tmp_path / "remote"
    campaign = tiny_campaign(tmp_path)
    campaign.write_text(campaign.read_text() + "environment:\n  setup: eval $(/cvmfs/nowhere/bin/alienv "
                        "printenv {release})\n")
    result = relval("submit", str(campaign), *sshd.ssh_args(outputs), "--batch", "local",
                    "--remote-base", str(base))
    assert result.returncode == 3, result.stderr
    assert "environment.setup fails for release toy/v2 on 127.0.0.1" in " ".join(result.stderr.split())
    assert not base.exists()
