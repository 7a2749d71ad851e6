"""`relval trends CAMPAIGN`: a static HTML page of the campaign's last releases, from the archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from relval.cli.console import err


def register(app: typer.Typer) -> None:
    @app.command("trends")
    def trends_command(
        campaign: str = typer.Argument(..., help="Campaign name, as archived."),
        last: int = typer.Option(10, "--last", min=1, help="How many of the latest validated releases."),
        out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                               help="Output directory (default ./trends-CAMPAIGN)."),
        archive: Optional[str] = typer.Option(None, "--archive", help="Archive URL (default "
                                              "$RELVAL_ARCHIVE, else ./relval-archive)."),
        as_json: bool = typer.Option(False, "--json", help="Print the trends as one JSON object."),
    ) -> None:
        """Per histogram its grade and p-values, per stage its resource use, over the last
        validated releases; the latest grade changes first. Exit 3 when the archive is
        unreachable or holds no validated release of the campaign."""
        from relval.workflows.archive import resolve_url
        from relval.workflows.qa.output import prepare_output_dir
        from relval.workflows.trends import trends_for
        from relval.workflows.trends_page import write_page

        target = prepare_output_dir(out_dir or Path(f"trends-{campaign}"))  # a bad -o costs no download
        trends = trends_for(campaign, resolve_url(archive), last)
        page = write_page(trends, target)
        if as_json:
            print(json.dumps({"page": str(page), **trends.to_json()}, indent=2))
            return
        changed = sum(1 for o in trends.objects if o.changed_at is not None)
        err.print(f"{len(trends.releases)} release(s), {len(trends.objects)} object(s), {changed} grade "
                  f"change(s), {len(trends.stages)} stage(s)", highlight=False)
        print(page)
