"""Workflow status from Makeflow's transaction log (`<file>.makeflowlog`).

Public API (part B reads logs over SSH, so the parser works on bytes):

    LogState()                      accumulated knowledge of one log
      .feed(data: bytes)            parse more bytes; a trailing partial line is kept
      .summary(now: float | None = None) -> WorkflowStatus
    LogFollower(path)               incremental reader of a local log file
      .poll() -> WorkflowStatus     reads only what was appended since the last poll
    read_status(path, now=None) -> WorkflowStatus      one-shot
    parse_status(data: bytes, now=None) -> WorkflowStatus

Log format (see DESIGN.md): node lines `ts_us node state job_id waiting running complete
failed aborted total` with state 0 waiting, 1 running, 2 complete, 3 failed, 4 aborted;
`# STARTED|COMPLETED|FAILED|ABORTED ts_us` run markers; with `--log-verbose`,
`# CATEGORY node stage` and `# TARGETS node files...` lines name each node's stage and
outputs (relval's categories are the stage names).

A node's outcome is its LAST state, never makeflow's exit code: makeflow exits 0 and
writes `# COMPLETED` even when a rule failed for good. A node that was retried shows
3 -> 0 -> 1 -> ..., so only a final 3 (or 4) counts as failed.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

WAITING, RUNNING, COMPLETE, FAILED, ABORTED = 0, 1, 2, 3, 4


@dataclass
class StageCounts:
    waiting: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.waiting + self.running + self.done + self.failed

    def to_json(self) -> dict:
        return {"total": self.total, "waiting": self.waiting, "running": self.running,
                "done": self.done, "failed": self.failed}


class NodeTable:
    """Per-node facts as raw bytes from the log; int-keyed views are built on demand,
    so a status poll of a 100,000-node workflow does not pay for them."""

    def __init__(self, last: dict, stage: dict, targets: dict, running: dict) -> None:
        self._last, self._stage, self._targets, self._running = last, stage, targets, running

    @cached_property
    def states(self) -> dict[int, int]:
        return {int(n): s[0] - 48 for n, s in self._last.items()}

    @cached_property
    def stages(self) -> dict[int, str]:
        return {int(n): s.decode(errors="replace").strip() for n, s in self._stage.items()}

    @cached_property
    def targets(self) -> dict[int, tuple[str, ...]]:
        return {int(n): tuple(t.decode(errors="replace").split("\t")) for n, t in self._targets.items()}

    @cached_property
    def attempts(self) -> dict[int, int]:
        return {int(n): c for n, c in self._running.items()}


@dataclass
class WorkflowStatus:
    stages: dict[str, StageCounts]
    state: str                    # not started | running | finished | failed | aborted | stopped
    elapsed_s: float | None
    eta_s: float | None
    nodes: NodeTable = field(default_factory=lambda: NodeTable({}, {}, {}, {}))
    starts: int = 0               # how many times makeflow (re)started on this log

    @property
    def node_states(self) -> dict[int, int]:
        """node id -> last state (0 waiting .. 4 aborted); nodes never run are absent."""
        return self.nodes.states

    @property
    def node_stage(self) -> dict[int, str]:
        return self.nodes.stages

    @property
    def node_targets(self) -> dict[int, tuple[str, ...]]:
        return self.nodes.targets

    @property
    def attempts(self) -> dict[int, int]:
        """node id -> how many times it started running."""
        return self.nodes.attempts

    @property
    def total(self) -> int:
        return sum(c.total for c in self.stages.values())

    @property
    def done(self) -> int:
        return sum(c.done for c in self.stages.values())

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.stages.values())

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def finished(self) -> bool:
        """Makeflow has stopped and nothing is left to run (successfully or not)."""
        return self.state in ("finished", "failed")

    @property
    def succeeded(self) -> bool:
        return self.total > 0 and self.done == self.total

    def failed_nodes(self) -> list[int]:
        return sorted(n for n, s in self.node_states.items() if s in (FAILED, ABORTED))

    def to_json(self) -> dict:
        return {"state": self.state, "total": self.total, "done": self.done,
                "failed": self.failed, "progress": round(self.progress, 4),
                "elapsed_s": None if self.elapsed_s is None else round(self.elapsed_s, 1),
                "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
                "succeeded": self.succeeded,
                "stages": {name: c.to_json() for name, c in self.stages.items()}}


# Whole-buffer regular expressions: a million-line log is parsed by the re engine in C
# instead of line by line in Python. Each pattern starts with a literal newline, which
# the engine finds fast (the buffer gets a leading newline); `^` with re.M tries every
# byte and is several times slower. Node ids stay bytes until a summary needs ints.
_NODE_RE = re.compile(rb"\n\d+ (\d+) ([0-4]) ")
_RUNNING_RE = re.compile(rb"\n\d+ (\d+) 1 ")
_COMPLETE_RE = re.compile(rb"\n\d+ \d+ 2 ")
_NODE_TS_RE = re.compile(rb"\n(\d+) \d+ [0-4] ")
_LAST_TS_RE = re.compile(rb"(\d+) \d+ [0-4] ")
_CATEGORY_RE = re.compile(rb"\n# CATEGORY\t(\d+)\t([^\n]*)")
_TARGETS_RE = re.compile(rb"\n# TARGETS\t(\d+)\t([^\n]*)")
_MARKER_RE = re.compile(rb"\n# (STARTED|COMPLETED|FAILED|ABORTED) (\d+)")


def _last_node_ts(data: bytes, start: int, end: int) -> int | None:
    """The timestamp of the last node line in data[start:end], scanning back by lines."""
    line_end = end
    for _ in range(200):  # node lines are dense; a long run of comments is the header
        if line_end <= start:
            return None
        line_start = max(start, data.rfind(b"\n", start, line_end - 1) + 1)
        match = _LAST_TS_RE.match(data, line_start, line_end)
        if match:
            return int(match.group(1))
        line_end = line_start
    found = _NODE_TS_RE.findall(data, start, line_end)
    return int(found[-1]) if found else None


class LogState:
    """Everything learnt from a log so far; `feed` accepts arbitrary byte chunks."""

    def __init__(self) -> None:
        self._partial = b""
        self._last: dict[bytes, bytes] = {}       # node -> last state digit
        self._running: Counter = Counter()         # node -> times it started running
        self._stage: dict[bytes, bytes] = {}
        self._stage_first: dict[bytes, int] = {}   # stage -> its lowest node id (for ordering)
        self._tally: Counter = Counter()            # (stage, state) -> number of nodes
        self._targets: dict[bytes, bytes] = {}
        self.started_us: int | None = None    # the latest (re)start
        self.ended_us: int | None = None
        self.end_marker: str | None = None
        self.last_us: int | None = None
        self.done_since_start = 0
        self.starts = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        data = b"".join((b"\n", self._partial, data))  # one copy; patterns need the newline
        cut = data.rfind(b"\n") + 1
        self._partial = data[max(cut, 1):]
        if cut <= 1:
            return
        # Run markers split the chunk: completions count towards the ETA only after the
        # latest (re)start, and a marker's time is the newest time when nothing follows it.
        position = 0
        for marker in _MARKER_RE.finditer(data, 0, cut):
            self._segment(data, position, marker.start())
            self._marker(marker.group(1).decode(), int(marker.group(2)))
            position = marker.end()
        self._segment(data, position, cut)

    def _segment(self, data: bytes, start: int, end: int) -> None:
        if start >= end:
            return
        last, stage_of, tally = self._last, self._stage, self._tally
        categories = _CATEGORY_RE.findall(data, start, end)
        if categories:
            first = self._stage_first
            for node, stage in categories:
                old = stage_of.get(node, b"?")
                if old != stage:
                    state = last.get(node, b"0")
                    if old != b"?" or node in last:
                        tally[(old, state)] -= 1
                    tally[(stage, state)] += 1
                    stage_of[node] = stage
                first[stage] = min(first.get(stage, 1 << 62), int(node))
        # Keep the (stage, state) tally up to date from the nodes this segment touched,
        # so a summary costs the number of stages, not the number of nodes.
        for node, state in dict(_NODE_RE.findall(data, start, end)).items():
            old = last.get(node)
            if old == state:
                continue
            stage = stage_of.get(node, b"?")
            if old is not None or stage != b"?":
                tally[(stage, old or b"0")] -= 1
            tally[(stage, state)] += 1
            last[node] = state
        self._running.update(_RUNNING_RE.findall(data, start, end))
        self.done_since_start += len(_COMPLETE_RE.findall(data, start, end))
        self._targets.update(_TARGETS_RE.findall(data, start, end))
        last_us = _last_node_ts(data, start, end)
        if last_us is not None:
            self.last_us = last_us

    def _marker(self, kind: str, ts_us: int) -> None:
        self.last_us = ts_us
        if kind == "STARTED":
            self.started_us = ts_us
            self.ended_us = None
            self.end_marker = None
            self.done_since_start = 0
            self.starts += 1
        else:
            self.ended_us = ts_us
            self.end_marker = kind

    @property
    def last_state(self) -> dict[int, int]:
        return NodeTable(self._last, {}, {}, {}).states

    def summary(self, now: float | None = None, running: bool | None = None) -> WorkflowStatus:
        """Counts per stage. `now` (seconds since the epoch) drives elapsed time and ETA
        while makeflow runs; `running=False` says the process is known to be gone."""
        stages: dict[str, StageCounts] = {}
        names: dict[bytes, str] = {}
        # b"?": nodes without a CATEGORY line (a log written without --log-verbose)
        tallies = sorted(self._tally.items(), key=lambda kv: self._stage_order(kv[0][0]))
        for (stage, state), count in tallies:
            if count <= 0:
                continue
            name = names.setdefault(stage, stage.decode(errors="replace").strip())
            counts = stages.setdefault(name, StageCounts())
            code = state[0] - 48
            if code == COMPLETE:
                counts.done += count
            elif code == RUNNING:
                counts.running += count
            elif code in (FAILED, ABORTED):
                counts.failed += count
            else:
                counts.waiting += count
        state = self._run_state(stages, running)
        elapsed = eta = None
        if self.started_us is not None:
            end_us = self.ended_us
            if end_us is None:
                end_us = int(now * 1e6) if now is not None else (self.last_us or self.started_us)
            elapsed = max(0.0, (end_us - self.started_us) / 1e6)
            remaining = sum(c.waiting + c.running for c in stages.values())
            if state == "running" and self.done_since_start and elapsed > 0:
                eta = remaining * elapsed / self.done_since_start
            elif state != "running":
                eta = 0.0 if remaining == 0 else None
        # The node table shares the live dicts (no copies per poll): its views show the
        # log as read so far, which can be newer than the counts of an older summary.
        nodes = NodeTable(self._last, self._stage, self._targets, self._running)
        return WorkflowStatus(stages, state, elapsed, eta, nodes, self.starts)

    def _stage_order(self, stage: bytes) -> int:
        # Stages in the order of their first node, which is the workflow's stage order.
        return self._stage_first.get(stage, 1 << 62)

    def _run_state(self, stages: dict[str, StageCounts], running: bool | None) -> str:
        if self.started_us is None:
            return "not started"
        failed = any(c.failed for c in stages.values())
        if self.end_marker == "COMPLETED":
            return "failed" if failed else "finished"
        if self.end_marker in ("FAILED", "ABORTED"):
            # Makeflow stopped early: jobs may be left over; a rerun resumes.
            pending = any(c.waiting or c.running for c in stages.values())
            return ("aborted" if self.end_marker == "ABORTED" else "failed") if pending or failed \
                else "finished"
        return "stopped" if running is False else "running"


class LogFollower:
    """Follow a local log: each poll reads only the bytes appended since the last one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.state = LogState()

    def read_new(self) -> int:
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self.offset:  # the log was replaced: start over
                    self.offset, self.state = 0, LogState()
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        self.offset += len(data)
        self.state.feed(data)
        return len(data)

    def poll(self, now: float | None = None, running: bool | None = None) -> WorkflowStatus:
        self.read_new()
        return self.state.summary(time.time() if now is None else now, running)


def parse_status(data: bytes, now: float | None = None, running: bool | None = None) -> WorkflowStatus:
    state = LogState()
    state.feed(data if data.endswith(b"\n") else data + b"\n")
    return state.summary(now, running)


def read_status(path: str | Path, now: float | None = None) -> WorkflowStatus:
    follower = LogFollower(path)
    return follower.poll(now)


# -- work directories -----------------------------------------------------------------

PID_FILE = "makeflow.pid"   # written by `relval run --local` while makeflow runs
CHAINS_FILE = "relval-chains.json"  # the chain directories of a work directory's latest run


def current_chains(root: Path) -> list[str] | None:
    """The chains of the latest run in a work directory (directories of earlier releases
    stay beside them); None when the work directory does not say."""
    import json

    try:
        return [str(n) for n in json.loads((root / CHAINS_FILE).read_text())["chains"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class NamedStatus:
    name: str                   # the chain's directory name, or "." for a workflow directory
    log: Path
    status: WorkflowStatus
    held: list[str] = field(default_factory=list)   # HTCondor jobs on hold, with the reason

    def to_json(self) -> dict:
        return {"name": self.name, "log": str(self.log), **self.status.to_json(), "held": self.held}


def find_logs(workdir: str | Path) -> list[tuple[str, Path]]:
    """Transaction logs under a workflow directory, or under a `relval run` work directory
    (one sub-directory per chain). A workflow not started yet has its log-to-be."""
    root = Path(workdir)
    if not root.is_dir():
        from relval.errors import RelvalError

        raise RelvalError(f"{root}: not a directory")

    def logs_in(directory: Path) -> list[Path]:
        logs = sorted(directory.glob("*.makeflowlog"))
        return logs or [Path(str(m) + ".makeflowlog") for m in sorted(directory.glob("*.makeflow"))]

    found = [(".", log) for log in logs_in(root)]
    if not found:
        current = current_chains(root)
        found = [(sub.name, log) for sub in sorted(p for p in root.iterdir() if p.is_dir())
                 if current is None or sub.name in current for log in logs_in(sub)]
    if not found:
        from relval.errors import RelvalError

        raise RelvalError(f"{root}: no Makeflow workflow here (no *.makeflow or *.makeflowlog)")
    return found


LOCK_FILE = ".relval.lock"  # held by `relval run` and its makeflows (see run.workdir_lock)


def lock_held(path: Path) -> bool | None:
    """Whether some process holds the flock on `path`; None when there is no such file."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the lock if we got it
    return False


def log_in_use(log: Path) -> bool:
    """Whether a process has `log` open (makeflow keeps its transaction log open)."""
    try:
        target = str(log.resolve())
    except OSError:
        return False
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == target:
                    return True
        except OSError:
            continue
    return False


def makeflow_alive(directory: Path) -> bool | None:
    """Is a makeflow running in `directory`? From the pid file `relval run` keeps; else
    from the lock of its work directory; else whether any process has the directory's
    transaction log open (a makeflow started by hand). None only when nothing tells."""
    try:
        pid = int((directory / PID_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        for lock in (directory / LOCK_FILE, directory.parent / LOCK_FILE):
            held = lock_held(lock)
            if held is not None:
                return held
        logs = list(directory.glob("*.makeflowlog"))
        if not logs or not Path("/proc/self/fd").is_dir():
            return None
        return any(log_in_use(log) for log in logs)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:  # a stale pid file may name a recycled pid: check it is a makeflow
        program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        return os.path.basename(program).startswith(b"makeflow")
    except OSError:
        return True


def status_exit_code(statuses: list[NamedStatus]) -> int:
    """`relval status`'s exit code: 1 when a job failed for good, 3 when a makeflow
    stopped with work left (dead, aborted: no verdict until it is resumed), else 0
    (running, finished, or not started yet)."""
    states = [s.status for s in statuses]
    # A job stopped by an abort (last state 4) is not a failure: it did not get to run.
    if any(s.failed and FAILED in s.node_states.values() for s in states):
        return 1
    if any(s.state in ("stopped", "aborted", "failed") for s in states):
        return 3
    return 0


def workdir_status(workdir: str | Path, now: float | None = None) -> list[NamedStatus]:
    return [NamedStatus(name, log, LogFollower(log).poll(now, makeflow_alive(log.parent)))
            for name, log in find_logs(workdir)]


class StallWatch:
    """Ends a follow that sees no progress: `seen(grew)` after every poll, with whether any
    log grew; raises NoVerdictError (exit 3) once none grew for `timeout_s` (None: never).
    A running job writes nothing to the transaction log, so the timeout must exceed the
    longest job; a held or idle job looks the same from the log."""

    def __init__(self, timeout_s: float | None, clock=time.monotonic) -> None:
        self.timeout_s, self.clock = timeout_s, clock
        self.last = clock()

    def seen(self, grew: bool, statuses: list[NamedStatus], what: str) -> None:
        now = self.clock()
        if grew or self.timeout_s is None:
            self.last = now
            return
        if now - self.last >= self.timeout_s:
            from relval.errors import NoVerdictError

            left = ", ".join(f"{s.name}: {s.status.done}/{s.status.total} done, "
                             f"{sum(c.running for c in s.status.stages.values())} running, "
                             f"{sum(c.waiting for c in s.status.stages.values())} waiting"
                             for s in statuses)
            held = [h for s in statuses for h in s.held]
            on_hold = (f"; on hold in HTCondor: {'; '.join(held[:3])}"
                       + (f" and {len(held) - 3} more" if len(held) > 3 else "") if held else "")
            raise NoVerdictError(f"no progress for {now - self.last:.0f} s (--stall-timeout "
                                 f"{self.timeout_s:g}): no job started or ended ({left}){on_hold}; {what}")


def follow_workdir(workdir: str | Path, interval_s: float = 1.0, stall_timeout_s: float | None = None):
    """Yield the statuses after every poll, reading only appended bytes, until no
    makeflow is running any more (a watch of a finished workflow yields once). A log
    that does not grow for `stall_timeout_s` raises NoVerdictError."""
    followers = [(name, LogFollower(log)) for name, log in find_logs(workdir)]
    stall = StallWatch(stall_timeout_s)
    while True:
        alive = [makeflow_alive(f.path.parent) for _, f in followers]
        before = [f.offset for _, f in followers]
        current = [NamedStatus(name, f.path, f.poll(running=a)) for (name, f), a in zip(followers, alive)]
        yield current
        if not any(s.status.state == "running" or a for s, a in zip(current, alive)):
            return
        stall.seen([f.offset for _, f in followers] != before, current,
                   f"makeflow still runs in {workdir}")
        time.sleep(interval_s)

