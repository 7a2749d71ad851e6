"""Campaign commands: `relval workflow generate`, `relval run`, `relval status`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from relval.cli import submit as submit_cli
from relval.cli.console import err, out, progress_bar
from relval.errors import RelvalError

workflow_app = typer.Typer(help="Campaign workflows: generate Makeflow files from a campaign.",
                           no_args_is_help=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def status_table(statuses) -> Table:
    table = Table(title_justify="left")
    for column in ("chain", "stage", "waiting", "running", "done", "failed", "total"):
        table.add_column(column, justify="left" if column in ("chain", "stage") else "right")
    for named in statuses:
        s = named.status
        for stage, c in s.stages.items():
            table.add_row(escape(named.name), escape(stage), str(c.waiting), str(c.running),
                          str(c.done), f"[red]{c.failed}[/]" if c.failed else "0", str(c.total))
        table.add_row(escape(named.name), f"[bold]{s.state}[/]", "", "", f"[bold]{s.done}[/]",
                      f"[bold]{s.failed}[/]", f"[bold]{s.total}[/]", end_section=True)
    table.caption = "  ".join(
        f"{escape(n.name)}: {n.status.progress:.0%} elapsed {_duration(n.status.elapsed_s)} "
        f"ETA {_duration(n.status.eta_s)}" for n in statuses)
    held = [f"{n.name}: {h}" for n in statuses for h in n.held]
    if held:  # HTCondor holds, which makeflow itself never reports
        table.caption += "\n[yellow]on hold:[/] " + escape("; ".join(held))
    return table


def resume_hint(campaign: Path, workdir: Path | None) -> str:
    """What Ctrl-C prints: the jobs were stopped, and the command that resumes."""
    import shlex

    from relval.workflows.campaign import load_campaign

    args = [a for a in sys.argv[1:]]
    if workdir is None:  # the default work directory depends on where it was started
        try:
            args += ["--workdir", str(Path.cwd() / f"relval-{load_campaign(campaign).name}")]
        except RelvalError:
            pass
    return ("interrupted: makeflow and its jobs were stopped; finished jobs are kept. "
            f"To resume, run: relval {shlex.join(args)}")


VERDICT_COLOUR = {"PASS": "green", "JOBS_PASSED": "yellow", "FAIL": "red", "NO_VERDICT": "red"}


def print_verdict(outcome, document: dict) -> None:
    """The verdict line, why, and where the reports are; a run without a QA comparison
    says so on the verdict line itself."""
    verdict = outcome.verdict
    jobs = document["jobs"]
    line = (f"verdict: [bold {VERDICT_COLOUR[verdict.verdict]}]{verdict.verdict}[/] "
            f"({jobs['done']}/{jobs['total']} jobs done)")
    if verdict.verdict == "JOBS_PASSED":
        line += ": no QA comparison was made (the campaign has no compare: section)"
    out.print(line, highlight=False, soft_wrap=True)
    for reason in verdict.reasons:
        out.print(f"  - {escape(reason)}", highlight=False)
    qa_html = ((document.get("qa") or {}).get("files") or {}).get("html")
    if qa_html:
        out.print(f"QA report: {escape(qa_html)}", highlight=False, soft_wrap=True)
    out.print(f"report: {escape(str(outcome.report))}", highlight=False, soft_wrap=True)


def print_archive(stored) -> None:
    """Where the results went, or why they did not (the exit code is then 3)."""
    if stored.ok:
        for path in stored.runs:
            out.print(f"archived: {escape(stored.url.rstrip('/'))}/{escape(path)}", highlight=False,
                      soft_wrap=True)
    else:
        err.print(f"[bold red]archive failed[/] (the verdict stands, exit 3): {escape(stored.error)}",
                  highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(workflow_app, name="workflow")

    @workflow_app.command("generate")
    def generate_command(
        campaign: Path = typer.Argument(..., help="Campaign YAML file."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Directory to write the workflow into."),
        release: Optional[str] = typer.Option(None, "--release", help="Override the campaign's release."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Write DIR/<campaign>.makeflow, the job wrapper and the auxiliary files."""
        from relval.workflows.makeflow import generate

        workflow = generate(campaign, out_dir, release=release)
        stages: dict[str, int] = {}
        for job in workflow.graph.jobs:
            stages[job.stage] = stages.get(job.stage, 0) + 1
        if as_json:
            print(json.dumps({"campaign": workflow.campaign.name, "release": workflow.campaign.release,
                              "makeflow": str(workflow.makeflow_path), "jobs": len(workflow.graph),
                              "stages": stages, "notes": workflow.graph.notes}, indent=2))
            return
        for note in workflow.graph.notes:
            err.print(f"note: {escape(note)}", highlight=False)
        out.print(f"{escape(str(workflow.makeflow_path))}: {len(workflow.graph)} jobs ("
                  + ", ".join(f"{s} {n}" for s, n in stages.items()) + ")", highlight=False)

    @app.command("run")
    def run_command(
        campaign: Path = typer.Argument(..., help="Campaign YAML file."),
        local: bool = typer.Option(False, "--local", help="Run here with makeflow -T local (required)."),
        workdir: Optional[Path] = typer.Option(None, "--workdir", "-w",
                                               help="Work directory (default ./relval-<campaign>); "
                                                    "rerunning on it resumes."),
        release: Optional[str] = submit_cli.RELEASE_OPTION,
        reference_release: Optional[str] = submit_cli.REFERENCE_RELEASE_OPTION,
        archive: Optional[str] = submit_cli.ARCHIVE_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print the verdict as one JSON object."),
    ) -> None:
        """Run a campaign and its reference chain, compare, give the verdict, archive the results.

        Exit 0 PASS (or JOBS_PASSED: no compare: section, all jobs done), 1 FAIL (a QA
        regression or failed jobs), 2 bad input, 3 no verdict (reference missing or
        failed, nothing compared, the run stopped early, a tool missing, archiving failed).
        """
        from relval.workflows.archive import resolve_url
        from relval.workflows.archive.store import exit_code, store_outcome
        from relval.workflows.run import run_local

        if not local:
            raise RelvalError("relval run needs --local (use relval submit to run on a stack)")
        with progress_bar() as bar:
            tasks: dict[tuple[str, str], int] = {}

            def on_status(role: str, release: str, status) -> None:
                for stage, counts in status.stages.items():
                    key = (role, stage)
                    if key not in tasks:
                        tasks[key] = bar.add_task(f"{release} {stage}", total=counts.total)
                    bar.update(tasks[key], total=counts.total, completed=counts.done + counts.failed,
                               description=f"{release} {stage}" + (f" [red]{counts.failed} failed[/]"
                                                                   if counts.failed else ""))

            archive_url = resolve_url(archive)
            try:
                outcome = run_local(campaign, workdir, on_status=on_status, release=release,
                                    reference_release=reference_release, archive=archive_url,
                                    on_stage=lambda msg: err.print(escape(msg), highlight=False))
            except KeyboardInterrupt:
                bar.stop()
                err.print(escape(resume_hint(campaign, workdir)), highlight=False, soft_wrap=True)
                sys.exit(3)  # no verdict
        err.print(f"archiving the results to {escape(archive_url)}", highlight=False)
        stored = store_outcome(outcome, archive_url)
        document = {**outcome.to_json(), "archive": stored.to_json()}
        document["exit_code"] = exit_code(outcome.verdict.exit_code, stored)
        if as_json:
            print(json.dumps(document, indent=2))
        else:
            for job in document["failed_jobs"]:
                err.print(f"[red]failed[/] {escape(job['release'])} {escape(job['stage'])} "
                          f"{escape(job['unit'])}: {escape(job['log'])}", highlight=False)
            for note in document["notes"]:
                err.print(f"note: {escape(note)}", highlight=False)
            print_verdict(outcome, document)
            print_archive(stored)
        # sys.exit, not typer.Exit: main() runs click without standalone mode.
        sys.exit(document["exit_code"])

    @app.command("status")
    def status_command(
        workdir: Optional[Path] = typer.Argument(None, help="A workflow directory or a relval run work directory."),
        stack: Optional[str] = typer.Option(None, "--stack", help="Read the log from this stack's head node."),
        campaign: Optional[str] = typer.Option(None, "--campaign", help="Campaign name (with --stack)."),
        watch: bool = typer.Option(False, "--watch", help="Keep refreshing until makeflow stops."),
        interval: float = typer.Option(2.0, "--interval", help="Seconds between refreshes with --watch."),
        stall_timeout: Optional[float] = typer.Option(None, "--stall-timeout", help="With --watch: stop "
                                                      "(exit 3) when no job starts or ends for this "
                                                      "many seconds."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per refresh with --watch)."),
        outputs: Optional[Path] = submit_cli.OUTPUTS_OPTION,
        ssh_user: Optional[str] = submit_cli.SSH_USER_OPTION,
        ssh_port: Optional[int] = submit_cli.SSH_PORT_OPTION,
        identity: Optional[Path] = submit_cli.IDENTITY_OPTION,
        ssh_config: Optional[Path] = submit_cli.SSH_CONFIG_OPTION,
        remote_base: str = submit_cli.REMOTE_BASE_OPTION,
    ) -> None:
        """Per-stage counts, progress, elapsed time and ETA from the Makeflow transaction log.

        Exit 0 running or finished without failures, 1 a job failed for good, 2 bad
        input, 3 a makeflow stopped with work left, or the head is unreachable."""
        from relval.workflows import status as status_lib

        if (workdir is None) == (stack is None):
            raise RelvalError("give a WORKDIR, or --stack with --campaign")
        if stack is not None:
            if not campaign:
                raise RelvalError("--stack needs --campaign")
            from relval.workflows.remote_status import follow_remote

            updates = follow_remote(stack, campaign, submit_cli.head_options(
                outputs, ssh_user, ssh_port, identity, ssh_config), remote_base,
                watch=watch, interval_s=interval, stall_timeout_s=stall_timeout)
        elif watch:
            updates = status_lib.follow_workdir(workdir, interval, stall_timeout)
        else:
            updates = iter([status_lib.workdir_status(workdir, time.time())])
        last = []
        if as_json:
            for last in updates:
                print(json.dumps({"workflows": [s.to_json() for s in last]}), flush=True)
        elif not watch:
            last = next(updates)
            out.print(status_table(last))
        else:
            with Live(console=out, auto_refresh=False) as live:
                for last in updates:
                    live.update(status_table(last), refresh=True)
        sys.exit(status_lib.status_exit_code(last))
