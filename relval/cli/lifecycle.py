"""`relval stack new`, `up`, `down`, `outputs`: one Pulumi stack per release."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from relval.cli.console import err, out
from relval.errors import RelvalError
from relval.cli.submit import (ARCHIVE_OPTION, IDENTITY_OPTION, REFERENCE_RELEASE_OPTION, RELEASE_OPTION,
                               REMOTE_BASE_OPTION, SSH_CONFIG_OPTION, SSH_PORT_OPTION,
                               SSH_USER_OPTION, head_options)


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

    @stack_app.command("name")
    def stack_name(
        release: Optional[str] = typer.Argument(None, help="The release ('::' may be written '--')."),
        tag: Optional[str] = typer.Option(None, "--tag", help="Or a tag validate/<release> ('::' as '--')."),
        reference: Optional[str] = typer.Option(None, "--reference",
                                                help="A reference release, either form: printed with '::' restored."),
        shell: bool = typer.Option(False, "--shell", help="Print RELEASE=, STACK=, RELEASE_REF= for `eval`."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """The stack of a release (one per release), from the release or from its tag."""
        import shlex

        from relval.release_ref import pipeline_release

        resolved = pipeline_release(release, tag, reference)
        if as_json:
            print(json.dumps(resolved.to_json(), indent=2))
        elif shell:
            pairs = [("RELEASE", resolved.release), ("STACK", resolved.stack), ("RELEASE_REF", resolved.ref)]
            if resolved.reference:
                pairs.append(("REFERENCE_RELEASE", resolved.reference))
            for key, value in pairs:
                print(f"export {key}={shlex.quote(value)}")
        else:
            print(resolved.stack)

    @app.command("up")
    def up_command(stack: str = typer.Option(..., "--stack", "-s", help="Stack to deploy."),
                   existing: str = typer.Option("reuse", "--existing",
                                                help="A stack already deployed: reuse (update in place, "
                                                     "campaigns resume) or replace (relval down first)."),
                   scaler_sync: bool = typer.Option(True, "--scaler-sync/--no-scaler-sync",
                                                    help="On a head the update kept, replace the elastic "
                                                         "scaler's files that differ from this relval's "
                                                         "(code, config, workers' user-data) over SSH and "
                                                         "restart it."),
                   ssh_user: Optional[str] = SSH_USER_OPTION,
                   ssh_port: Optional[int] = SSH_PORT_OPTION,
                   identity: Optional[Path] = IDENTITY_OPTION,
                   ssh_config: Optional[Path] = SSH_CONFIG_OPTION,
                   as_json: bool = typer.Option(False, "--json", help="Print the outputs as JSON.")) -> None:
        """Deploy (create or update) the stack with `pulumi up`, through the Automation API.
        A head that was already there keeps its user-data (and its queue): this relval's
        scaler files reach it over SSH instead. Exit 3 when they could not."""
        from relval.lifecycle import up_with_policy
        from relval.scaler_sync import deliver

        if identity is not None and not identity.is_file():
            raise RelvalError(f"--identity {identity}: no such file")
        head = head_options(None, ssh_user, ssh_port, identity, ssh_config)
        sync = (lambda outputs: deliver(stack, outputs, head, say=_stream)) if scaler_sync else None
        outputs = up_with_policy(stack, existing, on_output=_stream, scaler_sync=sync)
        if as_json:
            print(json.dumps(outputs, indent=2))
        else:
            for key, value in outputs.items():
                out.print(f"{key}: {value}", highlight=False)

    @app.command("unlock")
    def unlock_command(stack: str = typer.Option(..., "--stack", "-s", help="Stack to unlock.")) -> None:
        """Remove the lock a killed `up` or `destroy` left behind (`pulumi cancel`). Only when
        no update is running: a running one is left inconsistent."""
        from relval.infra.automation import unlock

        unlock(stack)
        out.print(f"stack {stack} unlocked", highlight=False)

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
        """Stop the scaler, delete everything carrying the stack's metadata (servers, volumes,
        floating IPs, ports, security groups, keypair, server group, scaler credential), then
        `pulumi destroy` and remove the stack. Exit 0 only with the cloud clean; 3 naming
        what is left or could not be listed; 2 without credentials or CLI. Safe to rerun."""
        from relval.lifecycle import down

        report = down(stack, on_output=_stream)
        if as_json:
            print(json.dumps(report.to_json(), indent=2))

    @app.command("campaign")
    def campaign_command(
        campaign: Path = typer.Argument(..., help="Campaign YAML file."),
        stack: str = typer.Option(..., "--stack", "-s", help="The release's stack."),
        keep: bool = typer.Option(False, "--keep", help="Leave the cluster up afterwards."),
        batch: str = typer.Option("condor", "--batch", help="condor (the workers) or local (the head)."),
        ssh_user: Optional[str] = SSH_USER_OPTION,
        ssh_port: Optional[int] = SSH_PORT_OPTION,
        identity: Optional[Path] = IDENTITY_OPTION,
        ssh_config: Optional[Path] = SSH_CONFIG_OPTION,
        remote_base: str = REMOTE_BASE_OPTION,
        release: Optional[str] = RELEASE_OPTION,
        reference_release: Optional[str] = REFERENCE_RELEASE_OPTION,
        stall_timeout: float = typer.Option(7200, "--stall-timeout", help="Stop following (exit 3) "
                                            "when no job starts or ends for this many seconds; "
                                            "make it longer than the longest job."),
        archive: Optional[str] = ARCHIVE_OPTION,
        timeout: Optional[str] = typer.Option(None, "--timeout", help="Stop (exit 3) after this many "
                                              "seconds, or 'auto': the campaign's upper bound from its "
                                              "stages' jobs, wall_time_s, retries and the pool's workers."),
        ceiling: Optional[float] = typer.Option(None, "--ceiling", help="Seconds left before an outer "
                                                "timeout (a CI job's) kills relval: it stops 600 s before."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object at the end."),
    ) -> None:
        """The whole validation: up, wait for the head, submit, follow, fetch the report and
        QA outputs into reports/<stack>/<campaign>/, verdict, archive, then down (unless --keep, and
        also after a failure). Exit code: 0 PASS (or JOBS_PASSED without compare:), 1 FAIL,
        2 bad input, 3 no verdict (reference missing, a step broke, nothing compared,
        archiving failed)."""
        from relval.campaign import preflight, run_campaign
        from relval.campaign_deadline import deadline_for
        from relval.campaign_steps import ClusterSteps
        from relval.infra.automation import require_cli
        from relval.infra.config_source import load_stack
        from relval.workflows.archive import resolve_url
        from relval.workflows.archive.store import store_outcome
        from relval.workflows.submit import check_batch

        # Bad input and a missing reference stop here, before anything is created.
        started = time.monotonic()
        check_batch(batch)
        loaded = preflight(campaign, release, reference_release)
        name = loaded.name
        _, stack_config = load_stack(stack)
        deadline = deadline_for(loaded, stack_config.workers.max, batch, timeout, ceiling)
        require_cli()
        err.print(f"[bold]relval campaign[/]: deadline: {escape(deadline.reason)}", highlight=False,
                  soft_wrap=True)
        steps = ClusterSteps(campaign, head_options(None, ssh_user, ssh_port, identity, ssh_config),
                             batch=batch, remote_base=remote_base, say=_stream, release=release,
                             reference_release=reference_release, stall_timeout_s=stall_timeout,
                             archive=resolve_url(archive),
                             deadline=None if deadline.seconds is None else started + deadline.seconds,
                             deadline_reason=deadline.reason)
        archive_url = steps.archive
        result = run_campaign(campaign, name, stack, steps, keep=keep,
                              archive=lambda fetched: store_outcome(fetched["result"], archive_url),
                              announce=lambda message: err.print(f"[bold]relval campaign[/]: "
                                                                 f"{escape(message)}", highlight=False))
        if as_json:
            print(json.dumps(result.to_json(), indent=2))
        else:
            no_qa = (": no QA comparison was made (the campaign has no compare: section)"
                     if result.verdict == "JOBS_PASSED" else "")
            out.print(f"verdict: {result.verdict or 'none'}{no_qa}"
                      + (f"  report: {result.report}" if result.report else ""), highlight=False)
            if result.error:
                err.print(f"[bold red]error:[/] {escape(result.error)}", highlight=False)
            if result.archive and result.archive.get("error"):
                err.print(f"[bold red]archive failed[/] (the verdict stands, exit 3): "
                          f"{escape(result.archive['error'])}", highlight=False)
            elif result.archive:
                out.print("archived: " + ", ".join(result.archive["runs"]), highlight=False)
        raise SystemExit(result.exit_code)
