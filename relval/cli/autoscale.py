"""`relval autoscale`: the elastic scaler's daemon and its simulator (parsing only)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from relval.cli.console import out


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Elastic worker pool: run the scaler, or simulate it against elastiq.",
                      no_args_is_help=True)
    app.add_typer(sub, name="autoscale")

    @sub.command("run")
    def run_command(
        config: Path = typer.Option(..., "--config", "-c", help="Scaler config file (YAML)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Log decisions, change nothing."),
        once: bool = typer.Option(False, "--once", help="Run one cycle and exit."),
    ) -> None:
        """Observe condor and the cloud, decide, boot/drain/delete workers; every pollSeconds."""
        from relval.autoscaler.daemon import run_from_file

        run_from_file(config, dry_run=dry_run, once=once)

    @sub.command("simulate")
    def simulate_command(
        scenario: Path = typer.Argument(..., help="Scenario file (see examples/scenarios/)."),
        policy: str = typer.Option("relval", "--policy", help="relval or elastiq."),
        as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
        trace: bool = typer.Option(False, "--trace", help="Log every decision with its virtual time."),
    ) -> None:
        """Run a scenario on a simulated cloud and condor pool with a virtual clock."""
        from relval.autoscaler.sim import simulate_file

        result = simulate_file(scenario, policy=policy, trace=trace).to_json()
        if as_json:
            print(json.dumps(result, indent=2))
            return
        table = Table(title=f"{result['scenario']} with the {result['policy']} policy",
                      title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in result.items():
            if key not in ("scenario", "policy"):
                table.add_row(key, "never" if value is None else
                              ", ".join(value) or "none" if isinstance(value, list) else f"{value:g}")
        out.print(table)
