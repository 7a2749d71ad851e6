"""`relval submit`: run a campaign on a stack's head node over SSH."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from relval.cli.console import err


def head_options(outputs: Optional[Path], ssh_user: Optional[str], ssh_port: Optional[int],
                 identity: Optional[Path], ssh_config: Optional[Path]):
    """The shared SSH options as the library takes them (also used by `relval status`)."""
    from relval.workflows.submit import HeadOptions

    return HeadOptions(outputs_file=outputs, ssh_user=ssh_user, ssh_port=ssh_port,
                       identity=identity, ssh_config=ssh_config)


# The options that say how to reach a stack's head; `relval status` reuses them.
OUTPUTS_OPTION = typer.Option(
    None, "--outputs", help="Read the stack outputs from this JSON file "
    "(`pulumi stack output --json`) instead of through Pulumi.")
SSH_USER_OPTION = typer.Option(None, "--ssh-user", help="Login user on the head "
                               "(default: the sshUser output, else 'relval').")
SSH_PORT_OPTION = typer.Option(None, "--ssh-port", help="SSH port of the head "
                               "(default: the headSshPort output, else 22).")
IDENTITY_OPTION = typer.Option(None, "--identity", "-i", help="Private key file; "
                               "default: ssh-agent and ssh's default keys.")
SSH_CONFIG_OPTION = typer.Option(None, "--ssh-config", help="ssh_config file to use instead of "
                                 "~/.ssh/config (/dev/null for none). The host key pin applies "
                                 "whatever it says.")
# The release overrides, shared by run, submit and campaign (the release pipeline passes
# `--release $RELEASE`).
RELEASE_OPTION = typer.Option(None, "--release", help="Validate this release instead of the "
                              "campaign file's `release`.")
REFERENCE_RELEASE_OPTION = typer.Option(None, "--reference-release", help="Compare with this "
                                        "reference release instead of the file's `reference`.")
# Where results are archived, shared by run and campaign.
ARCHIVE_OPTION = typer.Option(None, "--archive", help="Archive URL: a directory or file://, "
                              "s3://BUCKET/PREFIX[?endpoint=URL], root://HOST//PATH; default "
                              "$RELVAL_ARCHIVE, else ./relval-archive.")
REMOTE_BASE_OPTION = typer.Option("~/relval", "--remote-base",
                                  help="Directory on the head that holds one folder per campaign.")


def register(app: typer.Typer) -> None:
    @app.command("submit")
    def submit_command(
        campaign: Path = typer.Argument(..., help="Campaign YAML file."),
        stack: Optional[str] = typer.Option(None, "--stack", "-s", help="Stack whose head runs it."),
        outputs: Optional[Path] = OUTPUTS_OPTION,
        batch: str = typer.Option("condor", "--batch", help="condor: jobs go to the stack's "
                                  "workers; local: run them on the head itself."),
        ssh_user: Optional[str] = SSH_USER_OPTION,
        ssh_port: Optional[int] = SSH_PORT_OPTION,
        identity: Optional[Path] = IDENTITY_OPTION,
        ssh_config: Optional[Path] = SSH_CONFIG_OPTION,
        remote_base: str = REMOTE_BASE_OPTION,
        release: Optional[str] = RELEASE_OPTION,
        reference_release: Optional[str] = REFERENCE_RELEASE_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Run a campaign on a stack's head node: upload it, start makeflow detached.

        The head's SSH host key must match the stack's headHostPublicKey output (no trust
        on first use). Prints the campaign's directory on the head. Submitting the same
        campaign again resumes it. Exit 0 started, 2 bad input, 3 the head or the reference
        unreachable."""
        from relval.project import resolve_stack
        from relval.workflows.submit import submit

        result = submit(campaign, resolve_stack(stack), batch=batch,
                        head=head_options(outputs, ssh_user, ssh_port, identity, ssh_config),
                        remote_base=remote_base, release=release, reference_release=reference_release,
                        progress=lambda message: err.print(f"[dim]{escape(message)}[/]",
                                                           highlight=False, soft_wrap=True))
        if as_json:
            print(json.dumps(result.to_json(), indent=2))
            return
        verb = "resumed" if result.resumed else "started"
        for chain in result.chains:
            err.print(f"{verb} {escape(chain.name)} chain: makeflow pid {chain.pid} on "
                      f"{escape(result.head)}", highlight=False, soft_wrap=True)
        err.print(f"follow it with: relval status --stack {escape(result.stack)} "
                  f"--campaign {escape(result.campaign)}", highlight=False, soft_wrap=True)
        print(result.remote_dir)

    @app.command("cancel")
    def cancel_command(
        campaign: str = typer.Argument(..., help="Campaign name (as submitted)."),
        stack: Optional[str] = typer.Option(None, "--stack", "-s", help="Stack whose head runs it."),
        outputs: Optional[Path] = OUTPUTS_OPTION,
        ssh_user: Optional[str] = SSH_USER_OPTION,
        ssh_port: Optional[int] = SSH_PORT_OPTION,
        identity: Optional[Path] = IDENTITY_OPTION,
        ssh_config: Optional[Path] = SSH_CONFIG_OPTION,
        remote_base: str = REMOTE_BASE_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Stop a submitted campaign on a stack's head: its makeflows, their jobs and the
        jobs' processes (HTCondor jobs are removed). Outputs stay; submitting again resumes.
        Exit 0 stopped (or nothing was running), 2 never submitted there, 3 head unreachable."""
        from relval.project import resolve_stack
        from relval.workflows.submit import cancel

        stopped = cancel(campaign, resolve_stack(stack),
                         head_options(outputs, ssh_user, ssh_port, identity, ssh_config), remote_base)
        if as_json:
            print(json.dumps({"campaign": campaign, "chains": stopped}, indent=2))
            return
        for chain, pid in stopped.items():
            err.print(f"{escape(chain)}: " + (f"stopped (makeflow pid {pid})" if pid else "was not running"),
                      highlight=False)
