"""The Makeflow writer and the workflow directory.

Public API (part B's `submit` uses `generate` and `makeflow_command`):

    makeflow_lines(campaign: Campaign, graph: JobGraph) -> Iterator[str]
        The Makeflow file, line by line (no newlines); pure, deterministic.
    generate(campaign: Campaign | str | Path, out_dir: str | Path,
             release: str | None = None, keep_history: bool = False) -> GeneratedWorkflow
        Validate, expand and write, flat in out_dir: `<campaign>.makeflow`, the job
        wrapper `relval-job.sh` and the auxiliary files. `release` overrides the
        campaign's (the reference chain). Files whose content is unchanged are not
        rewritten, so a rerun in the same directory resumes instead of starting over.
        `keep_history=True` refuses to replace a different workflow that has a log.
    write_workflow(campaign, out_dir, release=None) -> Path
        `generate`, returning the path of the Makeflow file.
    makeflow_command(makeflow_file: str, batch: str = "local", retries: int = 0,
                     submit_lines: Sequence[str] = (), extra_args: Sequence[str] = (),
                     makeflow: str = "makeflow") -> list[str]
        The command line to run in the workflow directory: `-T batch`, `--log-verbose`
        (maps node ids to stages in the log), `-r retries`, and for condor the extra
        submit-file lines with `-B`.
    MAKEFLOW_ENV: environment variables makeflow needs on Debian (see DESIGN.md).

Every rule lists all its inputs (data, wrapper, auxiliary files) and outputs (data and
its log). There is no remote renaming (`a->b`), which `-T condor` does not support; all
names are basenames so HTCondor file transfer finds them in the sandbox.
Node ids are the rule order, which is `graph.jobs` order.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from relval.errors import NoVerdictError, RelvalError
from relval.workflows.campaign import WRAPPER_NAME, Campaign, load_campaign
from relval.workflows.graph import JobGraph, expand
from relval.workflows.rerun import STATE_FILE, ResumePlan, plan_resume, read_state, rule_fingerprints, state_document
from relval.workflows.wrapper import command_file, inputs_file, inputs_list, wrapper_invocation, wrapper_script

BATCH_TYPES = ("local", "condor")
MAKEFLOW_ENV = {"OMPI_MCA_ess_singleton_isolated": "1"}


@dataclass(frozen=True)
class GeneratedWorkflow:
    campaign: Campaign
    graph: JobGraph
    directory: Path
    makeflow_file: str          # basename, inside directory
    fingerprints: tuple[str, ...] = ()   # per job, see relval.workflows.rerun

    @property
    def makeflow_path(self) -> Path:
        return self.directory / self.makeflow_file

    @property
    def log_path(self) -> Path:
        """Makeflow's transaction log, next to the workflow file."""
        return self.directory / (self.makeflow_file + ".makeflowlog")


def makeflow_file_name(campaign: Campaign) -> str:
    return f"{campaign.name}.makeflow"


def makeflow_lines(campaign: Campaign, graph: JobGraph) -> Iterator[str]:
    counts: dict[str, int] = {}
    for job in graph.jobs:
        counts[job.stage] = counts.get(job.stage, 0) + 1
    # No file name here: a renamed but identical campaign file resumes.
    yield f"# relval workflow: campaign {campaign.name}, release {campaign.release} (generated; do not edit)"
    yield f"# {len(graph.jobs)} jobs: " + ", ".join(f"{s} {n}" for s, n in counts.items())
    category = None
    for job in graph.jobs:
        if job.stage != category:
            category = job.stage
            yield ""
            yield from _category_lines(campaign, category)
        cmd_file, list_file = command_file(job), inputs_file(job)
        extra = tuple(name for name in (cmd_file, list_file) if name)
        inputs = " ".join((*job.inputs, WRAPPER_NAME, *job.aux, *extra))
        yield ""
        yield f"{' '.join(job.outputs)} {job.log}: {inputs}"
        yield f"\t{wrapper_invocation(job, cmd_file, list_file)}"


def _category_lines(campaign: Campaign, stage_name: str) -> Iterator[str]:
    resources = campaign.stage(stage_name).resources
    yield f".MAKEFLOW CATEGORY {stage_name}"
    for keyword, value in (("CORES", resources.cores), ("MEMORY", resources.memory_mb),
                           ("DISK", resources.disk_mb)):
        if value is not None:
            yield f".MAKEFLOW {keyword} {value}"


def generate(campaign: Campaign | str | Path, out_dir: str | Path,
             release: str | None = None, keep_history: bool = True) -> GeneratedWorkflow:
    """See the module docstring. In a directory that ran before, the outputs of every
    rule that changed (or depends on one that did) are deleted and makeflow resumes from
    a log that marks only the unchanged, complete rules done (`relval.workflows.rerun`).
    `keep_history` is accepted for compatibility; the old log is always kept aside."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    if release is not None:
        campaign = campaign.with_release(release)
    graph = expand(campaign)  # raises before anything is written
    directory = Path(out_dir)
    name = makeflow_file_name(campaign)
    text = ("\n".join(makeflow_lines(campaign, graph)) + "\n").encode()
    wrapper = wrapper_script(campaign)
    sources = sorted({p for stage in campaign.stages for p in stage.files})
    try:
        aux = {source.name: source.read_bytes() for source in sources}
        fingerprints = rule_fingerprints(graph, wrapper, {n: hashlib.sha256(b).hexdigest()
                                                          for n, b in aux.items()})
        state = state_document(graph, fingerprints)
        directory.mkdir(parents=True, exist_ok=True)
        resume_locally(directory, name, text, graph, fingerprints, state)
        _write_if_changed(directory / name, text)
        _write_if_changed(directory / WRAPPER_NAME, wrapper.encode())
        for job in graph.jobs:  # commands too long for a rule's command line
            cmd_file, list_file = command_file(job), inputs_file(job)
            if cmd_file:
                _write_if_changed(directory / cmd_file, job.command.encode() + b"\n")
            if list_file:  # inputs too many to list on a rule's command line
                _write_if_changed(directory / list_file, inputs_list(job).encode())
        for source in sources:
            _write_if_changed(directory / source.name, aux[source.name], mode=source.stat().st_mode)
        _write_if_changed(directory / STATE_FILE, state)  # last: it vouches for the rest
    except OSError as error:
        raise RelvalError(f"cannot write the workflow to {directory}: {error}") from None
    return GeneratedWorkflow(campaign, graph, directory, name, tuple(fingerprints))


def resume_locally(directory: Path, name: str, text: bytes, graph: JobGraph,
                   fingerprints: list[str], state: bytes) -> ResumePlan:
    """Apply `plan_resume` to a workflow directory that ran before (see the module doc)."""
    log = directory / (name + ".makeflowlog")
    if not log.is_file():
        return ResumePlan()
    old_state = _read(directory / STATE_FILE)
    unchanged = _read(directory / name) == text and old_state == state
    present = {}
    if not unchanged:
        for job in graph.jobs:
            for path in (*job.outputs, job.log):
                try:
                    present[path] = (directory / path).stat().st_size
                except OSError:
                    pass
    plan = plan_resume(graph, fingerprints, read_state(old_state), log.read_bytes(), present,
                       time.time_ns() // 1000, unchanged)
    if plan.changed:
        for path in plan.stale:
            (directory / path).unlink(missing_ok=True)
        for failed in directory.glob("makeflow.failed.*"):  # named by the old node ids
            shutil.rmtree(failed, ignore_errors=True)
        log.rename(log.with_name(f"{log.name}.{time.strftime('%Y%m%dT%H%M%S')}.old"))
        _write_if_changed(log, plan.log)
    return plan


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write_workflow(campaign: Campaign | str | Path, out_dir: str | Path,
                   release: str | None = None) -> Path:
    return generate(campaign, out_dir, release).makeflow_path


def _write_if_changed(path: Path, data: bytes, mode: int | None = None) -> None:
    # Makeflow treats a changed input as a reason to rerun; same bytes keep the mtime.
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    if mode is not None:
        os.chmod(tmp, mode & 0o777)
    os.replace(tmp, path)


def makeflow_command(makeflow_file: str, batch: str = "local", retries: int = 0,
                     submit_lines: Sequence[str] = (), extra_args: Sequence[str] = (),
                     makeflow: str = "makeflow") -> list[str]:
    if batch not in BATCH_TYPES:
        raise RelvalError(f"unknown batch type {batch!r} (use {' or '.join(BATCH_TYPES)})")
    command = [makeflow, "-T", batch, "--log-verbose", "-r", str(retries)]
    if submit_lines:
        if batch != "condor":
            raise RelvalError("submit-file lines (-B) only apply to the condor batch type")
        command += ["-B", "\n".join(submit_lines)]
    return [*command, *extra_args, makeflow_file]


def find_makeflow(makeflow: str = "makeflow") -> str:
    path = shutil.which(makeflow)
    if path is None:
        raise NoVerdictError(f"{makeflow} not found: install cctools (Debian: coop-computing-tools)")
    return path
