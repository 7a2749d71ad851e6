"""The `relval` command: parsing only. Each command calls one library function.

Sub-command groups live in their own modules and are attached here.
Expected errors (`RelvalError`) print one line per problem and exit 2;
they never show a traceback.
"""

from __future__ import annotations

import sys

import typer

from relval.cli import cloudinit_cmd, console, plan
from relval.errors import RelvalError

app = typer.Typer(
    name="relval",
    help="ALICE release validation on OpenStack: cluster as code, campaigns, QA verdicts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details to stderr."),
    log_file: str = typer.Option(None, "--log-file", help="Also write the log to this file."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
) -> None:
    console.setup(verbose=verbose, log_file=log_file, progress=not no_progress)


plan.register(app)
cloudinit_cmd.register(app)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=False)
    except RelvalError as error:
        console.report_problems(error.problems)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as error:  # click's own usage errors arrive here in non-standalone mode
        import click

        if isinstance(error, click.exceptions.ClickException):
            error.show()
            sys.exit(2 if isinstance(error, click.UsageError) else error.exit_code)
        if isinstance(error, click.exceptions.Exit):
            sys.exit(error.exit_code)
        if isinstance(error, click.exceptions.Abort):
            sys.exit(1)
        raise
