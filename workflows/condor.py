"""What relval adds to makeflow's HTCondor jobs, and what it reads back (pure functions).

    submit_lines(stack) -> list[str]
        The lines `makeflow -T condor -B` adds to every job's submit file: pin the job to
        the stack's workers, the wall time, and the hold policy below.
    parse_job_log(data) -> dict[int, CondorJob]
        HTCondor's job event log (makeflow keeps it as `<workflow>.condorlog`): the last
        event of each cluster, with the hold or abort reason.
    job_ids(makeflow_log, nodes) -> {node: cluster id}   from the transaction log

Why: makeflow 8 reacts only to submit, execute, terminate and abort events. A held job
is never noticed: the node stays "running" and the campaign waits for ever. So the
policy lives in the jobs themselves, where the schedd applies it even when nobody
watches:

- **wall time**: a job running longer than its stage's `wall_time_s` plus 5 minutes is
  removed (the job wrapper's own `timeout` stops the payload at `wall_time_s`; this
  catches a job stuck outside it, in file transfer or on a dead worker). The limit is
  read from the job's own arguments (`relval-job.sh LOG WALL ...`), so each stage keeps
  its own though `-B` is one text for all jobs;
- **transient holds** (file transfer errors: codes 11, 12, 13, 18) are released after
  60 s, at most twice;
- **every other hold** (memory over the request (34), a policy, a failed start), and a
  third transient one, removes the job, except a hold put by a person (`condor_hold`,
  code 1), which is theirs to release.

A removed job is an abort event, which makeflow does notice: the node fails (and is
retried by `retries`), and relval reports it with the hold reason from the event log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRANSIENT_HOLDS = (11, 12, 13, 18)
MAX_RELEASES = 2
RELEASE_AFTER_S = 60
WALL_GRACE_S = 300
USER_HOLD = 1

# The job's wall time from its arguments; 0 when absent. `=?= true` below keeps every
# policy defined: an UNDEFINED policy would itself put the job on hold.
_WALL = "ifThenElse(size(split(Arguments)) > 3, int(split(Arguments)[3]), 0)"
_TRANSIENT = "(" + " || ".join(f"HoldReasonCode =?= {c}" for c in TRANSIENT_HOLDS) + ")"


def submit_lines(stack: str) -> list[str]:
    release = (f"((JobStatus =?= 5) && {_TRANSIENT} && (NumHolds <= {MAX_RELEASES}) && "
               f"(time() - EnteredCurrentStatus > {RELEASE_AFTER_S})) =?= true")
    remove_held = (f"((JobStatus =?= 5) && (HoldReasonCode =!= {USER_HOLD}) && "
                   f"!({_TRANSIENT} && (NumHolds <= {MAX_RELEASES})))")
    remove_long = (f"((JobStatus =?= 2) && ({_WALL} > 0) && "
                   f"(time() - EnteredCurrentStatus > {_WALL} + {WALL_GRACE_S}))")
    return [f'requirements = (RelvalStack == "{stack}")',
            f"periodic_release = {release}",
            f"periodic_remove = ({remove_held} || {remove_long}) =?= true"]


@dataclass
class CondorJob:
    cluster: int
    event: str                  # submitted | running | held | released | aborted | terminated
    reason: str = ""            # the abort reason, if aborted
    hold_reason: str = ""       # the last hold reason, with its code
    holds: int = 0

    def describe(self) -> str:
        """One line for a report: what HTCondor did to the job, and why."""
        parts = []
        if self.hold_reason:
            parts.append(f"held by HTCondor: {self.hold_reason}" + (f" ({self.holds} holds)" if self.holds > 1 else ""))
        if self.event == "aborted":
            parts.append("removed" + (" by the hold policy" if self.hold_reason else "") +
                         (f": {self.reason}" if self.reason and not self.hold_reason else ""))
        elif self.event == "held":
            parts.append("still held")
        return "; ".join(parts)


EVENTS = {0: "submitted", 1: "running", 5: "terminated", 9: "aborted", 12: "held", 13: "released"}
# `012 (123.000.000) 2026-01-02 03:04:05 Job was held.` (older logs: `01/02 03:04:05`)
_EVENT_RE = re.compile(rb"^(\d{3}) \((\d+)\.\d+\.\d+\) [^\n]*\n((?:[^\n]*\n)*?)\.\.\.\n", re.M)


def parse_job_log(data: bytes) -> dict[int, CondorJob]:
    jobs: dict[int, CondorJob] = {}
    for match in _EVENT_RE.finditer(data):
        code, cluster = int(match.group(1)), int(match.group(2))
        event = EVENTS.get(code)
        if event is None:
            continue
        job = jobs.setdefault(cluster, CondorJob(cluster, event))
        job.event = event
        if code in (9, 12):  # the first indented line is the reason
            text = match.group(3).decode(errors="replace")
            reason = text.splitlines()[0].strip() if text else ""
            if code == 9:
                job.reason = reason
            else:
                job.holds += 1
                codes = re.search(r"Code (\d+) Subcode (\d+)", text)
                job.hold_reason = reason + (f" (hold code {codes.group(1)})" if codes else "")
    return jobs


def job_ids(makeflow_log: bytes, nodes) -> dict[int, int]:
    """The batch job id of each of `nodes` (its last submission), from node lines
    `ts node state job_id ...`."""
    wanted = {str(n).encode() for n in nodes}
    ids: dict[int, int] = {}
    for node, job in re.findall(rb"(?m)^\d+ (\d+) [0-4] (\d+) ", makeflow_log):
        if node in wanted and job != b"0":
            ids[int(node)] = int(job)
    return ids


def held_jobs(jobs: dict[int, CondorJob]) -> list[CondorJob]:
    return [job for job in jobs.values() if job.event == "held"]


class JobLogState:
    """An event log read in pieces (`relval status --stack` follows it over SSH): whole
    events are parsed as they arrive, a partial one waits for its `...` line."""

    def __init__(self) -> None:
        self.jobs: dict[int, CondorJob] = {}
        self._partial = b""

    def feed(self, data: bytes) -> None:
        data = self._partial + data
        end = data.rfind(b"\n...\n")
        if end < 0 and not data.startswith(b"...\n"):
            self._partial = data
            return
        cut = end + len(b"\n...\n") if end >= 0 else 4
        for cluster, job in parse_job_log(data[:cut]).items():
            old = self.jobs.get(cluster)
            if old is not None:  # carry what earlier pieces said
                job.holds += old.holds
                job.hold_reason = job.hold_reason or old.hold_reason
                job.reason = job.reason or old.reason
            self.jobs[cluster] = job
        self._partial = data[cut:]

    def held(self) -> list[str]:
        """`cluster: reason` of every job on hold now."""
        return [f"job {job.cluster}: {job.hold_reason}" for job in held_jobs(self.jobs)]
