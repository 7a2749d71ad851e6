"""Status of a submitted campaign, read over SSH from the head's transaction logs.

    RemoteLogReader(ssh, path).read_new() -> bytes   only what was appended
    follow_remote(stack, campaign, head, remote_base, watch, interval_s)
        -> Iterator[list[NamedStatus]]               same shape as status.follow_workdir

Each poll costs one SSH command for the chains' states plus one per log, over a
shared master connection, and only the appended bytes cross the network; the
bytes go to the same parser as a local log (`status.LogState`).
"""

from __future__ import annotations

import json
import time
from pathlib import PurePosixPath
from typing import Callable, Iterator

from relval.errors import NoVerdictError, RelvalError
from relval.workflows.condor import JobLogState
from relval.workflows.remote import SshTransport, quote_path
from relval.workflows.status import CHAINS_FILE, LogState, NamedStatus, StallWatch
from relval.workflows.submit import (DEFAULT_REMOTE_BASE, HeadOptions, campaign_dir, head_target,
                                     probe)


class RemoteLogReader:
    """Reads a remote file incrementally: each call returns only what was appended.

    Only whole lines are returned; a partial last line stays on the host until its
    newline arrives, so a parser never sees half a record. A file that shrank (a new
    log in its place) is read again from the start and `restarted` is set.
    """

    def __init__(self, ssh: SshTransport, path: str, offset: int = 0):
        self.ssh = ssh
        self.path = path
        self.offset = offset
        self.exists = False
        self.restarted = False

    def read_new(self) -> bytes:
        path = quote_path(self.path)
        # The size comes first so that a truncated file is noticed in the same command.
        command = (f"test -f {path} || exit 3; wc -c < {path}; "
                   f"tail -c +{self.offset + 1} {path}")
        rc, out, err = self.ssh.run(command)
        if rc == 3:
            self.exists = False
            return b""
        if rc != 0:
            raise NoVerdictError(f"cannot read {self.path} on {self.ssh.target.where}: "
                              f"{err.decode(errors='replace').strip()}")
        self.exists = True
        size_line, _, data = out.partition(b"\n")
        if int(size_line.strip() or 0) < self.offset:  # replaced by a new log
            self.offset = 0
            data = self.read_new()
            self.restarted = True
            return data
        self.restarted = False
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end]


def list_chains(ssh: SshTransport, directory: str) -> dict[str, tuple[str, bool]]:
    """Chains of a campaign directory on the head: name -> (log path, makeflow alive)."""
    command = (f"cd {quote_path(directory)} 2>/dev/null || exit 3; "
               f"[ -f {CHAINS_FILE} ] && echo \"# $(cat {CHAINS_FILE})\"; "
               "for f in */*.makeflow; do [ -f \"$f\" ] && echo \"$f\"; done")
    rc, out, _ = ssh.run(command)
    if rc == 3:
        return {}
    states, _ = probe(ssh, directory)
    chains = {}
    lines = out.decode(errors="replace").splitlines()
    current = None  # the latest submission's chains; older releases' directories stay beside
    if lines and lines[0].startswith("# "):
        try:
            current = set(json.loads(lines.pop(0)[2:])["chains"])
        except (ValueError, KeyError, TypeError):
            current = None
    for line in lines:
        name, _, makeflow_file = line.partition("/")
        if name in chains or not makeflow_file or (current is not None and name not in current):
            continue
        state = states.get(name)
        chains[name] = (f"{directory}/{name}/{makeflow_file}.makeflowlog",
                        bool(state and state.running))
    return chains


def follow_remote(stack: str, campaign: str, head: HeadOptions = HeadOptions(),
                  remote_base: str = DEFAULT_REMOTE_BASE, watch: bool = False,
                  interval_s: float = 5.0, sleep: Callable[[float], None] = time.sleep,
                  transport: SshTransport | None = None, stall_timeout_s: float | None = None,
                  clock: Callable[[], float] = time.monotonic) -> Iterator[list[NamedStatus]]:
    """The statuses of a submitted campaign's chains, like `status.follow_workdir`.

    Without `watch`, yields once. With `watch`, yields after every poll (each reading
    only what was appended) until no makeflow of the campaign is running any more.
    """
    directory = campaign_dir(remote_base, campaign)
    own = transport is None
    ssh = transport or SshTransport(head_target(stack, head))
    try:
        ssh.connect()
        chains = list_chains(ssh, directory)
        if not chains:
            raise RelvalError(f"campaign {campaign} was not submitted to stack {stack}: no "
                              f"workflow in {directory} on {ssh.target.where}")
        readers = {name: (RemoteLogReader(ssh, log), LogState()) for name, (log, _) in chains.items()}
        # HTCondor's event log beside each transaction log: which jobs are on hold, and why.
        events = {name: (RemoteLogReader(ssh, log[:-len(".makeflowlog")] + ".condorlog"), JobLogState())
                  for name, (log, _) in chains.items()}
        alive = {name: running for name, (_, running) in chains.items()}
        stall = StallWatch(stall_timeout_s, clock)
        while True:
            statuses = []
            grew = False
            for name, (reader, state) in readers.items():
                chunk = reader.read_new()
                grew = grew or bool(chunk)
                if reader.restarted:
                    state = LogState()
                    readers[name] = (reader, state)
                state.feed(chunk)
                event_reader, jobs = events[name]
                if event_reader.restarted:
                    jobs = JobLogState()
                    events[name] = (event_reader, jobs)
                jobs.feed(event_reader.read_new())
                statuses.append(NamedStatus(name, PurePosixPath(reader.path),
                                            state.summary(time.time(), alive[name]), jobs.held()))
            yield statuses
            if not watch or not any(alive.values()):
                return
            stall.seen(grew, statuses, f"the campaign still runs on {ssh.target.where}; stop it "
                       f"with `relval cancel {campaign} --stack {stack}`, or follow it again")
            sleep(interval_s)
            alive = {name: running for name, (_, running) in list_chains(ssh, directory).items()}
    finally:
        if own:
            ssh.close()
