"""`relval stack new`, `up`, `down`, `outputs`: one Pulumi stack per release."""

from __future__ import annotations

import json
from typing import Optional

import typer

from relval.cli.console import err, out


def _stream(line: str) -> None:
    err.print(line.rstrip("\n"), highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    stack_app = typer.Typer(help="Create stack files (one per release).", no_args_is_help=True)
    app.add_typer(stack_app, name="stack")

    @stack_app.command("new")
    def stack_new(
        release: str = typer.Argument(..., help="The release under validation."),
        template: str = typer.Option("alice-relval", "--from", help="Template stack to copy."),
        name: Optional[str] = typer.Option(None, "--name", help="Stack name (default: a slug of the release)."),
    ) -> None:
        """Create Pulumi.<name>.yaml from the template stack with relval:release set."""
        from relval.infra.stack_new import new_stack

        path = new_stack(release, template=template, name=name)
        out.print(f"created {path.name} (stack {path.name[len('Pulumi.'):-len('.yaml')]})",
                  highlight=False)

    @app.command("up")
    def up_command(stack: str = typer.Option(..., "--stack", "-s", help="Stack to deploy."),
                   as_json: bool = typer.Option(False, "--json", help="Print the outputs as JSON.")) -> None:
        """Deploy (create or update) the stack with `pulumi up`, through the Automation API."""
        from relval.infra.automation import up

        outputs = up(stack, on_output=_stream)
        if as_json:
            print(json.dumps(outputs, indent=2))
        else:
            for key, value in outputs.items():
                out.print(f"{key}: {value}", highlight=False)

    @app.command("outputs")
    def outputs_command(stack: str = typer.Option(..., "--stack", "-s", help="Stack to read."),
                        show_secrets: bool = typer.Option(False, "--show-secrets",
                                                          help="Print secret outputs in clear.")) -> None:
        """Print the stack's outputs as JSON."""
        from relval.infra.automation import outputs

        print(json.dumps(outputs(stack, show_secrets=show_secrets), indent=2))

    @app.command("down")
    def down_command(stack: str = typer.Option(..., "--stack", "-s", help="Stack to tear down."),
                     as_json: bool = typer.Option(False, "--json", help="Print a JSON report.")) -> None:
        """Delete every VM of the stack (scaler-made ones too), then `pulumi destroy`. Safe to rerun."""
        from relval.lifecycle import down

        report = down(stack, on_output=_stream)
        if as_json:
            print(json.dumps(report.to_json(), indent=2))
