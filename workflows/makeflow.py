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

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from relval.errors import NoVerdictError, RelvalError
from relval.workflows.campaign import WRAPPER_NAME, Campaign, load_campaign
from relval.workflows.graph import JobGraph, expand
from relval.workflows.wrapper import command_file, wrapper_invocation, wrapper_script

BATCH_TYPES = ("local", "condor")
MAKEFLOW_ENV = {"OMPI_MCA_ess_singleton_isolated": "1"}


@dataclass(frozen=True)
class GeneratedWorkflow:
    campaign: Campaign
    graph: JobGraph
    directory: Path
    makeflow_file: str          # basename, inside directory

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
    yield (f"# relval workflow: campaign {campaign.name}, release {campaign.release}, "
           f"from {campaign.source} (generated; do not edit)")
    yield f"# {len(graph.jobs)} jobs: " + ", ".join(f"{s} {n}" for s, n in counts.items())
    category = None
    for job in graph.jobs:
        if job.stage != category:
            category = job.stage
            yield ""
            yield from _category_lines(campaign, category)
        cmd_file = command_file(job)
        inputs = " ".join((*job.inputs, WRAPPER_NAME, *job.aux, *((cmd_file,) if cmd_file else ())))
        yield ""
        yield f"{' '.join(job.outputs)} {job.log}: {inputs}"
        yield f"\t{wrapper_invocation(job, cmd_file)}"


def _category_lines(campaign: Campaign, stage_name: str) -> Iterator[str]:
    resources = campaign.stage(stage_name).resources
    yield f".MAKEFLOW CATEGORY {stage_name}"
    for keyword, value in (("CORES", resources.cores), ("MEMORY", resources.memory_mb),
                           ("DISK", resources.disk_mb)):
        if value is not None:
            yield f".MAKEFLOW {keyword} {value}"


def generate(campaign: Campaign | str | Path, out_dir: str | Path,
             release: str | None = None, keep_history: bool = False) -> GeneratedWorkflow:
    """See the module docstring. With `keep_history`, refuse to replace a different
    workflow file that already has a transaction log: makeflow would take the old log's
    completed nodes for the new rules and reuse stale outputs."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    if release is not None:
        campaign = campaign.with_release(release)
    graph = expand(campaign)  # raises before anything is written
    directory = Path(out_dir)
    name = makeflow_file_name(campaign)
    text = ("\n".join(makeflow_lines(campaign, graph)) + "\n").encode()
    if keep_history and (directory / (name + ".makeflowlog")).exists():
        try:
            changed = (directory / name).read_bytes() != text
        except OSError:
            changed = True
        if changed:
            raise RelvalError(f"{directory}: the campaign changed since this directory last ran "
                              "(its makeflow log belongs to another workflow); use a new work "
                              "directory or remove this one")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_if_changed(directory / name, text)
        _write_if_changed(directory / WRAPPER_NAME, wrapper_script(campaign).encode())
        for job in graph.jobs:  # commands too long for a rule's command line
            cmd_file = command_file(job)
            if cmd_file:
                _write_if_changed(directory / cmd_file, job.command.encode() + b"\n")
        for source in sorted({p for stage in campaign.stages for p in stage.files}):
            _write_if_changed(directory / source.name, source.read_bytes(), mode=source.stat().st_mode)
    except OSError as error:
        raise RelvalError(f"cannot write the workflow to {directory}: {error}") from None
    return GeneratedWorkflow(campaign, graph, directory, name)


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
