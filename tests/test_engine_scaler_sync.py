"""A relval upgrade reaches the running scaler through `relval up`, for real.

The real engine deploys a stack with the elastic scaler against the simulated OpenStack;
the head is stood in for by a loopback sshd with the host key Pulumi generated for it,
reached through an ssh_config (as a bastion would route it), whose root is a directory
that first holds what cloud-init wrote from the first up's user-data. A change of what
the scaler's files hold (here the workers' condor settings; a new relval changes its
bundle the same way) is then applied with the head kept, and only the files that differ
are replaced, with a restart through a recording stand-in for systemctl.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from . import pipeline_support as ps
from .conftest import EXAMPLE_STACK
from .submit_sshd import running_sshd, sshd_available
from .test_engine_head import edit_stack_file, head_server

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def cloud_init_writes(root: Path, files) -> None:
    """What cloud-init did at the head's first boot: its user-data's scaler files."""
    for f in files:
        path = root / f.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
        path.chmod(f.mode)


def test_relval_up_delivers_the_scalers_new_files_to_the_kept_head(engine, tmp_path):
    if not sshd_available():
        pytest.skip("needs openssh-server, openssh-client and rsync")
    from relval.infra import automation
    from relval.lifecycle import up_with_policy
    from relval.rehearse import session
    from relval.scaler_sync import deliver, wanted_files
    from relval.workflows.submit import HeadOptions

    stack = "scaler-sync"
    document = yaml.safe_load(EXAMPLE_STACK.read_text())
    config = document["config"]
    config["relval:workers"] = {"initial": 0, "min": 0, "max": 3}
    config["relval:volumes"] = []
    root = tmp_path / "head-root"
    shim = tmp_path / "systemctl"
    shim.write_text(f"#!/bin/sh\necho \"$*\" >> {tmp_path}/systemctl.log\n")
    shim.chmod(0o755)
    lines: list[str] = []
    synced: list[dict] = []

    with session(stack, document) as (workspace, cloud):
        first = up_with_policy(stack, workspace=workspace, on_output=lines.append,
                               scaler_sync=synced.append)
        assert synced == []                      # a new head: cloud-init writes the files
        assert first["scalerFiles"] == "[secret]"  # never printed in clear
        head_id = head_server(cloud, stack)["id"]
        assert first["headId"] == head_id
        secrets = automation.outputs(stack, show_secrets=True, workspace=workspace)
        booted = wanted_files(secrets["scalerFiles"])
        cloud_init_writes(root, booted)
        host_key = next(r["outputs"]["privateKeyOpenssh"]
                        for r in automation.stack_resources(stack, workspace)
                        if r["type"] == "tls:index/privateKey:PrivateKey")
        (tmp_path / "sshd").mkdir()
        with running_sshd(tmp_path / "sshd", host_key) as head:
            options = HeadOptions(ssh_user=head.user, identity=head.client_key,
                                  ssh_config=ps.ssh_config_to(tmp_path, head.port))

            def sync(outputs):
                return synced.append(deliver(stack, outputs, options, say=lines.append,
                                             root=str(root), systemctl=str(shim)))

            # The workers' condor settings change: the scaler's worker-user-data with them.
            edit_stack_file(workspace, stack, condor={"channel": "24.0",
                                                     "extraConfig": {"MAX_JOBS_RUNNING": 20000}})
            up_with_policy(stack, workspace=workspace, on_output=lines.append, scaler_sync=sync)
            assert head_server(cloud, stack)["id"] == head_id           # the head is kept
            [report] = synced
            assert report.changed == ["/etc/relval/worker-user-data"], report
            assert report.restarted
            worker = (root / "etc/relval/worker-user-data").read_text()
            assert "MAX_JOBS_RUNNING = 20000" in worker
            # The head's own user-data (in Nova) is still the first one: only this way
            # does the change reach the scaler.
            assert "MAX_JOBS_RUNNING = 20000" not in booted_worker(booted)
            assert (tmp_path / "systemctl.log").read_text().splitlines() == [
                "enable relval-autoscaler.service", "restart --no-block relval-autoscaler.service"]
            assert any("replaced the scaler's files on the head (worker-user-data) and restarted"
                       in line for line in lines), lines[-5:]

            # Nothing changed: compared, nothing written, no restart.
            up_with_policy(stack, workspace=workspace, on_output=lines.append, scaler_sync=sync)
            assert synced[-1].changed == [] and not synced[-1].restarted
            assert len((tmp_path / "systemctl.log").read_text().splitlines()) == 2


def booted_worker(files) -> str:
    return next(f.content.decode() for f in files if f.path == "/etc/relval/worker-user-data")
