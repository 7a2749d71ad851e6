"""`relval cloudinit render`: the cloud-config a node of a stack boots with."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from relval.cli.console import err


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Inspect node contextualization (cloud-init).", no_args_is_help=True)
    app.add_typer(group, name="cloudinit")

    @group.command("render")
    def render_command(
        role: str = typer.Option(..., "--role", help="head or worker."),
        stack: Optional[str] = typer.Option(None, "--stack", "-s", help="Stack name (reads Pulumi.<stack>.yaml)."),
        config_file: Optional[Path] = typer.Option(None, "--config-file", help="A stack file to render instead."),
        output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
        show_secrets: bool = typer.Option(False, "--show-secrets",
                                          help="Print generated secrets instead of placeholders."),
    ) -> None:
        """Print the rendered #cloud-config of a head or worker node, as plain text."""
        from relval.cli.plan import run_plan
        from relval.errors import RelvalError
        from relval.infra.plan import user_data_of

        if role not in ("head", "worker"):
            raise RelvalError(f"--role must be head or worker (got {role!r})")
        text = user_data_of(run_plan(stack, config_file), role, show_secrets)
        if show_secrets:
            err.print("note: offline rendering; secrets are generated stand-ins, the deployed "
                      "stack's are in its encrypted Pulumi state", highlight=False)
        if output is None:
            print(text, end="")
        else:
            output.write_text(text)
            output.chmod(0o600)
            err.print(f"wrote {output}", highlight=False)
