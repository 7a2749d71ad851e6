"""The head survives config changes, with the real engine against the simulated OpenStack.

A scaler knob, workers.max and the head's user-data (what a relval upgrade changes) are
applied without replacing the head: the knobs reach it as metadata, updated in place.
The image is pinned on the first up, so a newer image of the same name changes nothing.
A change that does replace the head (its availability zone) is reported as such.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import EXAMPLE_STACK

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def edit_stack_file(workspace, stack: str, **changes) -> None:
    """Change `relval:` keys in the workspace's stack file (its salt and secrets kept)."""
    path = Path(workspace.work_dir) / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        document["config"][f"relval:{key}"] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def head_server(cloud, stack: str) -> dict:
    [head] = [s for s in cloud.inventory()["servers"] if s["name"] == f"{stack}-head"]
    return head


def rotate_image(cloud, name: str) -> str:
    """A newer image taking the same name, as an operator's image rotation does."""
    import time

    from relval.simcloud import glance

    time.sleep(1.1)   # a later created_at, to the second
    with cloud.store.lock:
        return glance.add_image(cloud.store, {"name": name})["id"]


def test_scaler_knobs_workers_max_and_user_data_do_not_replace_the_head(engine):
    from relval.infra import automation
    from relval.infra.head_change import head_fate
    from relval.rehearse import session

    stack = "head-keeps"
    document = yaml.safe_load(EXAMPLE_STACK.read_text())
    config = document["config"]
    config["relval:workers"] = {"initial": 0, "min": 0, "max": 3}
    config["relval:volumes"] = []
    image_name = config["relval:image"]
    lines: list[str] = []
    with session(stack, document) as (workspace, cloud):
        assert head_fate(stack, workspace).verdict == "create"
        outputs, _ = automation.up_result(stack, lines.append, workspace)
        first = head_server(cloud, stack)
        assert first["metadata"]["relval-scaler.idleTimeout"] == "600"
        assert first["metadata"]["relval-scaler.workers.max"] == "3"
        # The image is pinned on the first up: a newer image of the same name is ignored.
        pinned = yaml.safe_load((Path(workspace.work_dir) / f"Pulumi.{stack}.yaml").read_text())
        assert pinned["config"]["relval:imageId"] == outputs["imageId"] == first["image_id"]
        newer = rotate_image(cloud, image_name)
        assert newer != first["image_id"]
        # A stack file made afresh from the template (a new pipeline) has no pin: the
        # deployed nodes' image id is pinned again before anything is compared.
        path = Path(workspace.work_dir) / f"Pulumi.{stack}.yaml"
        fresh = yaml.safe_load(path.read_text())
        del fresh["config"]["relval:imageId"]
        path.write_text(yaml.safe_dump(fresh, sort_keys=False))

        autoscaler = dict(config["relval:autoscaler"], idleTimeout=900)
        condor = {"channel": "24.0", "extraConfig": {"MAX_JOBS_RUNNING": 20000}}
        edit_stack_file(workspace, stack, autoscaler=autoscaler, condor=condor,
                        workers={"initial": 0, "min": 0, "max": 5})
        fate = head_fate(stack, workspace)
        assert fate.verdict == "update" and "metadata" in fate.properties, fate
        assert not fate.loses_the_head
        assert "not replaced" in fate.sentence()

        repinned = yaml.safe_load(path.read_text())["config"]["relval:imageId"]
        assert repinned == first["image_id"]
        automation.up_result(stack, lines.append, workspace)
        second = head_server(cloud, stack)
        assert second["id"] == first["id"] and second["image_id"] == first["image_id"]
        assert second["metadata"]["relval-scaler.idleTimeout"] == "900"
        assert second["metadata"]["relval-scaler.workers.max"] == "5"
        assert head_fate(stack, workspace).verdict == "same"

        # Moving the pin to the newer image rebuilds the head in place: said as such.
        edit_stack_file(workspace, stack, imageId=newer)
        fate = head_fate(stack, workspace)
        assert fate.verdict == "rebuild" and fate.properties == ("imageId",), fate
        assert fate.sentence().startswith("applying would REBUILD the head in place")
        edit_stack_file(workspace, stack, imageId=first["image_id"])

        # A new availability zone does replace it, and the message says why.
        edit_stack_file(workspace, stack, availabilityZone="nova")
        fate = head_fate(stack, workspace)
        assert fate.verdict == "replace" and "availabilityZone" in fate.properties, fate
        assert fate.sentence().startswith("applying would REPLACE the head")
        assert "availabilityZone" in fate.sentence()
