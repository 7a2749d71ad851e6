"""A lock left behind by a killed update, with the real engine and a file:// backend.

A CI job killed mid-update (timeout, cancelled pipeline) leaves the stack locked. The next
`relval up` or `relval down` must say so and name the way out, and `relval unlock`
(`pulumi cancel`) must remove the lock on a self-managed backend too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import yaml

from .conftest import EXAMPLE_STACK

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def locks(workspace) -> list:
    backend = workspace.env["PULUMI_BACKEND_URL"][len("file://"):]
    return [p for p in (os.path.join(d, f) for d, _, files in os.walk(f"{backend}/.pulumi/locks")
                        for f in files)]


def kill_an_update_midway(stack: str, workspace, engine) -> None:
    """`pulumi up` started in its own process group and killed with SIGKILL once the
    engine has begun the update (the way a CI runner kills a job)."""
    env = {**engine.env(), **workspace.env}
    process = subprocess.Popen([str(engine.cli), "up", "--yes", "--stack", stack, "--non-interactive"],
                               cwd=workspace.work_dir, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        for line in process.stdout:
            if "creating" in line:   # the update runs, so the stack is locked
                break
        time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_killed_update_leaves_a_lock_that_relval_unlock_removes(engine):
    from relval.errors import RelvalError
    from relval.infra import automation
    from relval.rehearse import session

    stack = "lock-test"
    document = yaml.safe_load(EXAMPLE_STACK.read_text())
    with session(stack, document) as (workspace, cloud):
        kill_an_update_midway(stack, workspace, engine)
        assert locks(workspace), "the killed update left no lock"

        with pytest.raises(RelvalError) as refused:
            automation.destroy(stack, on_output=lambda line: None, workspace=workspace)
        message = str(refused.value)
        assert refused.value.exit_code == 3
        assert "locked by another update" in message and f"relval unlock --stack {stack}" in message

        automation.unlock(stack, workspace=workspace)
        assert locks(workspace) == []
        # Unlocked, the stack is usable again: destroy removes what the killed update made.
        assert automation.destroy(stack, on_output=lambda line: None, workspace=workspace)
