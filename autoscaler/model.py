"""The data the scaler passes around: what the adapters report, what the core sees and returns.

Plain frozen dataclasses with no behaviour beyond small derived properties, so the
adapters, the decision core, the state store and the simulator share one vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Cloud status of a VM, normalised across nova and EC2. TRANSIENT: a working VM in a
# state to wait out (nova's MIGRATING, REBOOT, RESIZE, ..., or paused by an operator);
# its jobs may well keep running, so it is never a failure.
BUILD, ACTIVE, ERROR, GONE, TRANSIENT = "BUILD", "ACTIVE", "ERROR", "GONE", "TRANSIENT"
# A delete was accepted and is under way (nova's task_state "deleting"): not a worker any
# more, not booting, and an alert when it lasts (a VM stuck in deletion).
DELETING = "DELETING"
# Nova's transient statuses: a live migration, a reboot, a resize, an operator's pause or
# shelve, or UNKNOWN while nova-compute is unreachable.
TRANSIENT_STATUSES = ("MIGRATING", "REBOOT", "HARD_REBOOT", "RESIZE", "VERIFY_RESIZE",
                      "REVERT_RESIZE", "REBUILD", "PASSWORD", "RESCUE", "UNKNOWN", "SHELVED",
                      "SHELVED_OFFLOADED", "SUSPENDED", "PAUSED")
# Condor state of a worker's startd.
NOT_JOINED, IDLE, BUSY, DRAINING = "not-joined", "idle", "busy", "draining"

STACK_KEY, ROLE_KEY, RELEASE_KEY = "relval-stack", "relval-role", "relval-release"
# The stack's unique identity (the name alone is not unique: two projects' stacks, or a
# stack re-created under the same name, share it). Pulumi puts it on every instance it
# declares and the scaler on every worker it boots; ownership needs both to match.
STACK_ID_KEY = "relval-stack-id"
# Who owns a worker: Pulumi's static workers are never adopted, drained or deleted by
# the scaler (nor by `relval down`'s sweep: `pulumi destroy` removes them).
MANAGED_KEY, BY_SCALER, BY_PULUMI = "relval-managed-by", "scaler", "pulumi"
# The teardown protocol, on the head's metadata: `relval down` sets STOP_KEY to a token,
# the scaler stops for good and answers by copying the token into STOPPED_KEY.
STOP_KEY, STOPPED_KEY = "relval-scaler-stop", "relval-scaler-stopped"
WORKER_ROLE, HEAD_ROLE = "worker", "head"
INSTANCE_ATTR = "RelvalInstanceId"  # startd ClassAd attribute naming the VM
# Startd attribute of workers whose jobs finish when drained (MAXJOBRETIREMENTTIME set):
# only those are drained while busy.
RETIRE_ATTR = "RelvalRetiresJobs"


# --- what the adapters report ---------------------------------------------------------

@dataclass(frozen=True)
class Worker:
    """A VM as the cloud lists it."""

    id: str
    name: str
    status: str                      # BUILD / ACTIVE / ERROR / GONE / TRANSIENT / DELETING
    created_at: float                # epoch seconds
    metadata: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    detail: str = ""                 # the cloud's own status word (MIGRATING, SHUTOFF, ...)

    def of_stack(self, stack: str, stack_id: str = "") -> bool:
        """Carries this stack's name and, when one is given, its unique id."""
        return (self.metadata.get(STACK_KEY) == stack
                and (not stack_id or self.metadata.get(STACK_ID_KEY) == stack_id))

    def owned_by(self, stack: str, stack_id: str = "") -> bool:
        """A worker the scaler may manage: this stack's, and not one of Pulumi's."""
        return (self.of_stack(stack, stack_id) and self.metadata.get(ROLE_KEY) == WORKER_ROLE
                and self.metadata.get(MANAGED_KEY) != BY_PULUMI)


@dataclass(frozen=True)
class Limits:
    """Project quota: maxima and current use (None: unlimited / unknown)."""

    max_instances: int | None = None
    max_cores: int | None = None
    max_ram_mb: int | None = None
    used_instances: int = 0
    used_cores: int = 0
    used_ram_mb: int = 0
    # Nova's server_group_members (default 10): members of the workers' server group.
    max_group_members: int | None = None
    used_group_members: int = 0

    def headroom(self) -> "Headroom":
        def left(limit, used):
            return None if limit is None or limit < 0 else max(0, limit - used)
        return Headroom(left(self.max_instances, self.used_instances),
                        left(self.max_cores, self.used_cores),
                        left(self.max_ram_mb, self.used_ram_mb),
                        left(self.max_group_members, self.used_group_members))


@dataclass(frozen=True)
class Job:
    """An idle job's request (one per job, or one per identical group with `count`)."""

    cpus: int
    memory_mb: int
    count: int = 1


@dataclass(frozen=True)
class Slot:
    """One startd ad, reduced to what scaling needs."""

    instance_id: str | None          # RelvalInstanceId; None for machines not made by relval
    name: str
    machine: str
    state: str                       # condor State: Unclaimed, Claimed, Drained, ...
    activity: str                    # condor Activity: Idle, Busy, Retiring, ...
    cpus: int
    memory_mb: int
    slot_type: str = "Static"        # Partitionable / Dynamic / Static
    draining: bool = False
    entered_state: float | None = None
    # The slot's whole size (a p-slot's Cpus/Memory are what is left of it): what a
    # worker really holds, less than the flavor (the OS and condor keep some). 0: unknown.
    total_cpus: int = 0
    total_memory_mb: int = 0


# --- what the core sees ------------------------------------------------------------------

@dataclass(frozen=True)
class Headroom:
    instances: int | None = None
    cores: int | None = None
    ram_mb: int | None = None
    group_members: int | None = None


@dataclass(frozen=True)
class WorkerState:
    """One owned worker as the core sees it: cloud and condor state with their timers."""

    id: str
    cloud: str                       # BUILD / ACTIVE / ERROR / GONE / TRANSIENT
    created_at: float
    condor: str = NOT_JOINED         # not-joined / idle / busy / draining
    condor_since: float = 0.0        # when `condor` last changed
    active_since: float | None = None   # first seen ACTIVE (join timeout runs from here)
    running_jobs: int = 0            # claimed slots in the collector
    schedd_jobs: int = 0             # jobs the schedd says run there (the cross-check)
    joined: bool = False             # its startd was in the collector at least once
    cloud_since: float = 0.0         # when `cloud` last changed (transient timeout)
    status_detail: str = ""          # the cloud's own status word, for messages
    free_cpus: int = 0               # unclaimed capacity of a joined worker
    free_memory_mb: int = 0
    total_cpus: int = 0              # what its startd advertises in all (0: unknown)
    total_memory_mb: int = 0
    deleting: bool = False           # a delete was sent, or the cloud is deleting it
    deleting_since: float | None = None  # the first delete sent, or first seen DELETING
    delete_sent_at: float | None = None  # the last delete the scaler sent
    drain_requested: bool = False


@dataclass(frozen=True)
class BootRecord:
    """One boot attempt and its outcome; the circuit breaker and backoff read these."""

    id: str
    launched_at: float
    outcome: str | None = None       # None: pending, "ok" (joined) or a failure kind
    resolved_at: float | None = None
    generation: int = 0              # 0: first try; n: n-th replacement in a chain
    replaced: bool = False           # a later boot took over its place
    build_s: float | None = None     # seen BUILD -> ACTIVE after this long (learned timeouts)
    join_s: float | None = None      # ACTIVE -> startd in the collector after this long

    @property
    def failed(self) -> bool:
        return self.outcome not in (None, "ok")


@dataclass(frozen=True)
class Observed:
    """Everything `decide` looks at. Built by `reconcile`, never by the core itself."""

    idle_jobs: tuple[Job, ...] = ()
    running_jobs: int = 0
    workers: tuple[WorkerState, ...] = ()
    headroom: Headroom = field(default_factory=Headroom)
    boots: tuple[BootRecord, ...] = ()
    # The collector's health: workers that joined once and are alive in the cloud, how
    # many of them the collector shows now, and since when it has answered normally.
    joined_listed: int = 0
    joined_visible: int = 0
    collector_ok_since: float = 0.0
    # Since when no cycle has seen an idle job (None: idle jobs now, or not known yet).
    queue_quiet_since: float | None = None
    # What a worker of the configured flavor holds, as joined workers advertise it
    # (cpus, memory MB); None until one has joined: the flavor's size is used.
    worker_size: tuple[int, int] | None = None


# --- what the core returns -------------------------------------------------------------

@dataclass(frozen=True)
class Boot:
    n: int
    reason: str
    case: str = "scale-up"
    replaces: tuple[str, ...] = ()   # failed boot ids this boot takes over (backoff chain)


@dataclass(frozen=True)
class Drain:
    worker: str
    reason: str
    case: str = "idle-drain"
    retire: bool = False             # jobs run there: they finish first (graceful retirement)


@dataclass(frozen=True)
class Delete:
    worker: str
    reason: str
    case: str = "drained"
    failure: str | None = None       # set when the delete ends a failed boot


@dataclass(frozen=True)
class Alert:
    """Informational (no effect on the cloud): the circuit breaker is open, the collector
    looks empty, a busy worker was not deleted, ... `case` names which."""

    reason: str
    case: str = "circuit-open"


@dataclass(frozen=True)
class Unfittable:
    """Informational: jobs larger than a worker; reported, never booted for."""

    count: int
    cpus: int
    memory_mb: int
    reason: str
    case: str = "unfittable"


Action = Boot | Drain | Delete | Alert | Unfittable


def describe(action: Action) -> str:
    """One log line per action: the case name first, then the reason."""
    if isinstance(action, Boot):
        return f"[{action.case}] boot {action.n}: {action.reason}"
    if isinstance(action, Drain):
        return f"[{action.case}] drain {action.worker}: {action.reason}"
    if isinstance(action, Delete):
        return f"[{action.case}] delete {action.worker}: {action.reason}"
    return f"[{action.case}] {action.reason}"
