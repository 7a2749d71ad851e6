"""Rerunning a release whose stack is still deployed, with the real engine.

A new pipeline makes its stack file afresh from the template, without the encryption salt
of the deployment it meets. `--existing reuse` updates that deployment in place (same
servers), `--existing replace` tears it down first (new servers, nothing leaked); either
way the engine accepts the new salt (same passphrase) and says what it does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import EXAMPLE_STACK

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def fresh_stack_file(workspace, stack: str) -> None:
    """The stack file as `relval stack new` writes it in a new checkout: no salt."""
    path = Path(workspace.work_dir) / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    assert document.pop("encryptionsalt", None), "the engine wrote no salt"
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def servers(cloud) -> set[str]:
    return {s["id"] for s in cloud.inventory()["servers"] if not s.get("seeded")}


def test_reuse_updates_in_place_and_replace_redeploys(engine):
    from relval.lifecycle import down, up_with_policy
    from relval.openstack_sweep import OpenStackStackResources
    from relval.rehearse import connect, session

    stack = "rerun-test"
    document = yaml.safe_load(EXAMPLE_STACK.read_text())
    document["config"]["relval:workers"] = {"initial": 1, "min": 0, "max": 2}
    document["config"]["relval:volumes"] = []
    with session(stack, document) as (workspace, cloud):
        def teardown(name):
            return down(name, on_output=lines.append, workspace=workspace, timeout_s=120, poll_s=0.5, stop_timeout_s=2,
                        settle_s=1, resources_factory=lambda s: OpenStackStackResources(connect(cloud), s))

        lines: list[str] = []
        up_with_policy(stack, "reuse", lines.append, workspace)
        assert f"stack {stack} is not deployed yet: creating it" in lines
        first = servers(cloud)
        assert len(first) == 1   # the head: with the elastic scaler Pulumi makes no worker

        lines.clear()
        fresh_stack_file(workspace, stack)
        up_with_policy(stack, "reuse", lines.append, workspace)
        assert f"stack {stack} is already deployed: updating it in place (--existing reuse)" in lines
        assert servers(cloud) == first

        lines.clear()
        fresh_stack_file(workspace, stack)
        up_with_policy(stack, "replace", lines.append, workspace, teardown=teardown)
        assert f"stack {stack} is already deployed: tearing it down first (--existing replace)" in lines
        second = servers(cloud)
        assert len(second) == 1 and not second & first

        teardown(stack)
        assert cloud.inventory()["leftovers"] == 0, cloud.inventory()["counts"]


def test_an_unknown_policy_is_refused_before_the_engine_runs():
    from relval.errors import RelvalError
    from relval.lifecycle import up_with_policy

    with pytest.raises(RelvalError, match="--existing must be one of reuse, replace"):
        up_with_policy("any", "keep")
