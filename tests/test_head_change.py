"""`relval plan --diff`'s sentence about the head, from the engine's planned steps."""

from relval.infra.head_change import HEAD_NAME, HEAD_TYPE, Step, head_change


def step(op, keys=(), diffs=(), name=HEAD_NAME):
    return Step(op=op, type=HEAD_TYPE, name=name, keys=tuple(keys), diffs=tuple(diffs))


def test_replacement_names_the_property_that_forces_it():
    fate = head_change([step("create-replacement", ["availabilityZone"], ["availabilityZone", "metadata"]),
                        step("replace", ["availabilityZone"]), step("delete-replaced")])
    assert fate.verdict == "replace" and fate.loses_the_head
    assert fate.sentence() == ("applying would REPLACE the head (a new VM: its schedd queue and root "
                               "disk are lost) because of: availabilityZone")


def test_a_new_image_is_a_rebuild_that_wipes_the_root_disk():
    fate = head_change([step("update", diffs=["imageId", "metadata"])])
    assert fate.verdict == "rebuild" and fate.loses_the_head and "imageId" in fate.sentence()


def test_metadata_and_flavor_are_in_place_and_other_resources_do_not_count():
    fate = head_change([step("update", diffs=["flavorName", "metadata"]),
                        step("replace", ["userData"], name="worker-000")])
    assert fate.verdict == "update" and not fate.loses_the_head
    assert fate.sentence() == "applying updates the head in place (flavorName, metadata); it is not replaced"
    assert head_change([step("same")]).sentence().startswith("applying leaves the head untouched")
