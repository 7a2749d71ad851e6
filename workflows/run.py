"""`relval run --local`: generate, run with `makeflow -T local`, judge, report.

    run_local(campaign_file, workdir=None, on_status=None, ...) -> RunOutcome
    prepare(campaign_file, workdir=None) -> (Campaign, Path, list[Chain])
        validate and generate every chain (`candidate`, and `reference` when
        `reference.release` is set) without running anything; `relval submit` uses it.
    run_chains(chains, retries, on_status=None) -> {role: WorkflowStatus}

Layout of the work directory (default `./relval-<campaign>`):

    WORKDIR/candidate-<release>/   the chain of `release` (workflow, outputs, job logs, makeflow log)
    WORKDIR/reference-<release>/   the same chain for `reference.release`, when compared with
    WORKDIR/relval-chains.json     the chain directories of the latest run
    WORKDIR/qa/          the QA comparison's own outputs, when the QA library is present
    WORKDIR/report.md, WORKDIR/report.json

Both chains run at the same time, each under its own makeflow. Running again with the
same work directory resumes: the generated files are only rewritten when they change,
and makeflow skips the nodes its transaction log marks complete. Success is read from
the log (the last state of each node), never from makeflow's exit code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from relval.errors import NoVerdictError, RelvalError
from relval.workflows.campaign import Campaign, load_campaign
from relval.workflows.envcheck import check_setup_here
from relval.workflows.fit import Capacity, local_capacity, misfits
from relval.workflows.graph import expand
from relval.workflows.makeflow import (MAKEFLOW_ENV, GeneratedWorkflow, find_makeflow, generate, makeflow_command,
                                      makeflow_file_name)
from relval.workflows.status import (CHAINS_FILE, COMPLETE, FAILED, LOCK_FILE, PID_FILE, LogFollower, WorkflowStatus,
                                     makeflow_alive)
from relval.workflows.verdict import ChainResult, FailedJob, Verdict, decide

OUT_FILE = "makeflow.out"
LOG_TAIL_LINES = 20

# on_status(role, release, status) after every poll of a chain's log.
StatusCallback = Callable[[str, str, WorkflowStatus], None]


@dataclass
class Chain:
    role: str                  # candidate | reference
    workflow: GeneratedWorkflow

    @property
    def release(self) -> str:
        return self.workflow.campaign.release

    @property
    def directory(self) -> Path:
        return self.workflow.directory


@dataclass
class RunOutcome:
    campaign: Campaign
    chains: list[ChainResult]
    verdict: Verdict
    report: Path
    workdir: Path
    qa: Any = None
    notes: list[str] = field(default_factory=list)
    workflows: list[Chain] = field(default_factory=list)     # the chains as generated (the archive reads them)
    reference_source: dict | None = None   # where an archived reference came from (workflows.archive)
    resources: list = field(default_factory=list)   # resources.StageGrade per stage and metric

    def to_json(self) -> dict:
        failed_jobs = [j.to_json() for c in self.chains for j in c.failed_jobs]
        left_out = [j.to_json() for c in self.chains for j in c.left_out]
        return {
            "campaign": self.campaign.name,
            "release": self.campaign.release,
            "reference": self.campaign.reference_release or self.campaign.reference_outputs,
            "verdict": self.verdict.verdict,
            "jobs": {"total": sum(c.total for c in self.chains),
                     "done": sum(c.done for c in self.chains),
                     "failed": sum(c.failed for c in self.chains)},
            "failed_jobs": failed_jobs,
            "left_out": left_out,
            "report": str(self.report),
            "reasons": list(self.verdict.reasons),
            "exit_code": self.verdict.exit_code,
            "qa_used": self.verdict.qa_used,
            "chains": [{"role": c.role, "release": c.release, "directory": c.directory,
                        "state": c.state, "total": c.total, "done": c.done, "failed": c.failed}
                       for c in self.chains],
            "qa": qa_brief(self.qa),
            "notes": self.notes + [n for c in self.chains for n in c.notes] + list(self.verdict.notes),
            "reference_source": self.reference_source,
            "resources": [g.to_json() for g in self.resources],
        }


def qa_brief(summary: Any) -> dict | None:
    """The QA verdict, counts, report files and the objects that are not GOOD."""
    if summary is None:
        return None
    doc = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    flagged = [{"name": o.get("name"), "grade": o.get("grade"), "reason": o.get("reason")}
               for o in doc.get("objects", []) if o.get("grade") not in ("GOOD", None)]
    return {"verdict": doc.get("verdict"), "counts": doc.get("counts"), "files": doc.get("files", {}),
            "flagged": flagged}


def prepare(campaign_file: str | Path, workdir: str | Path | None = None, release: str | None = None,
            reference_release: str | None = None, capacity: Capacity | None = None,
            archive: str | None = None
            ) -> tuple[Campaign, Path, list[Chain]]:
    """Validate and generate every chain before anything runs; `release` and
    `reference_release` override the file's.

    The reference chain exists only when the campaign compares something (`compare:`)
    with a reference release. A reference that cannot be read is reported here, before
    any job runs, as no verdict (exit 3), and so is a stage too big for `capacity`
    (where the jobs will run), which would wait for ever. With an `archive` URL, a compatible
    archived run of the reference release stands in for its chain
    (`relval.workflows.archive.reference`); a `reference.outputs` URL is fetched here."""
    from relval.workflows.archive.reference import resolve_reference

    campaign = load_campaign(campaign_file).with_overrides(release, reference_release)
    root = Path(workdir) if workdir is not None else Path.cwd() / f"relval-{campaign.name}"
    check_reference(campaign)
    if capacity is not None and (too_big := misfits(campaign, capacity)):
        raise NoVerdictError(too_big)
    campaign, _, _ = resolve_reference(campaign, root, archive)
    chains = [Chain(role, generate(c, root / chain_dir_name(role, c.release)))
              for role, c in chain_campaigns(campaign)]
    write_chains_file(root, [c.directory.name for c in chains])
    return campaign, root, chains


def chain_campaigns(campaign: Campaign) -> list[tuple[str, Campaign]]:
    """(role, campaign for that chain's release): the candidate, and the reference chain
    only when the campaign compares something with a reference release."""
    chains = [("candidate", campaign)]
    # No chain for a reference given as outputs (a directory, or an archived run).
    if campaign.compare_files and campaign.reference_release and not campaign.reference_outputs:
        chains.append(("reference", campaign.with_release(campaign.reference_release)))
    return chains


def fetch_patterns(campaign: Campaign) -> tuple[str, ...]:
    """What `relval campaign` downloads from the head to judge a run there: transaction
    and HTCondor event logs, job logs (failed ones too, under makeflow.failed.N/),
    makeflow's output, the JSON files (rule state, chains, per-job metrics) and the
    compared files, by name; never every output (every AO2D)."""
    return ("*.makeflowlog", "*.condorlog", "*.log", "*.json", "*.out", *reference_files(campaign))


def chain_dir_name(role: str, release: str) -> str:
    """`candidate-toy-v2-3f1c2a`: a chain's directory names its release, so a new release
    never shares a directory (or outputs) with another. A short digest is added when the
    release has characters a file name should not carry, to keep names unique."""
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", release).strip("-.") or "release"
    if slug != release:
        slug += "-" + hashlib.sha1(release.encode()).hexdigest()[:6]
    return f"{role}-{slug}"


def write_chains_file(root: Path, names: list[str]) -> None:
    """Which chain directories belong to the current run (older releases' stay beside)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        path = root / CHAINS_FILE
        text = json.dumps({"chains": names}) + "\n"
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    except OSError as error:
        raise RelvalError(f"cannot write the work directory {root}: {error}") from None


def reference_files(campaign: Campaign) -> list[str]:
    """The generated names of the outputs listed under `compare.files` (flat names, the
    same in every chain and in an earlier campaign's outputs)."""
    from relval.workflows.graph import expand

    wanted = set(campaign.compare_files)
    files = []
    for job in expand(campaign).jobs:
        stage = campaign.stage(job.stage)
        files += [path for name, path in zip(stage.outputs, job.outputs) if name in wanted]
    return files


def check_reference(campaign: Campaign) -> None:
    """`reference.outputs` must be a directory, or a file://, s3:// or root:// URL, holding
    every compared file."""
    where = campaign.reference_outputs
    if not campaign.compare_files or where is None:
        return
    if "://" in where:  # file://, s3://, root://: reachable and complete, fetched later
        from relval.workflows.archive.reference import check_remote_outputs

        check_remote_outputs(campaign)
        return
    directory = Path(where).expanduser()
    if not directory.is_dir():
        raise NoVerdictError(f"{campaign.source}: reference.outputs: {where}: no such directory")
    missing = [name for name in reference_files(campaign) if not (directory / name).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise NoVerdictError(f"{campaign.source}: reference.outputs: {where} lacks the compared "
                             f"file(s) {shown}")
    check_overrides(campaign, directory)


def check_overrides(campaign: Campaign, directory: Path) -> None:
    """Every `compare.thresholds` override must match an object of the reference outputs.

    They exist before the run, so a typo in a glob stops it before any job (exit 2)
    rather than after all of them; an unreadable reference file is no verdict (exit 3)."""
    if not (campaign.thresholds or {}).get("overrides"):
        return
    from relval.workflows.qa.reader import list_objects, open_root
    from relval.workflows.qa.thresholds import campaign_thresholds

    names: list[tuple[str, str]] = []
    for name in reference_files(campaign):
        try:
            handle = open_root(directory / name)
        except RelvalError as error:
            raise NoVerdictError(f"{campaign.source}: reference.outputs: {error}") from None
        try:  # the names compare_paths gives a directory's objects: `<file>:<path>`
            names += [(f"{name}:{path}", path) for path in list_objects(handle)]
        finally:
            handle.close()
    errors = campaign_thresholds(campaign.thresholds, campaign.source).unmatched(names)
    if errors:
        raise RelvalError(errors)


def job_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(MAKEFLOW_ENV)
    # Jobs call `relval qa merge` and `python3`: find this installation's first.
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def run_chains(chains: list[Chain], retries: int, on_status: StatusCallback | None = None,
               makeflow: str = "makeflow", poll_s: float = 0.3,
               extra_args: tuple[str, ...] = (), keep_open: tuple[int, ...] = ()) -> dict[str, WorkflowStatus]:
    """Run every chain's makeflow concurrently until all stop; final status per role."""
    executable = find_makeflow(makeflow)
    for chain in chains:  # two makeflows appending to one transaction log would corrupt it
        if (chain.directory / PID_FILE).is_file() and makeflow_alive(chain.directory):
            pid = (chain.directory / PID_FILE).read_text().strip()
            raise RelvalError(f"makeflow (pid {pid}) is still running in {chain.directory}; "
                              "wait for it or stop it first")
    env = job_environment()
    procs: dict[str, subprocess.Popen] = {}
    followers = {c.role: LogFollower(c.workflow.log_path) for c in chains}
    try:
        for chain in chains:
            argv = makeflow_command(chain.workflow.makeflow_file, "local", retries,
                                    extra_args=extra_args, makeflow=executable)
            with open(chain.directory / OUT_FILE, "ab") as out:
                procs[chain.role] = subprocess.Popen(argv, cwd=chain.directory, env=env, stdout=out,
                                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                     start_new_session=True, pass_fds=keep_open)
            (chain.directory / PID_FILE).write_text(f"{procs[chain.role].pid}\n")
        while True:
            alive = {role: p.poll() is None for role, p in procs.items()}
            for chain in chains:
                status = followers[chain.role].poll(running=alive[chain.role])
                if on_status:
                    on_status(chain.role, chain.release, status)
            if not any(alive.values()):  # the statuses above were read after the exit
                break
            pending = [procs[role] for role, up in alive.items() if up]
            try:  # wakes up as soon as a makeflow exits, so the end costs no extra poll
                pending[0].wait(timeout=poll_s)
            except subprocess.TimeoutExpired:
                pass
    except BaseException:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # makeflow aborts its jobs and logs it
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        end_leftover_jobs([proc.pid for proc in procs.values()])
        for chain in chains:
            (chain.directory / PID_FILE).unlink(missing_ok=True)
    statuses = {}
    for chain in chains:
        status = followers[chain.role].poll(running=False)
        if status.state == "not started":
            raise NoVerdictError(f"makeflow did not start in {chain.directory} (exit "
                              f"{procs[chain.role].returncode}): {_tail(chain.directory / OUT_FILE, 5)}")
        statuses[chain.role] = status
    return statuses


def group_alive(pgid: int) -> bool:
    """Whether process group `pgid` has a member that is not a zombie (a zombie holds no
    descriptor, and its parent may never reap it)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state not in "ZX":
            return True
    return False


def end_leftover_jobs(groups: list[int], grace_s: float = 5.0) -> None:
    """Stop what is left in the makeflows' process groups once the makeflows are gone.

    A makeflow killed on its own (not its group) leaves its running jobs behind, and
    they hold the work directory's lock that they inherited: a rerun right away would
    find the directory "in use". Their wrappers take TERM as a stop (payloads killed
    within 2 s); whatever remains after `grace_s` is killed."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 1.0)):
        live = [g for g in groups if group_alive(g)]
        if not live:
            return
        for group in live:
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(group_alive(g) for g in live):
            time.sleep(0.05)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def job_log_tail(directory: Path, node: int, log: str, lines: int = LOG_TAIL_LINES) -> tuple[Path, str]:
    """A failed job's log and its tail: makeflow moves a failed rule's outputs to
    makeflow.failed.<node>."""
    for path in (directory / f"makeflow.failed.{node}" / log, directory / log):
        if path.is_file():
            return path, _tail(path, lines)
    return directory / log, "(no log: the job did not get to write one)"


def chain_result(chain: Chain, status: WorkflowStatus) -> ChainResult:
    jobs = chain.workflow.graph.jobs
    failed = []
    condor = condor_outcomes(chain, [n for n in status.failed_nodes() if status.node_states[n] == FAILED])
    # Only a final FAILED is a failed job; an ABORTED one was stopped (Ctrl-C, a killed
    # makeflow) and counts as not run: no verdict, never a regression.
    for node in (n for n in status.failed_nodes() if status.node_states[n] == FAILED):
        if node >= len(jobs) or status.node_stage.get(node, jobs[node].stage) != jobs[node].stage:
            raise NoVerdictError(f"{chain.workflow.log_path} does not match the generated workflow "
                              f"(node {node}); remove the old log to start over")
        job = jobs[node]
        log, tail = job_log_tail(chain.directory, node, job.log)
        if node in condor:  # held, removed: what HTCondor said, above the log's tail
            tail = f"HTCondor: {condor[node]}\n{tail}"
        failed.append(FailedJob(job.stage, job.unit, tail, chain.release, str(log)))
    done = sum(1 for s in status.node_states.values() if s == COMPLETE)
    left_out, notes = tolerated(chain, status)
    return ChainResult(chain.role, chain.release, len(jobs), done, len(failed), tuple(failed),
                       str(chain.directory), status.state, tuple(left_out), tuple(notes))


def tolerated(chain: Chain, status: WorkflowStatus) -> tuple[list[FailedJob], list[str]]:
    """What `min_success_fraction` left out, from the logs of the complete jobs that may
    have left something out: jobs whose failure was tolerated, jobs whose only input was
    left out, and the inputs each fan-in went without."""
    left_out, notes = [], []
    states = status.node_states
    for node, job in enumerate(chain.workflow.graph.jobs):
        if not (job.tolerant or job.accept is not None) or states.get(node) != COMPLETE:
            continue
        log, tail = job_log_tail(chain.directory, node, job.log, lines=8)
        if "relval-job: failure tolerated" in tail or "relval-job: left out:" in tail:
            left_out.append(FailedJob(job.stage, job.unit, tail, chain.release, str(log)))
        for line in tail.splitlines():
            if " inputs used; left out:" in line:
                used = line.split("relval-job: ", 1)[1].split(";", 1)[0]
                notes.append(f"{chain.release} {job.stage} {job.unit}: {used} (min_success_fraction "
                             f"{job.accept:g}); the others were left out")
    return left_out, notes


def condor_outcomes(chain: Chain, nodes: list[int]) -> dict[int, str]:
    """What HTCondor did to the jobs of `nodes` (held, removed), from the job event log
    makeflow keeps beside its own (`<workflow>.condorlog`); empty without one."""
    from relval.workflows.condor import job_ids, parse_job_log

    events = chain.directory / (chain.workflow.makeflow_file + ".condorlog")
    if not nodes or not events.is_file():
        return {}
    jobs = parse_job_log(events.read_bytes())
    found = {}
    for node, cluster in job_ids(chain.workflow.log_path.read_bytes(), nodes).items():
        if cluster in jobs and jobs[cluster].describe():
            found[node] = jobs[cluster].describe()
    return found


def compared_files(chain: Chain) -> list[str]:
    """The generated names of the outputs listed under `compare.files`."""
    return reference_files(chain.workflow.campaign)


def run_qa(campaign: Campaign, chains: list[Chain], out_dir: Path) -> tuple[Any, str | None]:
    """The QA comparison of the `compare.files` outputs: (summary, None), or (None, why
    it could not run). The compared files are linked into two directories,
    `out_dir/inputs/{new,ref}`, so one comparison covers them all, labelled by file name."""
    candidate = chains[0]
    files = compared_files(candidate)
    if not files:
        return None, "no compared file was produced"
    if campaign.reference_outputs:
        ref_dir = Path(campaign.reference_outputs).expanduser()
    elif len(chains) > 1:
        ref_dir = chains[1].directory
    else:
        return None, "no reference to compare with"
    from relval.workflows.qa import compare_paths  # numpy, uproot: only when needed

    links = out_dir / "inputs"
    for side, source in (("new", candidate.directory), ("ref", ref_dir)):
        target = links / side
        target.mkdir(parents=True, exist_ok=True)
        for old in target.iterdir():
            old.unlink()
        for name in files:
            if not (source / name).is_file():
                return None, f"the QA comparison could not run: {source / name} is missing"
            # Relative, so the work directory still resolves when copied whole (a CI artifact).
            real = (source / name).resolve()
            (target / name).symlink_to(os.path.relpath(real, (target / name).parent.resolve()))
    from relval.workflows.qa.thresholds import campaign_thresholds

    labels = (campaign.release, campaign.reference_release or str(ref_dir))
    try:
        summary = compare_paths(links / "new", links / "ref", out_dir=out_dir, labels=labels,
                                thresholds=campaign_thresholds(campaign.thresholds, campaign.source))
    except RelvalError as error:  # after the jobs ran, an unreadable comparison is no verdict
        return None, f"the QA comparison could not run: {error}"
    return summary, None


def run_local(campaign_file: str | Path, workdir: str | Path | None = None,
              on_status: StatusCallback | None = None, makeflow: str = "makeflow",
              poll_s: float = 0.3, on_stage: Callable[[str], None] | None = None,
              release: str | None = None, reference_release: str | None = None,
              archive: str | None = None) -> RunOutcome:
    # Everything checkable stops here, before the work directory exists.
    campaign = load_campaign(campaign_file).with_overrides(release, reference_release)
    check_reference(campaign)
    if too_big := misfits(campaign, local_capacity()):
        raise NoVerdictError(too_big)
    check_setup_here(campaign, [c.release for _, c in chain_campaigns(campaign)])
    root = Path(workdir) if workdir is not None else Path.cwd() / f"relval-{campaign.name}"
    with workdir_lock(root) as lock_fd:
        campaign, root, chains = prepare(campaign_file, root, release, reference_release,
                                         archive=archive)
        if on_stage:
            on_stage(f"running {len(chains)} chain(s) in {root}")
        statuses = run_chains(chains, campaign.retries, on_status, makeflow, poll_s, keep_open=(lock_fd,))
        return judge(campaign, root, chains, statuses, on_stage)


@contextmanager
def workdir_lock(root: Path):
    """An exclusive flock on `root/.relval.lock` for the whole run, so that two runs never
    share a work directory (before, two `relval run` started together both ran). The
    makeflows inherit the descriptor: the lock lasts as long as they do, even if relval
    itself is killed, and `relval status` reads it to tell a live run from a dead one."""
    import fcntl

    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise RelvalError(f"cannot use the work directory {root}: {error}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip()
        os.close(fd)
        raise RelvalError(f"{root} is in use by another relval run (pid {holder or '?'}); "
                          "wait for it to end, or give another --workdir") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield fd
    finally:
        os.close(fd)


def judge(campaign: Campaign, root: Path, chains: list[Chain], statuses: dict[str, WorkflowStatus],
          on_stage: Callable[[str], None] | None = None) -> RunOutcome:
    """Jobs from the logs, then QA when every job of every chain finished: the verdict
    and the report.

    Also used on a campaign run elsewhere (`relval campaign` downloads the head's work
    directory and judges it here)."""
    from relval.workflows.archive.reference import read_source
    from relval.workflows.report import write_report
    from relval.workflows.resources import judge_resources, unmatched_rules

    source, reference_notes = read_source(root)
    notes = list(dict.fromkeys([n for c in chains for n in c.workflow.graph.notes] + reference_notes))
    results = [chain_result(c, statuses[c.role]) for c in chains]
    by_role = {r.role: r for r in results}
    candidate, reference = by_role.get("candidate"), by_role.get("reference")
    compare = bool(campaign.compare_files)
    if not compare and (campaign.reference_release or campaign.reference_outputs):
        notes.append("the reference is not used: the campaign has no compare: section")
    qa, problem = None, None
    finished = all(r.failed == 0 and r.not_run == 0 for r in results)
    if compare and finished:
        if on_stage:
            on_stage("comparing QA outputs with the reference")
        qa, problem = run_qa(campaign, chains, root / "qa")
    verdict = decide(candidate, reference, qa, compare, problem)
    grades = compare_resources(campaign, root, chains) if compare and finished else []
    if grades:
        notes += unmatched_rules(campaign.resource_rules, grades)
    verdict = judge_resources(verdict, grades)
    outcome = RunOutcome(campaign, results, verdict, root / "report.md", root, qa, notes, list(chains),
                         source, grades)
    write_report(outcome)
    return outcome


def compare_resources(campaign: Campaign, root: Path, chains: list[Chain]) -> list:
    """Per-stage resource grades of the candidate against the reference chain's jobs, or
    against the archived reference's `resources.json`; none when either side has none."""
    from relval.workflows.archive.reference import archived_resources
    from relval.workflows.resources import chain_metrics, compare

    by_role = {c.role: c for c in chains}
    reference = (chain_metrics(by_role["reference"]) if "reference" in by_role
                 else archived_resources(root))
    if not reference:
        return []
    return compare(chain_metrics(by_role["candidate"]), reference, campaign.resource_rules)


def judge_workdir(campaign_file: str | Path, workdir: str | Path, release: str | None = None,
                  reference_release: str | None = None, archive: str | None = None) -> RunOutcome:
    """The verdict of a work directory whose chains ran to their end (here or elsewhere)."""
    from relval.workflows.status import read_status

    from relval.workflows.archive.reference import resolve_reference

    campaign = load_campaign(campaign_file).with_overrides(release, reference_release)
    root = Path(workdir)
    campaign, _, _ = resolve_reference(campaign, root, archive)
    # The chains as generated, without writing: a fetched directory holds only what the
    # verdict needs (`fetch_patterns`), and regenerating there would take the missing
    # outputs for stale ones.
    chains = [Chain(role, GeneratedWorkflow(c, expand(c), root / chain_dir_name(role, c.release),
                                            makeflow_file_name(c)))
              for role, c in chain_campaigns(campaign)]
    statuses = {}
    for chain in chains:
        if not chain.workflow.log_path.is_file():
            raise NoVerdictError(f"{chain.workflow.log_path}: no transaction log: the {chain.role} "
                              "chain never ran")
        statuses[chain.role] = read_status(chain.workflow.log_path)
    return judge(campaign, root, chains, statuses)
