"""A relval upgrade reaches the scaler on a running head (`relval.scaler_sync`).

The stack exports the scaler's files exactly as the head's user-data writes them, and
they are delivered over a real SSH connection (a loopback sshd) into a directory that
stands in for the head's root, with a recording stand-in for systemctl (systemd does
not run here).
"""

from __future__ import annotations

import copy
import stat
from pathlib import Path

import pytest
import yaml

from relval.errors import NoVerdictError
from relval.scaler_sync import HeadFile, head_kept, sync, wanted_files
from relval.workflows.remote import SshTransport

from .conftest import make_plan
from .submit_sshd import sshd  # noqa: F401  (a module-scoped fixture)

SCALED = {"enabled": True, "authUrl": "https://keystone.example/v3",
          "createApplicationCredential": True}


def scaled_plan(raw_config, **changes):
    return make_plan({**copy.deepcopy(raw_config), "autoscaler": dict(SCALED), **changes})


def test_scaler_files_are_what_the_heads_user_data_writes(raw_config):
    from relval.infra.plan import user_data_of

    plan = scaled_plan(raw_config)
    assert "scalerFiles" in plan.secret_outputs
    files = plan.outputs["scalerFiles"]
    head = yaml.safe_load(user_data_of(plan, "head", show_secrets=True))
    written = {f["path"]: f for f in head["write_files"]}
    assert {f["path"] for f in files} == {
        "/etc/relval/autoscaler.yaml", "/etc/relval/worker-user-data", "/etc/relval/clouds.yaml",
        "/opt/relval/relval-autoscaler.pyz", "/usr/local/sbin/relval-autoscaler-install",
        "/etc/systemd/system/relval-autoscaler.service"}
    for entry in files:
        assert entry == written[entry["path"]]
    decoded = {f.path: f for f in wanted_files(files)}
    assert decoded["/opt/relval/relval-autoscaler.pyz"].content[:2] == b"PK"   # the zip app
    assert decoded["/etc/relval/clouds.yaml"].mode == 0o600
    assert decoded["/usr/local/sbin/relval-autoscaler-install"].mode == 0o700
    # Without a scaler there is nothing to deliver.
    assert make_plan(raw_config).outputs["scalerFiles"] == []


def test_a_config_change_of_the_workers_changes_the_delivered_worker_user_data(raw_config):
    before = {f["path"]: f for f in scaled_plan(raw_config).outputs["scalerFiles"]}
    after = {f["path"]: f for f in scaled_plan(
        raw_config, condor={"extraConfig": {"MAX_JOBS_RUNNING": 20000}}).outputs["scalerFiles"]}
    assert after["/etc/relval/worker-user-data"] != before["/etc/relval/worker-user-data"]
    assert "MAX_JOBS_RUNNING = 20000" in after["/etc/relval/worker-user-data"]["content"]


def test_only_a_head_that_was_there_before_gets_the_files():
    assert head_kept({"headId": "a"}, {"headId": "a"})
    assert not head_kept({"headId": "a"}, {"headId": "b"})       # replaced: cloud-init writes
    assert not head_kept(None, {"headId": "a"})                  # created now
    assert not head_kept({}, {"headId": "a"})


def test_an_output_of_an_older_stack_is_bad_input():
    from relval.errors import RelvalError

    with pytest.raises(RelvalError, match="scalerFiles"):
        wanted_files(None)


# --- over SSH --------------------------------------------------------------------------

FILES = [HeadFile("/etc/relval/autoscaler.yaml", 0o600, b"poll: 60\n"),
         HeadFile("/opt/relval/relval-autoscaler.pyz", 0o644, bytes(range(256)) * 300),
         HeadFile("/etc/systemd/system/relval-autoscaler.service", 0o644, b"[Unit]\n")]


@pytest.fixture
def head_root(tmp_path):
    """A directory standing in for the head's /, and a systemctl that records its calls
    (it fails while a file `fail` exists beside it)."""
    root = tmp_path / "root"
    root.mkdir()
    shim = tmp_path / "systemctl"
    shim.write_text(f"#!/bin/sh\necho \"$*\" >> {tmp_path}/systemctl.log\n"
                    f"[ -e {tmp_path}/fail ] && {{ echo 'Unit not found.'; exit 5; }}\nexit 0\n")
    shim.chmod(0o755)
    return root, shim, tmp_path / "systemctl.log"


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_the_files_are_written_compared_and_the_scaler_restarted_over_ssh(sshd, head_root):
    root, shim, log = head_root
    with SshTransport(sshd.target()) as ssh:
        # A head whose scaler files are missing (a scaler enabled after it booted).
        report = sync(ssh, FILES, root=str(root), systemctl=str(shim))
        assert report.changed == [f.path for f in FILES] and report.restarted
        for f in FILES:
            written = root / f.path.lstrip("/")
            assert written.read_bytes() == f.content
            assert stat.S_IMODE(written.stat().st_mode) == f.mode
            assert written.stat().st_uid == 0
        assert calls(log) == ["daemon-reload", "enable relval-autoscaler.service",
                              "restart --no-block relval-autoscaler.service"]
        assert not list(root.rglob("*.relval-new"))

        # Nothing differs: nothing written, nothing restarted.
        again = sync(ssh, FILES, root=str(root), systemctl=str(shim))
        assert again.changed == [] and not again.restarted
        assert len(calls(log)) == 3
        assert "up to date" in again.sentence()

        # An upgrade of the bundle only: one file replaced, a restart without a reload.
        newer = [FILES[0], HeadFile(FILES[1].path, 0o644, b"new bundle"), FILES[2]]
        checked = sync(ssh, newer, apply=False, root=str(root), systemctl=str(shim))
        assert checked.changed == [FILES[1].path] and not checked.applied
        assert (root / FILES[1].path.lstrip("/")).read_bytes() == FILES[1].content
        upgraded = sync(ssh, newer, root=str(root), systemctl=str(shim))
        assert upgraded.changed == [FILES[1].path] and upgraded.restarted
        assert (root / FILES[1].path.lstrip("/")).read_bytes() == b"new bundle"
        assert calls(log)[3:] == ["enable relval-autoscaler.service",
                                  "restart --no-block relval-autoscaler.service"]
        assert "relval-autoscaler.pyz" in upgraded.sentence()

        # A mode changed by hand is put back.
        (root / FILES[0].path.lstrip("/")).chmod(0o644)
        assert sync(ssh, newer, root=str(root), systemctl=str(shim)).changed == [FILES[0].path]
        assert stat.S_IMODE((root / FILES[0].path.lstrip("/")).stat().st_mode) == 0o600


def test_a_failed_restart_is_no_verdict_with_systemds_words(sshd, head_root):
    root, shim, log = head_root
    (shim.parent / "fail").touch()
    with SshTransport(sshd.target()) as ssh:
        with pytest.raises(NoVerdictError, match="daemon-reload failed .exit 5.: Unit not found"):
            sync(ssh, FILES, root=str(root), systemctl=str(shim))


# --- relval up ---------------------------------------------------------------------------

@pytest.fixture
def deployed(monkeypatch):
    """`automation` answering as for a deployed stack whose head the update keeps."""
    from relval.infra import automation

    secret = [{"path": "/etc/relval/autoscaler.yaml", "content": "x", "permissions": "0600"}]
    monkeypatch.setattr(automation, "require_cli", lambda: "pulumi")
    monkeypatch.setattr(automation, "is_deployed", lambda stack, workspace=None: True)
    monkeypatch.setattr(automation, "up", lambda stack, on_output=print, workspace=None:
                        {"headId": "h1", "scalerFiles": "[secret]"})
    monkeypatch.setattr(automation, "outputs", lambda stack, show_secrets=False, workspace=None:
                        {"headId": "h1", "scalerFiles": secret if show_secrets else "[secret]"})
    return secret


def test_up_hands_a_kept_heads_files_to_the_sync_with_secrets(deployed):
    from relval.lifecycle import up_with_policy

    handed, lines = [], []
    up_with_policy("s", workspace=object(), on_output=lines.append, scaler_sync=handed.append)
    assert [o["scalerFiles"] for o in handed] == [deployed]
    up_with_policy("s", workspace=object(), on_output=lines.append, scaler_sync=None)
    assert "may run an older relval" in lines[-1]


def test_up_with_a_missing_identity_is_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "relval", "up", "--stack", "alice-relval",
                           "--identity", str(tmp_path / "nope")], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "--identity" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_campaign_warns_and_goes_on_when_the_files_cannot_be_delivered(tmp_path):
    import json

    from relval.campaign_steps import ClusterSteps
    from relval.workflows.submit import HeadOptions

    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"scalerFiles": [{"path": "/etc/relval/x"}]}))
    said: list[str] = []
    ClusterSteps(tmp_path / "c.yaml", HeadOptions(outputs_file=outputs),
                 say=said.append).deliver_scaler("s")
    assert said == ["warning: stack output 'scalerFiles' entry 0 is malformed (KeyError: 'content')"]
