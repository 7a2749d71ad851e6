"""The scaler's knobs travel as the head's metadata: the running scaler follows a change
within a cycle, and the head's user-data no longer depends on them (no replacement)."""

from __future__ import annotations

import copy
from dataclasses import replace

import yaml

from relval.autoscaler.config import Flavor, ScalerConfig
from relval.autoscaler.controller import Controller
from relval.autoscaler.fakes import FakeCloud, FakeCondor
from relval.autoscaler.live_config import PREFIX, from_metadata, to_metadata
from relval.autoscaler.state import JsonStore
from relval.infra.plan import user_data_of

from .conftest import BASE_CONFIG, make_plan

STACK = "s"
CFG = ScalerConfig(stack=STACK, min=0, max=10, flavor=Flavor(8, 16000), idle_timeout=600)
HEAD = {"relval-stack": STACK, "relval-role": "head"}
INSTANCE = "openstack:compute/instance:Instance"


def test_every_knob_and_bound_round_trips_through_metadata():
    tuned = replace(CFG, idle_timeout=900, min=2, max=7, failure_rate_limit=0.25,
                    adaptive_timeouts=False, max_concurrent_boots=3)
    items = to_metadata(tuned)
    assert all(len(k) <= 255 and len(v) <= 255 for k, v in items.items())   # nova's limits
    assert items[PREFIX + "idleTimeout"] == "900" and items[PREFIX + "workers.max"] == "7"
    assert PREFIX + "driver" not in items          # the adapter is chosen at start
    assert from_metadata(CFG, items) == (tuned, [])


def test_a_bad_item_is_named_and_keeps_the_running_value():
    items = {**to_metadata(CFG), PREFIX + "idleTimeout": "soon", PREFIX + "workers.max": "4"}
    config, problems = from_metadata(replace(CFG, idle_timeout=700), items)
    assert config.idle_timeout == 700 and config.max == 4
    assert problems == ["head metadata relval-scaler.idleTimeout must be a number (got 'soon')"]
    _, problems = from_metadata(CFG, {PREFIX + "workers.min": "5", PREFIX + "workers.max": "3"})
    assert "must be <= workers.max (got 5 > 3)" in problems[0]


def test_the_running_scaler_follows_the_heads_metadata_within_a_cycle(tmp_path):
    cloud = FakeCloud(STACK)
    head = cloud.add_vm({**HEAD, **to_metadata(CFG)})
    ctl = Controller(cloud, FakeCondor(), CFG, JsonStore(tmp_path / "state.json"))
    assert ctl.cycle(1000.0).created == []          # min 0, no jobs: nothing to boot
    # `pulumi up` with workers.min 2 and a new idleTimeout updates the metadata in place.
    head.metadata.update({PREFIX + "workers.min": "2", PREFIX + "idleTimeout": "1200"})
    assert len(ctl.cycle(1015.0).created) == 2
    assert (ctl.config.min, ctl.config.idle_timeout) == (2, 1200)
    # relval:autoscaler removed from the stack: the scaler left on the head stops acting.
    head.metadata.update({PREFIX + "enabled": "false", PREFIX + "workers.min": "5"})
    result = ctl.cycle(1030.0)
    assert result.created == [] and result.actions[0].case == "disabled"


def scaled(**changes) -> dict:
    raw = copy.deepcopy(BASE_CONFIG)
    raw.update(image="ALMA9 - x86_64", imageFamily="el9",
               autoscaler={"authUrl": "https://keystone.example.org/v3",
                           "createApplicationCredential": True, "idleTimeout": 600})
    raw.update(changes)
    return raw


def head_of(plan):
    return next(i for i in plan.of_type(INSTANCE) if i.inputs["metadata"]["relval-role"] == "head")


def test_knobs_and_bounds_change_the_heads_metadata_not_its_user_data():
    before = make_plan(scaled(), stack="rv")
    after = make_plan(scaled(autoscaler={**scaled()["autoscaler"], "idleTimeout": 1800},
                             workers={**BASE_CONFIG.get("workers", {"initial": 1, "min": 1}),
                                      "max": 7}), stack="rv")
    assert user_data_of(before, "head", show_secrets=True) == user_data_of(after, "head", show_secrets=True)
    assert head_of(after).inputs["metadata"][PREFIX + "idleTimeout"] == "1800"
    assert head_of(after).inputs["metadata"][PREFIX + "workers.max"] == "7"
    written = {f["path"]: f for f in yaml.safe_load(user_data_of(after, "head"))["write_files"]}
    assert "idleTimeout" not in written["/etc/relval/autoscaler.yaml"]["content"]


def test_without_a_scaler_the_head_says_disabled():
    plan = make_plan(copy.deepcopy(BASE_CONFIG))
    assert head_of(plan).inputs["metadata"][PREFIX + "enabled"] == "false"


def test_workers_initial_are_the_scalers_first_boots_and_only_once(tmp_path):
    cloud = FakeCloud(STACK)
    cloud.add_vm({**HEAD, **to_metadata(replace(CFG, min=1, initial=3))})
    store = tmp_path / "state.json"
    ctl = Controller(cloud, FakeCondor(), replace(CFG, min=1), JsonStore(store))
    assert len(ctl.cycle(1000.0).created) == 3          # initial, though min is 1
    ctl.cycle(1015.0)
    assert ctl.state.initial_done
    # Two of them are gone (drained after the idle timeout, say); a restarted scaler keeps
    # to min and does not boot the initial ones again.
    for vm in cloud.owned()[:2]:
        cloud.remove(vm.id)
    again = Controller(cloud, FakeCondor(), replace(CFG, min=1), JsonStore(store))
    assert again.cycle(1030.0).created == []
