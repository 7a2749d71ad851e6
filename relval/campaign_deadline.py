"""When `relval campaign` stops itself: a deadline derived from the campaign, and kept
inside the CI job's own timeout.

    estimate(campaign, slots) -> Estimate             pure: an upper bound of the campaign's wall time
    choose_deadline(timeout, estimated, ceiling_s) -> Deadline    pure: which bound applies, and why
    deadline_for(campaign, workers_max, batch, timeout, ceiling_s) -> Deadline   `relval campaign`'s options

GitLab's `timeout:` is static YAML and kills a job without cleanup (no verdict.json, a log
cut mid-line). relval therefore stops first, with exit 3 and the reason, at the earliest
of: `--timeout` (seconds, or `auto`: the estimate) and the job's own timeout (`--ceiling`,
GitLab's CI_JOB_TIMEOUT) less a margin for fetching what ran and writing the result.

The estimate is an upper bound, not a forecast: every job of a stage may use its whole
`wall_time_s` (the job wrapper stops it there) and every allowed retry, the stages may run
one after another, and the pool runs at least one job per worker at a time (a job wider
than a worker could never start): rounds = ceil(jobs / slots), stage time = rounds x
wall_time_s x (retries + 1). The reference chain counts when it may run. A stage without
`wall_time_s` has no bound: then no estimate, and only the ceiling applies (said so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from relval.errors import RelvalError

# Head ready (relval waits up to 900 s), worker boots by the scaler, fetch and verdict.
OVERHEAD_S = 1800
# Kept before the CI job's timeout: fetching the work directory and writing the verdict.
CEILING_MARGIN_S = 600


@dataclass(frozen=True)
class Estimate:
    seconds: float | None                      # None: some stage has no wall_time_s
    lines: list[str] = field(default_factory=list)   # how it was reached, stage by stage


@dataclass(frozen=True)
class Deadline:
    seconds: float | None                      # from the start of `relval campaign`; None: none
    reason: str

    def to_json(self) -> dict:
        return {"seconds": self.seconds, "reason": self.reason}


def chains_that_may_run(campaign) -> int:
    """The candidate, and the reference chain unless its outputs are given or nothing is compared."""
    reference = bool(campaign.compare_files and campaign.reference_release and not campaign.reference_outputs)
    return 2 if reference else 1


def estimate(campaign, slots: int) -> Estimate:
    from relval.workflows.graph import expand

    jobs = expand(campaign).jobs
    chains, attempts = chains_that_may_run(campaign), campaign.retries + 1
    lines, total = [], float(OVERHEAD_S)
    for stage in campaign.stages:
        walls = [j.wall_time_s for j in jobs if j.stage == stage.name]
        if not walls:
            continue
        if not all(walls):
            return Estimate(None, [f"stage {stage.name} has no resources.wall_time_s: its jobs have no bound"])
        rounds = math.ceil(len(walls) * chains / max(slots, 1))
        seconds = rounds * max(walls) * attempts
        total += seconds
        lines.append(f"{stage.name}: {len(walls)} job(s) x {chains} chain(s) on {slots} slot(s) = "
                     f"{rounds} round(s) x {max(walls)} s x {attempts} attempt(s) = {seconds} s")
    lines.append(f"overhead (head ready, worker boots, fetch): {OVERHEAD_S} s")
    return Estimate(total, lines)


def parse_timeout(value: str | None) -> str | float | None:
    """`auto`, a number of seconds, or nothing (exit 2 otherwise)."""
    if value is None or value == "auto":
        return value
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or math.isinf(seconds):
        raise RelvalError(f"--timeout: 'auto' or a number of seconds above 0 (got {value!r})")
    return seconds


def choose_deadline(timeout: str | float | None, estimated: Estimate | None,
                    ceiling_s: float | None) -> Deadline:
    """The earliest bound that applies, with the reason printed in the job log."""
    bounds: list[tuple[float, str]] = []
    notes: list[str] = []
    if timeout == "auto":
        if estimated is not None and estimated.seconds is not None:
            bounds.append((estimated.seconds, f"the campaign's estimated upper bound of {_hours(estimated.seconds)}"))
        else:
            notes.append("--timeout auto: no estimate ("
                         + ("; ".join(estimated.lines) if estimated else "none") + ")")
    elif timeout is not None:
        bounds.append((float(timeout), f"--timeout {_hours(float(timeout))}"))
    if ceiling_s is not None:
        if ceiling_s <= CEILING_MARGIN_S:
            raise RelvalError(f"--ceiling: {ceiling_s:.0f} s leaves no time for a campaign "
                              f"(relval keeps {CEILING_MARGIN_S} s before it to fetch the results)")
        bounds.append((ceiling_s - CEILING_MARGIN_S, f"{CEILING_MARGIN_S} s before the job's timeout of "
                       f"{_hours(ceiling_s)}"))
    if not bounds:
        return Deadline(None, "; ".join(notes + ["no deadline: relval follows the campaign until it ends"]))
    seconds, why = min(bounds)
    if timeout == "auto" and len(bounds) == 2 and bounds[0][0] > seconds:
        notes.append(f"the campaign's upper bound of {_hours(bounds[0][0])} exceeds the job's timeout: "
                     "a slow run ends with no verdict; raise the job's timeout or shrink the campaign")
    return Deadline(seconds, "; ".join(notes + [f"relval stops after {_hours(seconds)}: {why}"]))


def _hours(seconds: float) -> str:
    return f"{seconds:.0f} s ({seconds / 3600:.1f} h)"


def deadline_for(campaign, workers_max: int, batch: str, timeout: str | None,
                 ceiling_s: float | None) -> Deadline:
    """`--timeout auto|SECONDS` and `--ceiling` as one deadline. Jobs run on the workers
    (at least one per worker at a time), or one at a time on the head alone."""
    wanted = parse_timeout(timeout)
    slots = workers_max if batch == "condor" else 1
    return choose_deadline(wanted, estimate(campaign, slots) if wanted == "auto" else None, ceiling_s)
