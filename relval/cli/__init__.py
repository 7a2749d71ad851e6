"""The `relval` command: parsing only. Each command calls one library function.

Sub-command groups live in their own modules and are attached here.
Expected errors (`RelvalError`) print one line per problem and exit 2;
they never show a traceback.
"""

from __future__ import annotations

import sys

import typer

from relval.cli import (archive, autoscale, cloudinit_cmd, console, lifecycle, plan, qa, rehearse, submit,
                        trends, workflow)
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
autoscale.register(app)
qa.register(app)
workflow.register(app)
submit.register(app)
cloudinit_cmd.register(app)
lifecycle.register(app)
rehearse.register(app)
archive.register(app)
trends.register(app)


def main(argv: list[str] | None = None) -> None:
    # Standalone mode: typer itself reports usage errors (exit 2) and --help; only our
    # own expected errors need turning into one line each.
    try:
        app(args=argv, prog_name="relval")
    except RelvalError as error:
        console.report_problems(error.problems)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)
