"""Submission logic without a host: stack outputs, the host key pin, the scripts run on
the head, and the missing Pulumi CLI."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from relval.errors import RelvalError
from relval.workflows.remote import HostKey, SshTarget, SshTransport, quote_path
from relval.workflows.stack_outputs import head_access, read_outputs, read_outputs_file
from relval.workflows.submit import launch_script, makeflow_argv, parse_probe, probe_script

from .conftest import REPO, VALID_KEY

RELVAL = [sys.executable, "-m", "relval"]


def test_host_key_parse_accepts_openssh_lines_and_names_each_problem():
    key = HostKey.parse(VALID_KEY)
    assert key.key_type == "ssh-ed25519"
    assert key.known_hosts_line() == f"relval-head {' '.join(VALID_KEY.split()[:2])}\n"
    blob = VALID_KEY.split()[1]
    for line, problem in [
        ("", "is not an OpenSSH public key line"),
        (f"ssh-dss {blob}", "has unsupported key type 'ssh-dss'"),
        ("ssh-ed25519 not*base64", "has a key that is not valid base64"),
        (f"ecdsa-sha2-nistp256 {blob}", "has a key blob that is not a ecdsa-sha2-nistp256 key"),
    ]:
        with pytest.raises(ValueError, match=problem.replace("*", r"\*")):
            HostKey.parse(line)


def test_ssh_options_pin_the_key_and_forbid_prompts(tmp_path):
    target = SshTarget("203.0.113.7", HostKey.parse(VALID_KEY), user="relval", port=2222,
                       identity=tmp_path / "id", ssh_config=Path("/dev/null"))
    with SshTransport(target) as ssh:
        options = ssh.ssh_options()
        known_hosts = Path(dict(o.split("=", 1) for o in options if "=" in o)["UserKnownHostsFile"])
        assert known_hosts.read_text() == HostKey.parse(VALID_KEY).known_hosts_line()
    pairs = dict(o.split("=", 1) for o in options if "=" in o)
    assert pairs["StrictHostKeyChecking"] == "yes"
    assert pairs["GlobalKnownHostsFile"] == "/dev/null"
    assert pairs["BatchMode"] == "yes"
    assert pairs["HostKeyAlgorithms"] == "ssh-ed25519"
    assert pairs["HostKeyAlias"] == "relval-head"
    assert options[options.index("-p") + 1] == "2222"
    assert options[options.index("-l") + 1] == "relval"
    assert options[options.index("-F") + 1] == "/dev/null"
    assert not known_hosts.exists()  # removed with the transport


def test_head_access_reports_every_problem_at_once():
    with pytest.raises(RelvalError) as caught:
        head_access({"headSshPort": "x", "headHostPublicKey": "ssh-rsa"}, "s1", "out.json")
    assert caught.value.problems == [
        "out.json: stack 's1' has no output 'headAddress'",
        "out.json: output 'headSshPort' must be a port number, got 'x'",
        "out.json: output 'headHostPublicKey' is not an OpenSSH public key line ('ssh-ed25519 AAAA...')",
    ]
    with pytest.raises(RelvalError, match="has no output 'headHostPublicKey' \\(needed to pin"):
        head_access({"headAddress": "10.0.0.1"}, "s1", "out.json")


def test_head_access_defaults_and_pulumi_numbers():
    access = head_access({"headAddress": "h", "headHostPublicKey": VALID_KEY}, "s", "f")
    assert (access.address, access.ssh_user, access.ssh_port) == ("h", "relval", 22)
    access = head_access({"headAddress": "h", "headHostPublicKey": VALID_KEY, "sshUser": "alice",
                          "headSshPort": 2222.0}, "s", "f")
    assert (access.ssh_user, access.ssh_port) == ("alice", 2222)


def test_outputs_file_errors(tmp_path):
    with pytest.raises(RelvalError, match="no such outputs file"):
        read_outputs_file(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(RelvalError, match="bad.json: not valid JSON"):
        read_outputs_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(RelvalError, match="expected a JSON object"):
        read_outputs_file(tmp_path / "list.json")
    (tmp_path / "ok.json").write_text(json.dumps({"headAddress": "h"}))
    assert read_outputs("s", tmp_path / "ok.json") == {"headAddress": "h"}


def test_missing_pulumi_cli_is_an_error_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("RELVAL_TOOLS_DIR", str(tmp_path))  # not the engine `make engine` built
    with pytest.raises(RelvalError) as caught:
        read_outputs("s1")
    (message,) = caught.value.problems
    assert message.startswith("no Pulumi engine found")
    assert "make engine" in message and "or pass --outputs FILE" in message


def test_submit_without_pulumi_cli_or_outputs_exits_2(tmp_path):
    campaign = tmp_path / "c.yaml"
    campaign.write_text("campaign: c\nrelease: r\ndatasets: [{name: d, jobs: 1}]\n"
                        "stages: [{name: s, per: job, command: 'true', outputs: [o.txt]}]\n")
    result = subprocess.run([*RELVAL, "submit", str(campaign), "--stack", "s1"], cwd=REPO,
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": "", "RELVAL_TOOLS_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "error: no Pulumi engine found" in result.stderr
    assert "pass --outputs FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_makeflow_command_for_each_batch_system():
    condor = makeflow_argv("smoke.makeflow", "condor", "relval-o2-daily", 2)
    assert condor[:6] == ["makeflow", "-T", "condor", "--log-verbose", "-r", "2"]
    assert condor[condor.index("-B") + 1].splitlines()[0] == 'requirements = (RelvalStack == "relval-o2-daily")'
    assert condor[-1] == "smoke.makeflow"
    local = makeflow_argv("smoke.makeflow", "local", "s", 0)
    assert local == ["makeflow", "-T", "local", "--log-verbose", "-r", "0", "smoke.makeflow"]


def test_launch_script_detaches_and_records_the_pid():
    argv = makeflow_argv("smoke.makeflow", "condor", "s1", 1)
    script = launch_script("~/relval/smoke/candidate", argv, "smoke.makeflow.makeflowlog")
    assert script.startswith('cd "$HOME"/relval/smoke/candidate || exit 3\n')
    start = script.index("OMPI_MCA_ess_singleton_isolated=1 nohup setsid")
    launch = script[start:script.index("\n", script.index("< /dev/null &", start))]
    assert launch.endswith(" > makeflow.out 2>&1 < /dev/null &")
    assert "/bin/sh relval-makeflow.sh smoke.makeflow.makeflowlog makeflow -T condor" in launch
    assert "OMPI_MCA_ess_singleton_isolated=1" in launch
    assert shlex.join(argv) in launch
    assert 'echo "$pid" > makeflow.pid' in script
    assert "command -v condor_submit" in script  # condor is required, never replaced by local


def test_probe_output_parsing_and_tools():
    chains, missing = parse_probe("missing condor_submit\ncandidate running 42 log\n"
                                  "reference idle no-log\n")
    assert missing == ["condor_submit"]
    assert (chains["candidate"].running, chains["candidate"].pid, chains["candidate"].has_log) == (
        True, 42, True)
    assert (chains["reference"].running, chains["reference"].has_log) == (False, False)
    assert "command -v condor_submit" in probe_script("d", "condor")
    assert "condor_submit" not in probe_script("d", "local")


def test_remote_paths_keep_home_expansion_and_quote_the_rest():
    assert quote_path("~/relval/a b") == "\"$HOME\"/'relval/a b'"
    assert quote_path("/abs/x") == "/abs/x"
    assert quote_path("x;rm -rf /") == "'x;rm -rf /'"
