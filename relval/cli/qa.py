"""`relval qa`: compare QA histograms with the reference release, merge QA files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Tuple

import typer
from rich.markup import escape
from rich.table import Table

from relval.cli.console import err, out, progress_bar, report_problems

_COLOURS = {"BAD": "red", "WARNING": "yellow", "GOOD": "green", "NOT_COMPARED": "dim"}
_SHOWN = 30  # rows of the terminal table; everything is in Summary.json / --json


def _compare(new: Path, ref: Path, out_dir: Optional[Path], thresholds: Optional[Path], plots: bool,
             grid: bool, labels: Optional[Tuple[str, str]], include: List[str], exclude: List[str]):
    from relval.workflows.qa import compare_paths

    with progress_bar() as bar:
        task = bar.add_task("comparing", total=None)
        return compare_paths(new, ref, out_dir=out_dir, thresholds=thresholds, plots=plots, grid=grid,
                             labels=labels, include=include or (), exclude=exclude or (),
                             progress=lambda done, total: bar.update(task, completed=done, total=total))


def _print_summary(summary) -> None:
    counts = summary.counts
    colour = {"PASS": "green", "WARNING": "yellow", "FAIL": "red", "NO_VERDICT": "magenta"}[summary.verdict]
    out.print(f"[bold {colour}]{summary.verdict}[/]: " + ", ".join(f"{n} {g}" for g, n in counts.items()),
              highlight=False)
    for reason in summary.no_verdict:
        out.print(f"incomplete: {escape(reason)}", highlight=False)
    rows = [r for r in summary.sorted_results() if r.grade != "GOOD"]
    if rows:
        table = Table(show_edge=False)
        for column in ("grade", "object", "reason"):
            table.add_column(column, overflow="fold")
        for r in rows[:_SHOWN]:
            table.add_row(f"[{_COLOURS[r.grade]}]{r.grade}[/]", escape(r.name), escape(r.reason))
        out.print(table)
        if len(rows) > _SHOWN:
            out.print(f"... and {len(rows) - _SHOWN} more (see Summary.json or --json)", highlight=False)
    for label, path in (("summary", summary.summary_json), ("report", summary.html), ("junit", summary.junit)):
        if path is not None:
            out.print(f"{label}: {escape(str(path))}", highlight=False)


def _finish(summary, as_json: bool) -> None:
    """Warnings on stderr, the summary on stdout, errors last, and the exit code."""
    for warning in summary.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=1))
    else:
        _print_summary(summary)
    report_problems(summary.errors)  # bad input found after grading: exit 2, results kept
    if summary.exit_code:
        # SystemExit, not typer.Exit: main() runs click with standalone_mode=False,
        # which turns typer.Exit into a return value that is then dropped.
        raise SystemExit(summary.exit_code)


def _coloured(grade: str) -> str:
    return f"[{_COLOURS[grade]}]{grade}[/]" if grade in _COLOURS else grade


def register(app: typer.Typer) -> None:
    qa = typer.Typer(help="QA: compare histograms with the reference release; merge QA files.",
                     no_args_is_help=True)
    app.add_typer(qa, name="qa")

    @qa.command("compare")
    def compare_command(
        new: Path = typer.Argument(..., help="New release: a ROOT file or a directory of ROOT files."),
        ref: Path = typer.Argument(..., help="Reference release: same layout as NEW."),
        out_dir: Optional[Path] = typer.Option(
            None, "--output", "-o", help="Write Summary.json, index.html, junit.xml and plots here."),
        thresholds: Optional[Path] = typer.Option(
            None, "--thresholds", help="YAML with per-test and per-glob WARNING/BAD thresholds."),
        plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw overlays for WARNING/BAD."),
        grid: bool = typer.Option(True, "--grid/--no-grid",
                                  help="Let the report draw every histogram (GOOD ones too) in the browser."),
        labels: Optional[Tuple[str, str]] = typer.Option(
            None, "--labels", help="Names of the two releases for the report, e.g. --labels v2 v1."),
        include: Optional[List[str]] = typer.Option(
            None, "--include", help="Compare only objects matching this glob (repeatable; name or path in file)."),
        exclude: Optional[List[str]] = typer.Option(
            None, "--exclude", help="Skip objects matching this glob (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary (Summary.json) as JSON."),
    ) -> None:
        """Grade every object GOOD/WARNING/BAD.

        Exit 0: no BAD; 1: any BAD; 2: bad input; 3: no verdict (nothing comparable was compared).
        """
        _finish(_compare(new, ref, out_dir, thresholds, plots, grid, labels, include, exclude), as_json)

    @qa.command("regrade")
    def regrade_command(
        results: Path = typer.Argument(..., help="A QA result directory (or its Summary.json)."),
        thresholds: Path = typer.Option(..., "--thresholds", help="The thresholds YAML to grade with."),
        output: Optional[Path] = typer.Option(
            None, "--output", "-o", help="Write the re-graded Summary.json, index.html and junit.xml here."),
        as_json: bool = typer.Option(False, "--json", help="Print the re-graded summary as JSON."),
    ) -> None:
        """Re-grade saved results under new thresholds, without reading any ROOT file.

        Exit codes as for `qa compare`.
        """
        from relval.workflows.qa.results import regrade_results

        _finish(regrade_results(results, thresholds, output), as_json)

    @qa.command("diff")
    def diff_command(
        a: Path = typer.Argument(..., help="The earlier QA result directory (or Summary.json)."),
        b: Path = typer.Argument(..., help="The later one."),
        as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
    ) -> None:
        """List the objects whose grade changed between two result sets. Exit 0: none, 1: some, 2: bad input."""
        from relval.workflows.qa.results import grade_changes, load_summary

        changes = grade_changes(load_summary(a), load_summary(b))
        if as_json:
            print(json.dumps([c.to_dict() for c in changes], indent=1))
        elif not changes:
            out.print("no grade changed", highlight=False)
        else:
            table = Table(show_edge=False)
            for column in ("object", "before", "after", "reason"):
                table.add_column(column, overflow="fold")
            for c in changes:
                table.add_row(escape(c.name), _coloured(c.before), _coloured(c.after), escape(c.reason))
            out.print(table)
            out.print(f"{len(changes)} object(s) changed grade", highlight=False)
        if changes:
            raise SystemExit(1)

    @qa.command("merge")
    def merge_command(
        inputs: List[Path] = typer.Argument(..., help="ROOT files to merge."),
        output: Path = typer.Option(..., "--output", "-o", help="The merged ROOT file (overwritten)."),
        as_json: bool = typer.Option(False, "--json", help="Print what was merged as JSON."),
    ) -> None:
        """Sum histograms with the same path across files, like hadd (counts and sumw2); concatenate trees
        of numbers; QC files object by object. What is not merged is listed, one line each."""
        from relval.workflows.qa import merge_files

        result = merge_files(list(inputs), output)
        if as_json:
            print(json.dumps(result.to_dict(), indent=1))
            return
        out.print(f"merged {len(result.merged)} object(s) from {len(result.inputs)} files into "
                  f"{escape(str(result.output))}", highlight=False)
        for note in result.notes:
            err.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
        for path, classname in result.skipped:  # one line each, never silently
            err.print(f"[yellow]warning:[/] {escape(path)}: {escape(result.reason(path, classname))}",
                      highlight=False, soft_wrap=True)
