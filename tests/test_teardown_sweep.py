"""`relval down`: stop the scaler, sweep every resource kind by metadata, destroy, remove.

The sweep runs against an in-memory project that keeps OpenStack's dependencies (a
port, volume or floating IP stays in use until its server is gone; a security group
until its ports are; deletes take a round to finish), and fails listings on demand.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from relval.autoscaler.interfaces import CloudError
from relval.autoscaler.teardown import SWEEP_ORDER, Resource, sweep, teardown
from relval.errors import RelvalError
from relval.infra import automation
from relval.lifecycle import ScalerStop, down, stop_scaler_before_teardown

from .conftest import REPO


def stand_in_engine(monkeypatch):
    """An engine path for code that only locates it: the Automation API calls are faked, so
    these tests run the same with or without `make engine`."""
    from pathlib import Path

    from relval.infra.engine import Engine

    monkeypatch.setattr(automation, "require_cli", lambda: "/usr/bin/pulumi")
    import pulumi.automation as auto

    monkeypatch.setattr(automation, "find_engine", lambda: Engine(cli=Path("/usr/bin/pulumi"), home=None))
    monkeypatch.setattr(auto, "PulumiCommand", lambda **kwargs: None)


@dataclass
class Item:
    kind: str
    id: str
    stack: str
    uses: tuple[str, ...] = ()     # ids this one is attached to (a port: its server)
    dying: int = -1                # rounds until a pending delete completes (-1: none)


@dataclass
class FakeProject:
    """A project's resources of every kind, with in-use rules and scripted failures."""

    items: dict[str, Item] = field(default_factory=dict)
    broken_listings: dict[str, int] = field(default_factory=dict)   # kind -> failures left (-1: always)
    undeletable: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    on_list: object = None

    def add(self, kind: str, id: str, stack: str = "rel-1", uses: tuple[str, ...] = ()) -> Item:
        self.items[id] = Item(kind, id, stack, uses)
        return self.items[id]

    def left(self, stack: str = "rel-1") -> list[str]:
        return sorted(i.id for i in self.items.values() if i.stack == stack)

    def _tick(self) -> None:
        for item in list(self.items.values()):
            if item.dying > 0:
                item.dying -= 1
            elif item.dying == 0:
                del self.items[item.id]

    def in_use(self, item: Item) -> bool:
        return any(item.id in other.uses for other in self.items.values())

    def resources(self, stack: str = "rel-1") -> "FakeStackResources":
        return FakeStackResources(self, stack)


@dataclass
class FakeStackResources:
    project: FakeProject
    stack: str

    def list(self, kind: str) -> list[Resource]:
        project = self.project
        project.calls.append(("list", kind, ""))
        if kind == SWEEP_ORDER[0]:
            project._tick()  # time passes between rounds
            if project.on_list:
                project.on_list()
        left = project.broken_listings.get(kind, 0)
        if left:
            project.broken_listings[kind] = left - 1 if left > 0 else -1
            raise CloudError(f"list {kind}: HTTP 503 Service Unavailable")
        return [Resource(i.kind, i.id) for i in project.items.values()
                if i.kind == kind and i.stack == self.stack]

    def delete(self, kind: str, resource_id: str) -> None:
        project = self.project
        project.calls.append(("delete", kind, resource_id))
        item = project.items.get(resource_id)
        if item is None or item.dying >= 0:
            return
        if resource_id in project.undeletable:
            return  # accepted, never done (a VM stuck in deletion)
        if project.in_use(item):
            raise CloudError(f"delete {kind} {resource_id}: HTTP 409 in use")
        item.dying = 1 if kind == "server" else 0


def full_stack(project: FakeProject, stack: str = "rel-1") -> None:
    project.add("application_credential", f"{stack}-cred", stack)
    project.add("server", f"{stack}-head", stack)
    project.add("server", f"{stack}-w0", stack)
    project.add("server", f"{stack}-scaler-w1", stack)
    project.add("port", f"{stack}-head-port", stack, uses=(f"{stack}-secgroup",))
    project.add("port", f"{stack}-w0-port", stack, uses=(f"{stack}-secgroup",))
    project.items[f"{stack}-head"].uses = (f"{stack}-head-port", f"{stack}-vol", f"{stack}-fip",
                                           f"{stack}-group")
    project.items[f"{stack}-w0"].uses = (f"{stack}-w0-port", f"{stack}-group", f"{stack}-key")
    project.add("volume", f"{stack}-vol", stack)
    project.add("floating_ip", f"{stack}-fip", stack)
    project.add("security_group", f"{stack}-secgroup", stack)
    project.add("server_group", f"{stack}-group", stack)
    project.add("keypair", f"{stack}-key", stack)


def no_sleep(seconds: float) -> None:
    pass


# --- the sweep ------------------------------------------------------------------------------------

def test_sweep_removes_every_kind_of_the_stack_and_nothing_else():
    project = FakeProject()
    full_stack(project)
    full_stack(project, "someone-else")
    report = sweep(project.resources(), "rel-1", sleep=no_sleep)
    assert report.clean, report.to_json()
    assert project.left("rel-1") == []
    assert len(project.left("someone-else")) == 11
    assert set(report.found) == set(SWEEP_ORDER)
    assert sorted(report.found["server"]) == ["rel-1-head", "rel-1-scaler-w1", "rel-1-w0"]
    # Running it again finds nothing and is clean at once.
    again = sweep(project.resources(), "rel-1", sleep=no_sleep)
    assert again.clean and not any(again.found.values()) and not again.deleted


def test_a_listing_that_keeps_failing_is_never_clean():
    project = FakeProject(broken_listings={"volume": -1})
    report = sweep(project.resources(), "rel-1", sleep=no_sleep, timeout_s=0)
    assert not report.clean
    assert report.unlisted == {"volume": "list volume: HTTP 503 Service Unavailable"}
    assert report.left() == ["volume: could not list (list volume: HTTP 503 Service Unavailable)"]


def test_a_listing_that_recovers_gives_a_clean_sweep():
    project = FakeProject(broken_listings={"port": 2})
    full_stack(project)
    report = sweep(project.resources(), "rel-1", sleep=no_sleep)
    assert report.clean and project.left() == []
    assert any("list port: HTTP 503" in e for e in report.errors)


def test_teardown_that_never_listed_is_not_clean():
    # 181 failed listings over 900 s used to report clean: True.
    from relval.autoscaler.fakes import FakeCloud

    cloud = FakeCloud("rel-1", p_api_error=1.0)
    clock = iter(range(0, 2000, 5))
    report = teardown(cloud, "rel-1", sleep=no_sleep, clock=lambda: next(clock), timeout_s=900)
    assert cloud.calls["list_workers"] >= 180
    assert not report.listed and not report.clean
    assert report.to_json()["clean"] is False


# --- relval down ----------------------------------------------------------------------------------

@pytest.fixture
def engine(monkeypatch):
    """The Automation API's destroy, recorded: what the cloud held when it ran."""
    events = []
    stand_in_engine(monkeypatch)
    monkeypatch.setattr(automation, "destroy", lambda stack, on_output, workspace=None: events.append(stack) or True)
    return events


def test_down_revokes_the_scaler_then_sweeps_everything_then_destroys(engine):
    project = FakeProject()
    full_stack(project)
    full_stack(project, "someone-else")
    lines = []
    report = down("rel-1", on_output=lines.append, resources_factory=project.resources, sleep=no_sleep)
    assert report.clean and report.destroyed and engine == ["rel-1"]
    assert project.left("rel-1") == [] and len(project.left("someone-else")) == 11
    assert report.scaler == {"confirmed": True, "acknowledged": False,
                             "how": "revoked the scaler's application credential (rel-1-cred)"}
    deletes = [(kind, rid) for op, kind, rid in project.calls if op == "delete"]
    assert deletes[0] == ("application_credential", "rel-1-cred")
    assert any("swept 10 resource(s)" in line for line in lines)


def test_down_with_lost_state_still_sweeps_and_says_so(monkeypatch):
    project = FakeProject()
    full_stack(project)
    stand_in_engine(monkeypatch)
    monkeypatch.setattr(automation, "destroy", lambda stack, on_output, workspace=None: False)
    lines = []
    report = down("rel-1", on_output=lines.append, resources_factory=project.resources, sleep=no_sleep)
    assert project.left() == [] and report.clean and not report.state_found
    assert any("state was lost" in line for line in lines)


def test_down_names_what_is_left_and_never_destroys(monkeypatch):
    project = FakeProject(undeletable={"rel-1-vol"})
    full_stack(project)
    stand_in_engine(monkeypatch)
    monkeypatch.setattr(automation, "destroy", lambda *a, **k: pytest.fail("must not destroy"))
    with pytest.raises(RelvalError) as caught:
        down("rel-1", on_output=lambda line: None, resources_factory=project.resources,
             sleep=no_sleep, clock=iter(range(0, 10_000, 5)).__next__, timeout_s=900)
    assert caught.value.exit_code == 3
    assert "left: 1 volume(s): rel-1-vol; run relval down again" in str(caught.value)


def test_down_when_the_cloud_cannot_be_listed_is_exit_3(monkeypatch):
    project = FakeProject(broken_listings={"server": -1})
    stand_in_engine(monkeypatch)
    monkeypatch.setattr(automation, "destroy", lambda *a, **k: pytest.fail("must not destroy"))
    with pytest.raises(RelvalError) as caught:
        down("rel-1", on_output=lambda line: None, resources_factory=project.resources,
             sleep=no_sleep, timeout_s=0)
    assert caught.value.exit_code == 3 and "server: could not list" in str(caught.value)


def test_an_unconfirmed_scaler_stop_waits_and_catches_a_late_boot(engine):
    project = FakeProject()
    project.add("server", "rel-1-w0")
    booted = []

    def scaler_boots_once_during_the_settle_period():
        if 60 in seconds_slept and not booted:
            booted.append(project.add("server", "rel-1-late"))

    seconds_slept = []
    project.on_list = scaler_boots_once_during_the_settle_period
    report = down("rel-1", on_output=lambda line: None, resources_factory=project.resources,
                  stop_scaler=lambda resources, stack, **timing: ScalerStop(False, "head unreachable"),
                  sleep=seconds_slept.append, settle_s=60)
    assert 60 in seconds_slept and booted
    assert project.left() == [] and report.clean
    assert report.swept["found"]["server"] == ["rel-1-late"], (seconds_slept, report.swept)


def test_scaler_stop_is_unconfirmed_when_the_credential_survives():
    project = FakeProject(undeletable={"rel-1-cred"})
    project.add("application_credential", "rel-1-cred")
    project.items["rel-1-cred"].dying = -1
    stopped = stop_scaler_before_teardown(project.resources(), "rel-1")
    assert not stopped.confirmed and "still listed" in stopped.how


# --- the engine: only its own "no stack named" means nothing to destroy -----------------------------

def command_error(cls_name: str, stderr: str):
    import pulumi.automation as auto
    from pulumi.automation._cmd import CommandResult

    return getattr(auto.errors, cls_name)(CommandResult(stdout="", stderr=stderr, code=255))


@pytest.mark.parametrize("error,expected", [
    (("StackNotFoundError", "error: no stack named 'rel-1' found"), False),
    (("CommandError", "error: failed to load checkpoint: blob (code=NotFound): NoSuchBucket: "
                      "The specified bucket does not exist"), "exit 3"),
    (("CommandError", "error: read .pulumi/stacks/relval/rel-1.json: file does not exist"), "exit 3"),
])
def test_destroy_reads_only_the_engines_not_found_as_nothing_to_do(monkeypatch, error, expected):
    import pulumi.automation as auto

    def select_stack(**kwargs):
        raise command_error(*error)

    stand_in_engine(monkeypatch)
    monkeypatch.setattr(auto, "select_stack", select_stack)
    if expected is False:
        assert automation.destroy("rel-1", on_output=lambda line: None) is False
    else:
        with pytest.raises(RelvalError) as caught:
            automation.destroy("rel-1", on_output=lambda line: None)
        assert caught.value.exit_code == 3 and "does not exist" in str(caught.value)


def test_destroy_removes_the_stack_afterwards(monkeypatch):
    import pulumi.automation as auto

    calls = []

    class Workspace:
        def remove_stack(self, name, preserve_config=None):
            calls.append(("rm", name, preserve_config))

    class Stack:
        workspace = Workspace()

        def destroy(self, **kwargs):
            calls.append(("destroy",))

    stand_in_engine(monkeypatch)
    monkeypatch.setattr(auto, "select_stack", lambda **kwargs: Stack())
    assert automation.destroy("rel-1", on_output=lambda line: None) is True
    assert calls == [("destroy",), ("rm", "rel-1", True)]


# --- the command, as a user meets it ---------------------------------------------------------------

def test_down_without_openstack_credentials_is_one_line_exit_2(tmp_path):
    fake_cli = tmp_path / "bin" / "pulumi"   # found on PATH; never reached
    fake_cli.parent.mkdir()
    fake_cli.write_text("#!/bin/sh\necho 'must not run' >&2; exit 99\n")
    fake_cli.chmod(fake_cli.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(PATH=f"{fake_cli.parent}:/usr/bin:/bin", HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "relval", "down", "--stack", "alice-relval"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "must not run" not in result.stderr
    assert "no OpenStack credentials" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_lock_left_behind_names_relval_unlock(monkeypatch):
    import pulumi.automation as auto

    class Stack:
        def destroy(self, **kwargs):
            raise command_error("ConcurrentUpdateError",
                                "error: the stack is currently locked by 1 lock(s). Either wait for "
                                "the other process(es) to end or delete the lock file with `pulumi cancel`.")

    stand_in_engine(monkeypatch)
    monkeypatch.setattr(auto, "select_stack", lambda **kwargs: Stack())
    with pytest.raises(RelvalError) as caught:
        automation.destroy("rel-1", on_output=lambda line: None)
    assert caught.value.exit_code == 3
    assert "locked by another update" in str(caught.value)
    assert "relval unlock --stack rel-1" in str(caught.value)


def test_unlock_cancels_through_the_engine(monkeypatch):
    import pulumi.automation as auto

    cancelled = []

    class Stack:
        def cancel(self):
            cancelled.append(True)

    stand_in_engine(monkeypatch)
    monkeypatch.setattr(auto, "select_stack", lambda **kwargs: Stack())
    automation.unlock("rel-1")
    assert cancelled == [True]
