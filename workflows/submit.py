"""Submit a campaign to a stack's head node: generate, upload, start makeflow detached.

The flow of `submit`:
1. generate the work directory locally, laid out like `relval run`'s (`candidate/`,
   and `reference/` when the campaign has a reference release);
2. read the stack outputs and open SSH with the head's pinned host key;
3. refuse if a makeflow of this campaign is still running there (PID file + kill -0),
   or if a tool the batch system needs is missing there (no silent fallback);
4. upload into `<remote base>/<campaign>/` (rsync: unchanged files are not touched,
   nothing there is deleted, so the outputs of an earlier run stay and makeflow skips
   the nodes its log marks complete);
5. per chain, start makeflow under nohup/setsid so that it outlives the SSH session,
   and wait until its transaction log says `# STARTED` (or report why it did not).

Submitting again therefore resumes. The shell scripts that run on the head are
built by pure functions, so tests can read them without a host.

    submit(campaign_file, stack, batch="condor", head=HeadOptions(), remote_base="~/relval",
           generate=generate_workflow, progress=..., transport=None) -> SubmitResult
    HeadOptions(outputs_file, ssh_user, ssh_port, identity, ssh_config, connect_timeout)
    head_target(stack, HeadOptions) -> SshTarget      the stack's head, key pinned
    campaign_dir(remote_base, campaign) -> str        where a campaign lives on the head
    probe(ssh, directory, batch=None) -> ({chain: ChainState}, missing tools)
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from relval.errors import NoVerdictError, RelvalError
from relval.workflows.makeflow import MAKEFLOW_ENV
from relval.workflows.remote import HostKey, SshTarget, SshTransport, quote_path
from relval.workflows.stack_outputs import head_access, read_outputs
from relval.workflows.status import PID_FILE
from relval.workflows.supervise import SUPERVISOR_NAME, supervisor_script

DEFAULT_REMOTE_BASE = "~/relval"
BATCH_SYSTEMS = ("condor", "local")
OUT_FILE = "makeflow.out"  # as `relval run` names it
SUBMIT_RECORD = "relval-submit.json"
# Files that only ever exist on the head; an upload must never replace them.
REMOTE_ONLY = (PID_FILE, OUT_FILE, SUBMIT_RECORD, "*.makeflowlog", "*.batchlog")
# The archived reference's files, fetched for the verdict here: the jobs never read them.
LOCAL_ONLY = ("reference-fetched",)
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


# --- the workflow to upload ---------------------------------------------------

@dataclass(frozen=True)
class Workflow:
    """The generated work directory, laid out like `relval run`'s: one sub-directory
    per chain (`candidate`, and `reference` when the campaign names a reference
    release), each with its own Makeflow file."""

    campaign: str
    directory: Path
    chains: tuple[tuple[str, str], ...]  # (sub-directory, Makeflow file name)
    retries: int
    # per sub-directory: the job graph and its rule fingerprints, to resume on the head
    rules: dict = field(default_factory=dict)
    model: Any = None  # the validated Campaign, to check job sizes against the workers


GenerateFn = Callable[..., Workflow]


def generate_workflow(campaign_file: Path, out_dir: Path, release: str | None = None,
                      reference_release: str | None = None, archive: str | None = None) -> Workflow:
    """Generate every chain of the campaign into out_dir with the Makeflow generator; with
    an `archive` URL holding a compatible run of the reference release, there is no
    reference chain (the verdict takes it from the archive, `judge_workdir(archive=)`)."""
    from relval.workflows.run import prepare

    campaign, root, chains = prepare(campaign_file, out_dir, release, reference_release, archive=archive)
    return Workflow(campaign.name, root,
                    tuple((c.directory.name, c.workflow.makeflow_file) for c in chains),
                    campaign.retries,
                    {c.directory.name: (c.workflow.graph, list(c.workflow.fingerprints)) for c in chains},
                    campaign)


# --- remote scripts (pure) ------------------------------------------------------

def campaign_dir(remote_base: str, campaign: str) -> str:
    """The campaign's directory on the head: `~/relval/smoke` or under an absolute base."""
    return f"{remote_base.rstrip('/')}/{campaign}"


def makeflow_argv(makeflow_file: str, batch: str, stack: str, retries: int) -> list[str]:
    """The makeflow command line run on the head, in the chain's directory."""
    from relval.workflows.makeflow import makeflow_command

    from relval.workflows.condor import submit_lines

    # Pins every job to this stack's workers (they advertise RelvalStack), and adds the
    # wall time and the hold policy that makeflow itself lacks (`relval.workflows.condor`).
    lines = submit_lines(stack) if batch == "condor" else []
    return makeflow_command(makeflow_file, batch, retries, submit_lines=lines)


# A shell function shared by the scripts: is the chain's recorded makeflow alive?
# kill -0 alone would accept a zombie or a recycled PID, so /proc is checked too.
RUNNING_FN = r"""relval_running() {
  pid=$(cat "$1/makeflow.pid" 2>/dev/null) || return 1
  case "$pid" in ''|*[!0-9]*) return 1;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/stat" ]; then
    [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)" != Z ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q makeflow || return 1
  fi
  return 0
}
"""

# Exit codes of the launch script, read back by `submit`.
RC_MISSING_DIR, RC_NO_MAKEFLOW, RC_NO_CONDOR, RC_DIED = 3, 4, 5, 6


def probe_script(directory: str, batch: str | None = None) -> str:
    """First the tools missing for `batch`, as `missing TOOL`; then one line per chain
    directory: `CHAIN running PID|idle log|no-log` (none when there is no directory)."""
    tools = ["makeflow"] + (["condor_submit"] if batch == "condor" else []) if batch else []
    lines = [f"command -v {t} >/dev/null 2>&1 || echo 'missing {t}'" for t in tools]
    lines += [f"cd {quote_path(directory)} 2>/dev/null || exit 0", RUNNING_FN.rstrip(),
              "for d in */; do",
              '  d=${d%/}; [ -d "$d" ] || continue',
              '  if relval_running "$d"; then s="running $pid"; else s=idle; fi',
              '  if ls "$d"/*.makeflowlog >/dev/null 2>&1; then l=log; else l=no-log; fi',
              '  echo "$d $s $l"',
              "done"]
    return "\n".join(lines) + "\n"


def launch_script(chain_dir: str, argv: list[str], log_file: str, wait_s: float = 30.0) -> str:
    """Start makeflow detached in `chain_dir`; prints `started PID` or `running PID`.

    It waits until the log gains a `# STARTED` line, so a makeflow that dies at once
    (bad file, missing tool) is reported now rather than found later.
    """
    checks = ["command -v makeflow >/dev/null 2>&1 || { echo 'makeflow is not installed on "
              f"this host' >&2; exit {RC_NO_MAKEFLOW}; }}"]
    if "condor" in argv:
        checks.append("command -v condor_submit >/dev/null 2>&1 || { echo 'condor_submit is not "
                      f"on PATH here; --batch condor needs HTCondor on this host' >&2; "
                      f"exit {RC_NO_CONDOR}; }}")
    log_q = shlex.quote(log_file)
    env = " ".join(f"{k}={v}" for k, v in MAKEFLOW_ENV.items())
    started = f"tail -c +$((size + 1)) {log_q} 2>/dev/null | grep -q '^# STARTED'"
    return "\n".join([
        f"cd {quote_path(chain_dir)} || exit {RC_MISSING_DIR}",
        RUNNING_FN.rstrip(),
        'if relval_running .; then echo "running $pid"; exit 0; fi',
        *checks,
        f"size=$(wc -c < {log_q} 2>/dev/null || echo 0)",
        # The supervisor ends a makeflow that can make no more progress (see its module).
        f"cat > {SUPERVISOR_NAME} <<'RELVAL_EOF'\n{supervisor_script()}RELVAL_EOF",
        # nohup + setsid: no SIGHUP and no controlling terminal when the session ends;
        # all three standard streams are redirected so that ssh does not wait for them.
        f"{env} nohup setsid /bin/sh {SUPERVISOR_NAME} {log_q} {shlex.join(argv)} "
        f"> {OUT_FILE} 2>&1 < /dev/null &",
        f'pid=$!; echo "$pid" > {PID_FILE}; launched=$pid',
        f"i=0; while [ $i -lt {max(1, int(wait_s / 0.2))} ]; do",
        f'  if {started}; then echo "started $launched"; exit 0; fi',
        "  relval_running . || break",
        "  sleep 0.2; i=$((i + 1))",
        "done",
        f'if {started} || relval_running .; then echo "started $launched"; exit 0; fi',
        f"tail -n 5 {OUT_FILE} >&2",
        f"exit {RC_DIED}",
        "",
    ])


def capacity_script(batch: str, stack: str) -> str:
    """`CORES MEMORY_MB` of every place a job can run: each of this stack's workers'
    partitionable slots for condor (their whole size, whatever is busy), the head itself
    for --batch local."""
    if batch == "condor":
        constraint = shlex.quote(f'RelvalStack == "{stack}" && PartitionableSlot =?= true')
        return f"condor_status -constraint {constraint} -af TotalSlotCpus TotalSlotMemory 2>/dev/null; true\n"
    return "echo \"$(nproc) $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)\"\n"


def head_capacity(ssh: SshTransport, batch: str, stack: str):
    """The largest job the stack can run: its workers' slots as HTCondor sees them, else
    (no worker joined yet) the worker flavor the elastic scaler boots, from the stack
    config; None when neither tells."""
    from relval.workflows.fit import parse_capacity

    where = (f"the workers of stack {stack}" if batch == "condor"
             else f"the head of stack {stack} (--batch local)")
    found = parse_capacity(ssh.check(capacity_script(batch, stack)).decode(errors="replace"), where)
    return found if found is not None or batch != "condor" else configured_worker_size(stack)


def configured_worker_size(stack: str):
    """`relval:autoscaler.flavor` ({cores, ramMb}) of the stack file, when it is given
    there (left out, the scaler asks the cloud, and so cannot we here)."""
    from relval.workflows.fit import Capacity

    try:
        import yaml

        from relval import project

        raw = yaml.safe_load(project.stack_file(stack).read_text()) or {}
        flavor = raw["config"]["relval:autoscaler"]["flavor"]
        return Capacity(int(flavor["cores"]), int(flavor["ramMb"]),
                        f"the worker flavor of stack {stack} (relval:autoscaler.flavor)")
    except (OSError, KeyError, TypeError, ValueError, RelvalError, yaml.YAMLError):
        return None


@dataclass(frozen=True)
class ChainState:
    name: str
    running: bool
    pid: int | None
    has_log: bool


def parse_probe(text: str) -> tuple[dict[str, ChainState], list[str]]:
    """The probe script's output: chain states by name, and the missing tools."""
    chains: dict[str, ChainState] = {}
    missing: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "missing":
            missing.append(fields[1])
        elif len(fields) == 4 and fields[1] == "running":
            chains[fields[0]] = ChainState(fields[0], True, int(fields[2]), fields[3] == "log")
        elif len(fields) == 3 and fields[1] == "idle":
            chains[fields[0]] = ChainState(fields[0], False, None, fields[2] == "log")
    return chains, missing


def probe(ssh: SshTransport, directory: str, batch: str | None = None
          ) -> tuple[dict[str, ChainState], list[str]]:
    return parse_probe(ssh.check(probe_script(directory, batch)).decode(errors="replace"))


# --- cancelling on the head ------------------------------------------------------------

def cancel_script(directory: str, wait_s: int = 30) -> str:
    """Stop every running chain of a campaign directory: SIGTERM to the whole process
    group of its makeflow (the supervisor, makeflow and the job wrappers, which kill their
    payloads' groups; makeflow removes its HTCondor jobs and logs `# ABORTED`), SIGKILL
    after `wait_s`, then `condor_rm` of any job still queued from the chain's directory.
    Prints `CHAIN stopped PID` or `CHAIN idle` per chain."""
    return "\n".join([
        f"cd {quote_path(directory)} 2>/dev/null || exit 0", RUNNING_FN.rstrip(),
        "for d in */; do",
        '  d=${d%/}; [ -d "$d" ] || continue',
        '  if relval_running "$d"; then',
        '    kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid"',
        f'    i=0; while relval_running "$d" && [ $i -lt {wait_s * 5} ]; do sleep 0.2; i=$((i + 1)); done',
        '    relval_running "$d" && kill -KILL "-$pid" 2>/dev/null',
        '    echo "$d stopped $pid"',
        "  else",
        '    echo "$d idle"',
        "  fi",
        "  if command -v condor_rm >/dev/null 2>&1; then",
        "    condor_rm -constraint \"Iwd == \\\"$(cd \"$d\" && pwd)\\\"\" >/dev/null 2>&1",
        "  fi",
        "done",
        ""])


# --- resuming on the head ------------------------------------------------------------

def resume_remote(ssh: SshTransport, chain_dir: str, local_dir: Path, makeflow_file: str,
                  graph, fingerprints: list[str]) -> bool:
    """`relval.workflows.rerun` on the head: when the rules changed since the last run
    there, delete every output not provably unchanged and complete, and put a log in
    place that marks only the kept rules done. True when something changed."""
    from relval.workflows.rerun import STATE_FILE, candidates, read_state, resume_log

    log_name = f"{makeflow_file}.makeflowlog"
    old_log = ssh.read_file(f"{chain_dir}/{log_name}")
    if old_log is None:
        return False
    old_state = ssh.read_file(f"{chain_dir}/{STATE_FILE}")
    if (ssh.read_file(f"{chain_dir}/{makeflow_file}") == (local_dir / makeflow_file).read_bytes()
            and old_state == (local_dir / STATE_FILE).read_bytes()):
        return False
    maybe = candidates(graph, fingerprints, read_state(old_state), old_log)
    names = [n for i in maybe for n in (*graph.jobs[i].outputs, graph.jobs[i].log)]
    # Sizes and times of the candidates' files as the head sees them.
    where = quote_path(chain_dir)
    out = ssh.check(f"cd {where} && while IFS= read -r f; do [ -f \"$f\" ] && "
                    "stat -c '%s %Y %n' -- \"$f\"; done; true", input="\n".join(names).encode() + b"\n")
    present, newest = {}, 0
    for line in out.decode(errors="replace").splitlines():
        size, mtime, path = line.split(" ", 2)
        present[path] = int(size)
        newest = max(newest, int(mtime))
    kept: set[int] = set()
    for i in maybe:
        job = graph.jobs[i]
        if all(n in present for n in (*job.outputs, job.log)) and all(p in kept for p in graph.parents(i)):
            kept.add(i)
    stale = [n for i, job in enumerate(graph.jobs) if i not in kept for n in (*job.outputs, job.log)]
    log_bytes = resume_log(graph, kept, present, max(newest + 1, int(time.time())) * 1_000_000)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    ssh.check(f"cd {where} && xargs rm -f -- && rm -rf makeflow.failed.* && "
              f"mv {log_name} {log_name}.{stamp}.old", input="\n".join(stale).encode() + b"\n")
    ssh.check(f"cd {where} && cat > {log_name}", input=log_bytes)
    return True


# --- submission ------------------------------------------------------------------

@dataclass(frozen=True)
class HeadOptions:
    """How to reach the head; None means: take it from the stack outputs / defaults."""

    outputs_file: Path | None = None
    ssh_user: str | None = None
    ssh_port: int | None = None
    identity: Path | None = None
    ssh_config: Path | None = None
    connect_timeout: int = 15


def head_target(stack: str, options: HeadOptions = HeadOptions()) -> SshTarget:
    """The SSH target of a stack's head, with its host key pinned from the outputs."""
    source = str(options.outputs_file) if options.outputs_file else f"stack {stack}"
    return target_from_outputs(read_outputs(stack, options.outputs_file), stack, options, source)


def target_from_outputs(outputs: dict, stack: str, options: HeadOptions, source: str) -> SshTarget:
    """`head_target` for outputs already read (`source` names them in messages)."""
    access = head_access(outputs, stack, source)
    if options.identity is not None and not Path(options.identity).is_file():
        raise RelvalError(f"--identity {options.identity}: no such file")
    return SshTarget(
        host=access.address, host_key=HostKey.parse(access.host_public_key),
        user=options.ssh_user or access.ssh_user, port=options.ssh_port or access.ssh_port,
        identity=options.identity, ssh_config=options.ssh_config,
        connect_timeout=options.connect_timeout, origin=f"from stack {stack}")


@dataclass(frozen=True)
class SubmittedChain:
    name: str
    directory: str
    log_file: str
    pid: int
    resumed: bool  # an earlier run's transaction log was there


@dataclass(frozen=True)
class SubmitResult:
    campaign: str
    stack: str
    batch: str
    head: str
    remote_dir: str
    chains: tuple[SubmittedChain, ...]

    @property
    def resumed(self) -> bool:
        return any(c.resumed for c in self.chains)

    def to_json(self) -> dict:
        data = asdict(self)
        data["chains"] = [asdict(c) for c in self.chains]
        data["resumed"] = self.resumed
        return data


def check_batch(batch: str) -> None:
    if batch not in BATCH_SYSTEMS:
        raise RelvalError(f"--batch must be one of {', '.join(BATCH_SYSTEMS)}, got {batch!r}")


def submit(campaign_file: Path, stack: str, batch: str = "condor",
           head: HeadOptions = HeadOptions(), remote_base: str = DEFAULT_REMOTE_BASE,
           generate: GenerateFn = generate_workflow,
           progress: Callable[[str], None] = lambda message: None,
           transport: SshTransport | None = None, release: str | None = None,
           reference_release: str | None = None, archive: str | None = None) -> SubmitResult:
    """Submit (or resume) a campaign on the stack's head; see the module doc.
    `release` and `reference_release` override the campaign file's; `archive` lets an
    archived reference stand in for the reference chain."""
    check_batch(batch)
    if not STACK_NAME.match(stack):
        raise RelvalError(f"stack name {stack!r} is not valid (letters, digits, '_', '.', '-')")
    with tempfile.TemporaryDirectory(prefix="relval-submit-") as tmp:
        # Generate first: a campaign error must not need the network.
        progress("generating the workflow")
        workflow = generate(Path(campaign_file), Path(tmp) / "workdir", release, reference_release, archive)
        own = transport is None
        ssh = transport or SshTransport(head_target(stack, head))
        try:
            progress(f"connecting to {ssh.target.where}")
            ssh.connect()
            return _submit_over(ssh, workflow, campaign_dir(remote_base, workflow.campaign),
                                stack, batch, progress)
        finally:
            if own:
                ssh.close()


def _submit_over(ssh: SshTransport, workflow: Workflow, directory: str, stack: str,
                 batch: str, progress: Callable[[str], None]) -> SubmitResult:
    where = ssh.target.where
    states, missing = probe(ssh, directory, batch)
    running = [s for s in states.values() if s.running]
    if running:  # two makeflows on one log would corrupt it
        pids = ", ".join(f"{s.name}: pid {s.pid}" for s in running)
        raise RelvalError(
            f"campaign {workflow.campaign} is still running on {where} in {directory} "
            f"(makeflow {pids}); follow it with `relval status --stack {stack} --campaign "
            f"{workflow.campaign}`, or stop it before submitting again")
    if missing:  # checked before uploading anything; never a silent switch to local
        hint = (" (--batch condor needs HTCondor on the head; --batch local runs the jobs on "
                "the head itself)" if "condor_submit" in missing else "")
        raise NoVerdictError(f"{where}: {', '.join(missing)} not found on PATH there{hint}")
    if workflow.model is not None:  # a job bigger than every worker would stay idle for ever
        from relval.workflows.fit import misfits

        capacity = head_capacity(ssh, batch, stack)
        if capacity is None:
            progress("job sizes not checked: no worker of this stack has joined the pool yet")
        elif too_big := misfits(workflow.model, capacity):
            raise NoVerdictError(too_big)
        # The release must exist where the jobs run (CVMFS on the head and its workers).
        from relval.workflows.envcheck import check_setup_on
        from relval.workflows.run import chain_campaigns

        progress("checking the environment setup on the head")
        check_setup_on(ssh, workflow.model, [c.release for _, c in chain_campaigns(workflow.model)], where)
    for name, makeflow_file in workflow.chains:
        if name in workflow.rules:
            graph, fingerprints = workflow.rules[name]
            if resume_remote(ssh, f"{directory}/{name}", workflow.directory / name, makeflow_file,
                             graph, fingerprints):
                progress(f"the {name} chain changed: stale outputs removed, unchanged rules kept")
    progress(f"uploading to {directory}")
    ssh.upload(workflow.directory, directory, exclude=REMOTE_ONLY + LOCAL_ONLY)
    record = {"campaign": workflow.campaign, "stack": stack, "batch": batch,
              "submitted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    ssh.check(f"cat > {quote_path(directory)}/{SUBMIT_RECORD} <<'RELVAL_EOF'\n"
              f"{json.dumps(record)}\nRELVAL_EOF")
    chains = []
    for name, makeflow_file in workflow.chains:
        progress(f"starting makeflow for the {name} chain")
        chain_dir = f"{directory}/{name}"
        argv = makeflow_argv(makeflow_file, batch, stack, workflow.retries)
        log_name = f"{makeflow_file}.makeflowlog"
        rc, out, err = ssh.run(launch_script(chain_dir, argv, log_name))
        message = err.decode(errors="replace").strip()
        if rc in (RC_NO_MAKEFLOW, RC_NO_CONDOR):
            raise NoVerdictError(f"{where}: {message}")
        if rc == RC_DIED:
            raise NoVerdictError(f"makeflow exited at once on {where} in {chain_dir}: "
                              + (" | ".join(message.splitlines()) or "no output"))
        if rc != 0 or len(out.split()) < 2:
            raise NoVerdictError(f"starting makeflow on {where} in {chain_dir} failed (exit {rc}): "
                              f"{message or out.decode(errors='replace').strip()}")
        word, pid = out.decode().split()[:2]
        if word == "running":  # another submit won the race since the probe
            raise RelvalError(f"campaign {workflow.campaign} was started on {where} by someone "
                              f"else meanwhile (makeflow pid {pid}); not starting another")
        previous = states.get(name)
        chains.append(SubmittedChain(name, chain_dir, f"{chain_dir}/{log_name}", int(pid),
                                     resumed=bool(previous and previous.has_log)))
    return SubmitResult(workflow.campaign, stack, batch, where, directory, tuple(chains))


def cancel(campaign: str, stack: str, head: HeadOptions = HeadOptions(),
           remote_base: str = DEFAULT_REMOTE_BASE, transport: SshTransport | None = None
           ) -> dict[str, int | None]:
    """Stop a submitted campaign on the stack's head: {chain: pid stopped, or None when it
    was not running}. Raises RelvalError when the campaign was never submitted there."""
    directory = campaign_dir(remote_base, campaign)
    own = transport is None
    ssh = transport or SshTransport(head_target(stack, head))
    try:
        ssh.connect()
        states, _ = probe(ssh, directory)
        if not states:
            raise RelvalError(f"campaign {campaign} was not submitted to stack {stack}: no "
                              f"workflow in {directory} on {ssh.target.where}")
        stopped: dict[str, int | None] = {}
        for line in ssh.check(cancel_script(directory)).decode(errors="replace").splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] == "stopped":
                stopped[fields[0]] = int(fields[2])
            elif len(fields) == 2 and fields[1] == "idle":
                stopped[fields[0]] = None
        return stopped
    finally:
        if own:
            ssh.close()
