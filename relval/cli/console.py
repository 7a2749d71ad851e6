"""Console setup: rich output on stdout, logs and problems on stderr."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from relval.errors import RelvalError

out = Console()
err = Console(stderr=True)
_state = {"progress": True}


def setup(verbose: bool = False, log_file: str | None = None, progress: bool = True) -> None:
    handlers: list[logging.Handler] = [RichHandler(console=err, show_path=False, show_time=False)]
    if log_file:
        try:
            file_handler = logging.FileHandler(log_file)
        except OSError as error:
            raise RelvalError(f"{log_file}: cannot write the log file ({error.strerror or error})") from None
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file_handler)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=handlers,
                        format="%(message)s", force=True)
    # Pulumi's SDK and grpc log chatter at INFO; keep it out of the user's way.
    for noisy in ("pulumi", "grpc", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.DEBUG)
    _state["progress"] = progress and err.is_terminal


def report_problems(problems: list[str]) -> None:
    for problem in problems:
        err.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A progress display on stderr; disabled when not a terminal or with --no-progress."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, disable=not _state["progress"])
    with progress:
        yield progress
