"""`relval rehearse`: preview, up, up again, a scaler boot and down, with the real engine
against a simulated OpenStack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from relval.cli.console import err, out


def register(app: typer.Typer) -> None:
    @app.command("rehearse")
    def rehearse_command(
        stack: Optional[str] = typer.Option(None, "--stack", "-s", help="Stack to rehearse (reads Pulumi.<stack>.yaml)."),
        config_file: Optional[Path] = typer.Option(None, "--config-file", help="A stack file to rehearse instead."),
        as_json: bool = typer.Option(False, "--json", help="Print the steps, counts and inventories as JSON."),
        verbose_engine: bool = typer.Option(False, "--engine-output", help="Stream the engine's own output to stderr."),
    ) -> None:
        """Run a stack's whole lifecycle with the real Pulumi engine against a simulated
        OpenStack on loopback: nothing reaches a real cloud. Exit 0 when every step
        succeeded, the second up changed nothing and nothing was left; 1 when a check
        failed; 2 on bad input or without an engine (run `make engine`)."""
        from relval.rehearse import rehearse

        def show_step(step) -> None:
            mark = "ok" if step.ok else "FAILED"
            changes = ", ".join(f"{k} {v}" for k, v in sorted(step.changes.items()) if v)
            err.print(f"{step.name:<12} {step.seconds:7.1f} s  {mark}"
                      + (f"  ({changes})" if changes else "")
                      + (f"\n  {step.detail}" if step.detail else ""), highlight=False, markup=False)

        def stream(line: str) -> None:
            if verbose_engine:
                err.print(line.rstrip("\n"), highlight=False, markup=False)

        result = rehearse(stack, config_file, on_step=show_step, on_output=stream)
        if as_json:
            print(json.dumps(result.to_json(), indent=2))
        else:
            for name, problem in result.checks.items():
                out.print(f"check {name}: {problem or 'ok'}", highlight=False, markup=False)
            out.print(f"rehearsal of {result.stack}: {'PASS' if result.ok else 'FAIL'}", highlight=False)
        raise typer.Exit(0 if result.ok else 1)
