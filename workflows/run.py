"""`relval run --local`: generate, run with `makeflow -T local`, judge, report.

    run_local(campaign_file, workdir=None, on_status=None, ...) -> RunOutcome
    prepare(campaign_file, workdir=None) -> (Campaign, Path, list[Chain])
        validate and generate every chain (`candidate`, and `reference` when
        `reference.release` is set) without running anything; `relval submit` uses it.
    run_chains(chains, retries, on_status=None) -> {role: WorkflowStatus}

Layout of the work directory (default `./relval-<campaign>`):

    WORKDIR/candidate/   the chain of `release` (workflow, outputs, job logs, makeflow log)
    WORKDIR/reference/   the same chain for `reference.release`, when given
    WORKDIR/qa/          the QA comparison's own outputs, when the QA library is present
    WORKDIR/report.md, WORKDIR/report.json

Both chains run at the same time, each under its own makeflow. Running again with the
same work directory resumes: the generated files are only rewritten when they change,
and makeflow skips the nodes its transaction log marks complete. Success is read from
the log (the last state of each node), never from makeflow's exit code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from relval.errors import RelvalError
from relval.workflows.campaign import Campaign, load_campaign
from relval.workflows.makeflow import MAKEFLOW_ENV, GeneratedWorkflow, find_makeflow, generate, makeflow_command
from relval.workflows.status import COMPLETE, PID_FILE, LogFollower, WorkflowStatus, makeflow_alive
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

    def to_json(self) -> dict:
        failed_jobs = [j.to_json() for c in self.chains for j in c.failed_jobs]
        return {
            "campaign": self.campaign.name,
            "release": self.campaign.release,
            "reference": self.campaign.reference_release or self.campaign.reference_outputs,
            "verdict": self.verdict.verdict,
            "jobs": {"total": sum(c.total for c in self.chains),
                     "done": sum(c.done for c in self.chains),
                     "failed": sum(c.failed for c in self.chains)},
            "failed_jobs": failed_jobs,
            "report": str(self.report),
            "reasons": list(self.verdict.reasons),
            "qa_used": self.verdict.qa_used,
            "chains": [{"role": c.role, "release": c.release, "directory": c.directory,
                        "state": c.state, "total": c.total, "done": c.done, "failed": c.failed}
                       for c in self.chains],
            "qa": qa_brief(self.qa),
            "notes": self.notes + list(self.verdict.notes),
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


def prepare(campaign_file: str | Path, workdir: str | Path | None = None) -> tuple[Campaign, Path, list[Chain]]:
    """Validate and generate every chain before anything runs."""
    campaign = load_campaign(campaign_file)
    root = Path(workdir) if workdir is not None else Path.cwd() / f"relval-{campaign.name}"
    chains = [Chain("candidate", generate(campaign, root / "candidate", keep_history=True))]
    if campaign.reference_release:
        chains.append(Chain("reference", generate(campaign, root / "reference",
                                                  release=campaign.reference_release, keep_history=True)))
    return campaign, root, chains


def job_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(MAKEFLOW_ENV)
    # Jobs call `relval qa merge` and `python3`: find this installation's first.
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def run_chains(chains: list[Chain], retries: int, on_status: StatusCallback | None = None,
               makeflow: str = "makeflow", poll_s: float = 0.3,
               extra_args: tuple[str, ...] = ()) -> dict[str, WorkflowStatus]:
    """Run every chain's makeflow concurrently until all stop; final status per role."""
    executable = find_makeflow(makeflow)
    for chain in chains:  # two makeflows appending to one transaction log would corrupt it
        if makeflow_alive(chain.directory):
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
                                                     start_new_session=True)
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
        for chain in chains:
            (chain.directory / PID_FILE).unlink(missing_ok=True)
    statuses = {}
    for chain in chains:
        status = followers[chain.role].poll(running=False)
        if status.state == "not started":
            raise RelvalError(f"makeflow did not start in {chain.directory} (exit "
                              f"{procs[chain.role].returncode}): {_tail(chain.directory / OUT_FILE, 5)}")
        statuses[chain.role] = status
    return statuses


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
    for node in status.failed_nodes():
        if node >= len(jobs) or status.node_stage.get(node, jobs[node].stage) != jobs[node].stage:
            raise RelvalError(f"{chain.workflow.log_path} does not match the generated workflow "
                              f"(node {node}); remove the old log to start over")
        job = jobs[node]
        log, tail = job_log_tail(chain.directory, node, job.log)
        failed.append(FailedJob(job.stage, job.unit, tail, chain.release, str(log)))
    done = sum(1 for s in status.node_states.values() if s == COMPLETE)
    return ChainResult(chain.role, chain.release, len(jobs), done, len(failed), tuple(failed),
                       str(chain.directory), status.state)


def compared_files(chain: Chain) -> list[str]:
    """The generated names of the outputs listed under `compare.files`."""
    campaign = chain.workflow.campaign
    wanted = set(campaign.compare_files)
    files = []
    for job in chain.workflow.graph.jobs:
        stage = campaign.stage(job.stage)
        files += [path for name, path in zip(stage.outputs, job.outputs) if name in wanted]
    return files


def run_qa(campaign: Campaign, chains: list[Chain], out_dir: Path) -> tuple[Any, str | None]:
    """The QA comparison of the `compare.files` outputs, if the QA library offers it;
    returns (summary or None, note). The compared files are linked into two directories,
    `out_dir/inputs/{new,ref}`, so one comparison covers them all, labelled by file name."""
    candidate = chains[0]
    files = compared_files(candidate)
    if not files:
        return None, "no compare.files: verdict from jobs alone"
    if campaign.reference_outputs:
        if "://" in campaign.reference_outputs:
            return None, (f"reference outputs at {campaign.reference_outputs} are remote; "
                          "copy them to a local directory to compare")
        ref_dir = Path(campaign.reference_outputs)
    elif len(chains) > 1:
        ref_dir = chains[1].directory
    else:
        return None, "no reference: verdict from jobs alone"
    try:  # the one place relval.workflows.qa is imported (numpy, uproot: only when needed)
        from relval.workflows.qa import compare_paths
    except ImportError:
        return None, "QA comparison unavailable (relval.workflows.qa has no compare_paths): verdict from jobs alone"
    links = out_dir / "inputs"
    for side, source in (("new", candidate.directory), ("ref", ref_dir)):
        target = links / side
        target.mkdir(parents=True, exist_ok=True)
        for old in target.iterdir():
            old.unlink()
        for name in files:
            if not (source / name).is_file():
                return None, f"QA comparison skipped: {source / name} is missing"
            # Relative, so the work directory still resolves when copied whole (a CI artifact).
            real = (source / name).resolve()
            (target / name).symlink_to(os.path.relpath(real, (target / name).parent.resolve()))
    labels = (campaign.release, campaign.reference_release or str(ref_dir))
    summary = compare_paths(links / "new", links / "ref", out_dir=out_dir, thresholds=campaign.thresholds,
                            labels=labels)
    return summary, None


def run_local(campaign_file: str | Path, workdir: str | Path | None = None,
              on_status: StatusCallback | None = None, makeflow: str = "makeflow",
              poll_s: float = 0.3, on_stage: Callable[[str], None] | None = None) -> RunOutcome:
    campaign, root, chains = prepare(campaign_file, workdir)
    if on_stage:
        on_stage(f"running {len(chains)} chain(s) in {root}")
    statuses = run_chains(chains, campaign.retries, on_status, makeflow, poll_s)
    return judge(campaign, root, chains, statuses, on_stage)


def judge(campaign: Campaign, root: Path, chains: list[Chain], statuses: dict[str, WorkflowStatus],
          on_stage: Callable[[str], None] | None = None) -> RunOutcome:
    """Jobs from the logs, then QA when every job finished: the verdict and the report.

    Also used on a campaign run elsewhere (`relval campaign` downloads the head's work
    directory and judges it here)."""
    from relval.workflows.report import write_report

    notes = list(dict.fromkeys(n for c in chains for n in c.workflow.graph.notes))
    results = [chain_result(c, statuses[c.role]) for c in chains]
    qa = None
    if all(r.failed == 0 and r.not_run == 0 for r in results):
        if on_stage:
            on_stage("comparing QA outputs with the reference")
        qa, note = run_qa(campaign, chains, root / "qa")
        if note:
            notes.append(note)
    else:
        notes.append("QA comparison skipped: not every job finished")
    verdict = decide(results, qa)
    outcome = RunOutcome(campaign, results, verdict, root / "report.md", root, qa, notes)
    write_report(outcome)
    return outcome


def judge_workdir(campaign_file: str | Path, workdir: str | Path) -> RunOutcome:
    """The verdict of a work directory whose chains ran to their end (here or elsewhere)."""
    from relval.workflows.status import read_status

    campaign, root, chains = prepare(campaign_file, workdir)
    statuses = {}
    for chain in chains:
        if not chain.workflow.log_path.is_file():
            raise RelvalError(f"{chain.workflow.log_path}: no transaction log: the {chain.role} "
                              "chain never ran")
        statuses[chain.role] = read_status(chain.workflow.log_path)
    return judge(campaign, root, chains, statuses)
