"""Storing a run's results in the archive, after the verdict and before any teardown.

    store_outcome(outcome, url, retries=2, ...) -> ArchiveReport

One archive run per chain that ran here: the candidate (verdict, QA report, compared
outputs) and, when the reference chain ran and finished, the reference release too, so
that the next campaign against it can take it from the archive instead of rerunning it.
A failure never changes the verdict: it is reported (`ArchiveReport.error`), and the
command's exit code becomes 3.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from relval.workflows.archive import open_archive
from relval.workflows.archive.backend import ArchiveError, adler32_of, join_key
from relval.workflows.archive.compat import fingerprint
from relval.workflows.archive.transfer import upload_verified

if TYPE_CHECKING:
    from relval.workflows.run import Chain, RunOutcome

INDEX = "index.json"
FORMAT = "relval-archive/1"


@dataclass
class ArchiveReport:
    url: str
    runs: list[str] = field(default_factory=list)   # run paths stored (campaign/release/timestamp)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "runs": self.runs, "files": self.files, "bytes": self.bytes,
                "seconds": round(self.seconds, 2), "error": self.error}


def exit_code(verdict_exit: int, report: ArchiveReport | None) -> int:
    """The verdict's exit code, or 3 when archiving failed (the verdict itself stands)."""
    from relval.errors import EXIT_NO_VERDICT

    return EXIT_NO_VERDICT if report is not None and not report.ok else verdict_exit


def release_key(release: str) -> str:
    """One path component per release (`toy/v1` -> `toy-v1-<digest>`), as chain directories."""
    from relval.workflows.run import chain_dir_name

    return chain_dir_name("r", release)[2:]


def timestamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def run_path(campaign: str, release: str, stamp: str) -> str:
    return join_key(campaign, release_key(release), stamp)


def store_outcome(outcome: "RunOutcome", url: str, retries: int = 2, backoff_s: float = 1.0,
                  sleep: Callable[[float], None] = time.sleep,
                  now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                  clock: Callable[[], float] = time.monotonic) -> ArchiveReport:
    report = ArchiveReport(url)
    start = clock()
    try:
        backend = open_archive(url)
        stamp = timestamp(now())
        for chain in outcome.workflows:
            result = next(r for r in outcome.chains if r.role == chain.role)
            if chain.role == "reference" and (result.failed or result.not_run):
                continue  # an unfinished reference is no use as one later
            path = _free_path(backend, run_path(outcome.campaign.name, chain.release, stamp))
            with tempfile.TemporaryDirectory(prefix="relval-archive-") as tmp:
                pairs, index = run_contents(outcome, chain, result, path, stamp, Path(tmp))
                report.bytes += upload_verified(backend, pairs, retries, backoff_s, sleep)
                # The index goes last: a run directory without one never finished uploading.
                index_file = Path(tmp) / INDEX
                index_file.write_text(json.dumps(index, indent=2) + "\n")
                report.bytes += upload_verified(backend, [(index_file, join_key(path, INDEX))],
                                                retries, backoff_s, sleep)
                report.files += len(pairs) + 1
            report.runs.append(path)
    except ArchiveError as error:
        report.error = str(error)
    report.seconds = clock() - start
    return report


def _free_path(backend, path: str) -> str:
    """Two runs within one second get `-2`, `-3`... rather than mixing their files."""
    candidate, n = path, 1
    while backend.list(candidate):
        n += 1
        candidate = f"{path}-{n}"
    return candidate


def run_contents(outcome: "RunOutcome", chain: "Chain", result, path: str, stamp: str,
                 scratch: Path) -> tuple[list[tuple[Path, str]], dict[str, Any]]:
    """The (local file, key) pairs of one chain's archive run, and its index."""
    from relval.workflows.run import compared_files, job_log_tail

    pairs: list[tuple[Path, str]] = []
    for name in compared_files(chain):
        if (chain.directory / name).is_file():
            pairs.append((chain.directory / name, f"outputs/{name}"))
    candidate = chain.role == "candidate"
    if candidate:
        for name in ("report.md", "report.json"):
            if (outcome.workdir / name).is_file():
                pairs.append((outcome.workdir / name, name))
        qa_dir = outcome.workdir / "qa"
        if outcome.qa is not None and qa_dir.is_dir():  # only this run's QA, never a stale one
            for item in sorted(qa_dir.rglob("*")):
                relative = item.relative_to(qa_dir)
                if item.is_file() and not item.is_symlink() and relative.parts[0] != "inputs":
                    pairs.append((item, f"qa/{relative.as_posix()}"))
    tails = []
    for node, job in enumerate(chain.workflow.graph.jobs):
        log, tail = job_log_tail(chain.directory, node, job.log)
        tails.append({"stage": job.stage, "unit": job.unit, "log": job.log, "tail": tail})
    logs = scratch / "logs.json"
    logs.write_text(json.dumps(tails, indent=1) + "\n")
    pairs.append((logs, "logs.json"))
    metrics = _resources(chain)
    if metrics is not None:
        resources = scratch / "resources.json"
        resources.write_text(json.dumps(metrics, indent=1) + "\n")
        pairs.append((resources, "resources.json"))
    pairs = [(local, join_key(path, key)) for local, key in pairs]
    files = [{"key": key[len(path) + 1:], "size": local.stat().st_size, "adler32": adler32_of(local)}
             for local, key in pairs]
    doc = outcome.to_json()
    index = {
        "format": FORMAT,
        "campaign": outcome.campaign.name,
        "release": chain.release,
        "run": path.rsplit("/", 1)[-1],
        "path": path,
        "role": chain.role,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "jobs": {"total": result.total, "done": result.done, "failed": result.failed},
        "complete": result.failed == 0 and result.not_run == 0,
        "verdict": doc["verdict"] if candidate else None,
        "exit_code": doc["exit_code"] if candidate else None,
        "reference": (doc.get("reference_source") or {"release": doc["reference"]}) if candidate else None,
        "qa": doc["qa"] if candidate else None,
        "fingerprint": fingerprint(chain.workflow.campaign),
        "compared_files": [f"outputs/{n}" for n in compared_files(chain)],
        "files": files,
    }
    return pairs, index


def _resources(chain: "Chain") -> dict | None:
    try:
        from relval.workflows.resources import collect
    except ImportError:
        return None
    return collect(chain.workflow.graph.jobs, chain.directory)
