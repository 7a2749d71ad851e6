"""Tear a release's stack down completely, and say honestly whether it worked.

    stop the scaler -> sweep everything carrying the stack's metadata -> pulumi destroy
    -> remove the stack from the backend

The sweep comes first because it needs no state: workers the scaler booted, failed
boots, and everything Pulumi made are found by metadata, tag or stack-derived name
(`relval.openstack_sweep`), so nothing leaks even when the state is lost or the backend
is down. `pulumi destroy` then finds its resources gone and forgets them.

`down` ends in one of two ways: it returns with the cloud clean and the stack removed,
or it raises a RelvalError naming what is left (exit 3; exit 2 for missing credentials
or a missing CLI). Running it twice is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from relval.errors import RelvalError

OnOutput = Callable[[str], None]
EXIT_NO_VERDICT = 3


@dataclass
class ScalerStop:
    """What `stop_scaler` achieved: `confirmed` only when nothing can boot any more;
    `acknowledged` when the scaler itself answered the stop request."""

    confirmed: bool
    how: str
    acknowledged: bool = False


@dataclass
class DownReport:
    stack: str
    scaler: dict = field(default_factory=dict)
    swept: dict = field(default_factory=dict)        # SweepReport.to_json()
    state_found: bool = False                        # the backend held the stack
    destroyed: bool = False
    clean: bool = False

    def to_json(self) -> dict:
        return {"stack": self.stack, "scaler": self.scaler, "swept": self.swept,
                "state_found": self.state_found, "destroyed": self.destroyed, "clean": self.clean}


def _stack_config(stack: str):
    """The stack's validated config when its file is here (None: lost artifacts)."""
    from relval.infra.config_source import load_stack

    try:
        return load_stack(stack)[1]
    except RelvalError:
        return None


def stop_scaler_before_teardown(resources, stack: str, timeout_s: float = 120,
                                poll_s: float = 5, sleep: Callable[[float], None] | None = None,
                                clock: Callable[[], float] | None = None) -> ScalerStop:
    """Make sure the elastic scaler cannot boot anything once the sweep has begun.

    First the scaler is asked (`autoscaler.teardown.request_stop`: a token in the head's
    metadata, through the scaler's own cloud adapter on the sweep's connection). A scaler
    that answers has stopped for good before it could act again, so nothing more is
    needed: its credential goes with the sweep. Without an answer within `timeout_s` (no
    head, the head or its scaler down, an older scaler), its OpenStack application
    credential (`<stack>-autoscaler`) is deleted and the deletion confirmed by listing
    again; a scaler without it cannot call Nova at all, even when the head is unreachable.
    A stack without one (no scaler, or a credential given rather than created) is
    reported as unconfirmed, and the sweep then waits a settle period before it trusts
    an empty listing.
    """
    import time

    from relval.autoscaler.interfaces import AdapterError

    cfg = _stack_config(stack)
    no_scaler = cfg is not None and cfg.autoscaler is None
    unanswered = ""
    scaler_cloud = getattr(resources, "scaler_cloud", None)
    if scaler_cloud is not None and not no_scaler:
        from relval.autoscaler.teardown import request_stop

        asked = request_stop(scaler_cloud(), stack, timeout_s=timeout_s, poll_s=poll_s,
                             sleep=sleep or time.sleep, clock=clock or time.monotonic)
        if asked.acknowledged:
            return ScalerStop(True, f"the scaler acknowledged the stop request on its head "
                                    f"after {asked.waited_s:.0f} s: it boots nothing any more",
                              acknowledged=True)
        if asked.heads:
            unanswered = f"the scaler did not answer the stop request within {timeout_s:.0f} s; "
        elif asked.errors:
            unanswered = f"could not ask the scaler to stop ({asked.errors[0]}); "
    try:
        credentials = resources.list("application_credential")
        for credential in credentials:
            resources.delete("application_credential", credential.id)
        left = resources.list("application_credential")
    except AdapterError as error:
        return ScalerStop(False, f"{unanswered}could not delete the scaler's application "
                                 f"credential: {error}")
    if left:
        return ScalerStop(False, f"{unanswered}the scaler's application credential is still "
                                 f"listed: {', '.join(c.id for c in left)}")
    if not credentials:
        if no_scaler:
            return ScalerStop(True, "the stack runs no elastic scaler")
        return ScalerStop(False, f"{unanswered}no application credential {stack}-autoscaler "
                                 f"to revoke")
    return ScalerStop(True, f"{unanswered}revoked the scaler's application credential "
                            f"({credentials[0].id})")


def openstack_resources(stack: str):
    """The stack's resources on OpenStack, plus on EC2 when its scaler bursts there."""
    from relval.openstack_sweep import OpenStackStackResources, connect

    cfg = _stack_config(stack)  # an existing keypair it references is never swept
    resources = OpenStackStackResources(connect(), stack, keep_keypair=cfg.keypair if cfg else None)
    ec2 = cfg.autoscaler.ec2 if cfg is not None and cfg.autoscaler is not None else None
    if ec2 is None:
        return resources
    from relval.ec2_sweep import Combined, ec2_resources

    return Combined([resources, ec2_resources(ec2, stack)])


def down(stack: str, on_output: OnOutput = print,
         resources_factory: Callable[[str], object] = openstack_resources,
         stop_scaler: Callable[..., ScalerStop] = stop_scaler_before_teardown,
         timeout_s: float = 900, settle_s: float = 60, poll_s: float = 5,
         stop_timeout_s: float = 120,
         sleep: Callable[[float], None] | None = None,
         clock: Callable[[], float] | None = None, workspace=None) -> DownReport:
    import time

    from relval.autoscaler.teardown import sweep
    from relval.infra import automation

    sleep, clock = sleep or time.sleep, clock or time.monotonic
    automation.require_cli()  # fail before touching the cloud if destroy cannot follow
    resources = resources_factory(stack)  # missing credentials: exit 2 here, one line
    report = DownReport(stack)

    stopped = stop_scaler(resources, stack, timeout_s=stop_timeout_s, poll_s=poll_s, sleep=sleep,
                          clock=clock)
    report.scaler = {"confirmed": stopped.confirmed, "acknowledged": stopped.acknowledged,
                     "how": stopped.how}
    on_output(f"scaler: {stopped.how}")
    swept = sweep(resources, stack, timeout_s=timeout_s, poll_s=poll_s, sleep=sleep,
                   clock=clock)
    if swept.clean and not stopped.confirmed:
        # A scaler we could not stop may still boot: trust only a second empty listing.
        on_output(f"waiting {settle_s:.0f} s for a scaler that could not be stopped")
        sleep(settle_s)
        swept = sweep(resources, stack, timeout_s=timeout_s, poll_s=poll_s, sleep=sleep,
                   clock=clock)
    report.swept = swept.to_json()
    deleted = sum(len(ids) for ids in swept.deleted.values())
    if not swept.clean:
        raise RelvalError(f"stack {stack}: the cloud is not clean after {swept.waited_s:.0f} s; "
                          f"left: {'; '.join(swept.left())}; run relval down again"
                          + (f" (errors: {'; '.join(swept.errors[:3])})" if swept.errors else ""),
                          exit_code=EXIT_NO_VERDICT)
    on_output(f"swept {deleted} resource(s) of stack {stack} found by metadata; none left")

    report.destroyed = report.state_found = automation.destroy(stack, on_output=on_output, workspace=workspace)
    if report.state_found:
        on_output(f"stack {stack} destroyed and removed from the backend")
    else:
        on_output(f"the backend has no stack {stack} (never deployed, already removed, or its "
                  f"state was lost): the sweep by metadata above is the whole teardown")
    report.clean = True
    return report


# What `relval up --existing` does with a stack the backend already holds (a rerun of the
# same release after KEEP_CLUSTER=1 or after a destroy that failed).
EXISTING_POLICIES = ("reuse", "replace")


def up_with_policy(stack: str, existing: str = "reuse", on_output: OnOutput = print,
                   workspace=None, teardown: Callable[[str], object] | None = None,
                   scaler_sync: Callable[[dict], object] | None = None) -> dict:
    """`pulumi up`, saying what happens to a stack that is already deployed:
    - reuse: update it in place; the head keeps its campaign directories, so a rerun
      campaign resumes where the last one stopped;
    - replace: `relval down` first (sweep, destroy, remove), then a new deployment.
    The encryption salt needs no care: with the same passphrase, a stack file made afresh
    (a new pipeline's checkout) gets a new salt and the engine re-encrypts the state.

    A head kept by the update gets this relval's scaler files through `scaler_sync`
    (given the outputs with secrets in clear; `scaler_sync.deliver`): Pulumi leaves its
    user-data alone, so an upgrade reaches the running scaler only this way."""
    from relval.infra import automation
    from relval.scaler_sync import head_kept

    if existing not in EXISTING_POLICIES:
        raise RelvalError(f"--existing must be one of {', '.join(EXISTING_POLICIES)} (got {existing!r})")
    if workspace is None:
        from relval.infra.config_source import load_stack

        load_stack(stack)  # bad input stops here, before anything is torn down
    automation.require_cli()  # no engine: exit 2 with how to get one
    before = None
    if automation.is_deployed(stack, workspace):
        if existing == "replace":
            on_output(f"stack {stack} is already deployed: tearing it down first (--existing replace)")
            (teardown or (lambda s: down(s, on_output=on_output, workspace=workspace)))(stack)
        else:
            on_output(f"stack {stack} is already deployed: updating it in place (--existing reuse)")
            before = automation.outputs(stack, workspace=workspace)
    else:
        on_output(f"stack {stack} is not deployed yet: creating it")
    outputs = automation.up(stack, on_output=on_output, workspace=workspace)
    if head_kept(before, outputs) and outputs.get("scalerFiles"):
        if scaler_sync is None:
            on_output("relval: the scaler's files on the head were not compared with this "
                      "relval's (--no-scaler-sync): it may run an older relval")
        else:
            scaler_sync(automation.outputs(stack, show_secrets=True, workspace=workspace))
    return outputs
