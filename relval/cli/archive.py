"""`relval archive list|show|fetch|last-validated`: read the campaign archive (see relval.workflows.archive)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from relval.cli.console import err, out

archive_app = typer.Typer(help="The campaign archive: list, show and fetch archived runs.",
                          no_args_is_help=True)

URL_OPTION = typer.Option(None, "--archive", help="Archive URL (default $RELVAL_ARCHIVE, else "
                          "./relval-archive).")
RUN_ARGUMENT = typer.Argument(None, help="Run timestamp (default: the latest).")


def _backend(archive: Optional[str]):
    from relval.workflows.archive import open_archive, resolve_url

    return open_archive(resolve_url(archive))


def register(app: typer.Typer) -> None:
    app.add_typer(archive_app, name="archive")

    @archive_app.command("list")
    def list_command(
        campaign: Optional[str] = typer.Argument(None, help="Only this campaign."),
        release: Optional[str] = typer.Option(None, "--release", help="Only this release."),
        archive: Optional[str] = URL_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Every archived run, oldest first: campaign, release, run, role, verdict, files."""
        from relval.workflows.archive.runs import list_runs

        backend = _backend(archive)
        runs = list_runs(backend, campaign, release)
        if as_json:
            print(json.dumps({"archive": backend.url, "runs": [_brief(r) for r in runs]}, indent=2))
            return
        table = Table(title=f"{backend.url}: {len(runs)} run(s)", title_justify="left")
        for column in ("campaign", "release", "run", "role", "verdict", "jobs", "files"):
            table.add_column(column)
        for r in runs:
            jobs = r.get("jobs") or {}
            table.add_row(*(escape(str(v)) for v in (
                r["campaign"], r["release"], r["run"], r["role"], r.get("verdict") or "-",
                f"{jobs.get('done', 0)}/{jobs.get('total', 0)}", len(r.get("files", [])))))
        out.print(table)

    @archive_app.command("show")
    def show_command(
        campaign: str = typer.Argument(..., help="Campaign name."),
        release: str = typer.Argument(..., help="Release."),
        run: Optional[str] = RUN_ARGUMENT,
        archive: Optional[str] = URL_OPTION,
    ) -> None:
        """Print one run's index (JSON): verdict, reference, fingerprint, every file with
        its size and adler32. Exit 3 when there is no such run."""
        from relval.workflows.archive.runs import find_run

        print(json.dumps(find_run(_backend(archive), campaign, release, run), indent=2))

    @archive_app.command("fetch")
    def fetch_command(
        campaign: str = typer.Argument(..., help="Campaign name."),
        release: str = typer.Argument(..., help="Release."),
        run: Optional[str] = RUN_ARGUMENT,
        out_dir: Path = typer.Option(..., "--out", "-o", help="Directory to download into."),
        only: Optional[list[str]] = typer.Option(None, "--only", help="Only this file of the run "
                                                 "(e.g. qa/Summary.json); repeatable."),
        archive: Optional[str] = URL_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Download a run; every file is checked against the index's size and adler32.
        Exit 3 on a missing run, an unreachable archive or a corrupt file (it is removed)."""
        from relval.workflows.archive.runs import fetch_run, find_run

        backend = _backend(archive)
        index = find_run(backend, campaign, release, run)
        paths = fetch_run(backend, index, out_dir, only=list(only) if only else None)
        if as_json:
            print(json.dumps({"run": index["path"], "files": [str(p) for p in paths]}, indent=2))
            return
        err.print(f"{len(paths)} file(s) of {escape(index['path'])} verified", highlight=False)
        print(out_dir)


    @archive_app.command("last-validated")
    def last_validated_command(
        campaign: str = typer.Argument(..., help="Campaign name, or a campaign file (its name is "
                                       "read, and its own reference is named as the fallback)."),
        exclude: Optional[list[str]] = typer.Option(None, "--exclude-release", help="Not this release "
                                                    "(the one under validation); repeatable."),
        archive: Optional[str] = URL_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """The release of the most recent archived run of the campaign that was validated
        (verdict PASS, every job finished; a FAIL never becomes a reference). Prints it and
        exits 0; when there is none, prints nothing on stdout (JSON: release null), says
        why on stderr and exits 0; exit 3 when the archive cannot be read."""
        from relval.workflows.archive import resolve_url
        from relval.workflows.archive.validated import choose_reference

        choice = choose_reference(campaign, resolve_url(archive), exclude or [])
        err.print(f"reference: {escape(choice.reason)}", highlight=False, soft_wrap=True)
        if as_json:
            print(json.dumps(choice.to_json(), indent=2))
        elif choice.release:
            print(choice.release)


def _brief(index: dict) -> dict:
    return {key: index.get(key) for key in ("campaign", "release", "run", "path", "role", "created",
                                            "verdict", "exit_code", "jobs", "reference")} | {
        "files": len(index.get("files", []))}
