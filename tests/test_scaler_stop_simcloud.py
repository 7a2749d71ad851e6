"""`relval down` stops a running scaler first, over real HTTP against the simulated OpenStack.

A scaler daemon (`autoscaler.daemon.run`, the head's own loop) runs in a thread against
`relval.simcloud` through its openstacksdk adapter, authenticated with the stack's
application credential as on the head, with a fake condor whose queue keeps asking
for workers. `relval down`'s scaler side must make it stop before the sweep: by the
head-metadata request the scaler answers, or else by revoking its credential.
"""

from __future__ import annotations

import pytest

from relval.autoscaler.interfaces import CloudError
from relval.autoscaler.model import STOP_KEY, STOPPED_KEY
from relval.infra import automation
from relval.lifecycle import down, stop_scaler_before_teardown
from relval.openstack_sweep import OpenStackStackResources

from .scaler_simcloud import STACK, ScalerOnSimcloud, deploy_head
from .simcloud_support import connect, until

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")


@pytest.fixture
def engine(monkeypatch):
    destroyed = []
    monkeypatch.setattr(automation, "require_cli", lambda: "/usr/bin/pulumi")
    monkeypatch.setattr(automation, "destroy",
                        lambda stack, on_output, workspace=None: destroyed.append(stack) or True)
    return destroyed


def servers(sim, role: str | None = None) -> list[dict]:
    return [s for s in sim.server.inventory()["servers"]
            if role is None or s["metadata"].get("relval-role") == role]


def test_down_asks_the_running_scaler_to_stop_and_it_boots_nothing_after(simcloud, tmp_path, engine):
    operator = connect(simcloud)
    head = deploy_head(simcloud, operator)
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=6) as scaler:
        until(lambda: len(servers(simcloud, "worker")) >= 2, timeout=20)   # it is scaling up
        lines = []
        report = down(STACK, on_output=lines.append, poll_s=0.1, settle_s=0.5, timeout_s=60,
                      
                      resources_factory=lambda s: OpenStackStackResources(operator, s))
        assert report.scaler["acknowledged"] is True, report.scaler
        assert report.scaler["confirmed"] is True
        assert "acknowledged the stop request" in report.scaler["how"]
        assert scaler.stopped_at() is not None           # its own state says: stopped for good
        creates_at_stop = scaler.creates()
        cycles = scaler.cycles()
        until(lambda: scaler.cycles() >= cycles + 5, timeout=20)  # it keeps cycling, idle
        assert scaler.creates() == creates_at_stop
    assert report.clean and engine == [STACK]
    left = simcloud.server.inventory()
    assert left["servers"] == [] and left["application_credentials"] == []
    assert head not in {s["id"] for s in left["servers"]}


def test_the_stop_answer_lands_on_the_head_before_anything_is_revoked(simcloud, tmp_path):
    operator = connect(simcloud)
    head = deploy_head(simcloud, operator)
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=0):
        stopped = stop_scaler_before_teardown(OpenStackStackResources(operator, STACK), STACK,
                                              timeout_s=20, poll_s=0.1)
    metadata = operator.compute.get_server(head).metadata
    assert stopped.acknowledged and stopped.confirmed
    assert metadata[STOPPED_KEY] == metadata[STOP_KEY]
    # Acknowledged: the credential is left to the sweep, which deletes it with the rest.
    names = [c["name"] for c in simcloud.server.inventory()["application_credentials"]]
    assert names == [f"{STACK}-autoscaler"]


def test_a_scaler_that_does_not_answer_loses_its_credential(simcloud, tmp_path):
    operator = connect(simcloud)
    deploy_head(simcloud, operator)
    scaler = ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=3)   # never started
    stopped = stop_scaler_before_teardown(OpenStackStackResources(operator, STACK), STACK,
                                          timeout_s=0.5, poll_s=0.1)
    assert not stopped.acknowledged and stopped.confirmed, stopped
    assert "did not answer" in stopped.how and "revoked" in stopped.how
    assert simcloud.server.inventory()["application_credentials"] == []
    # The head's scaler, with the credential it was given, can no longer boot anything.
    with pytest.raises(CloudError):
        scaler.cloud.create_worker(f"{STACK}-worker-late", scaler.metadata())
    assert servers(simcloud, "worker") == []
