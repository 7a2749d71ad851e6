"""The campaign verdict: job outcomes plus, when available, the QA comparison.

    decide(chains: Sequence[ChainResult], qa: Mapping | object | None = None) -> Verdict

PASS needs every job of every chain (candidate and reference) done, and, when a QA
summary is given, the QA to pass. A QA summary is read leniently because it comes from
`relval.workflows.qa`: a mapping or an object with `verdict` ("PASS", "WARNING" or
"FAIL"; WARNING passes), or
`passed` (bool), or a worst grade under `worst`/`grade`/`status` ("GOOD", "WARNING",
"BAD"; WARNING passes). Without a QA summary the verdict comes from the jobs alone and
`Verdict.qa_used` is False, which the report states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class FailedJob:
    stage: str
    unit: str
    log_tail: str
    release: str = ""
    log: str = ""

    def to_json(self) -> dict:
        return {"stage": self.stage, "unit": self.unit, "log_tail": self.log_tail,
                "release": self.release, "log": self.log}


@dataclass(frozen=True)
class ChainResult:
    """How one chain (the release under validation, or the reference) ended."""

    role: str                  # "candidate" or "reference"
    release: str
    total: int
    done: int
    failed: int
    failed_jobs: tuple[FailedJob, ...] = ()
    directory: str = ""
    state: str = ""

    @property
    def not_run(self) -> int:
        return self.total - self.done - self.failed


@dataclass(frozen=True)
class Verdict:
    verdict: str                       # PASS or FAIL
    reasons: tuple[str, ...] = ()
    qa_used: bool = False
    qa_passed: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"


def _get(summary: Any, key: str) -> Any:
    if isinstance(summary, Mapping):
        return summary.get(key)
    return getattr(summary, key, None)


def qa_passed(summary: Any) -> bool | None:
    """True/False from a QA summary, None when it says nothing we understand."""
    verdict = _get(summary, "verdict")
    if isinstance(verdict, str) and verdict.upper() in ("PASS", "WARNING", "FAIL"):
        return verdict.upper() != "FAIL"  # WARNING passes with warnings
    passed = _get(summary, "passed")
    if isinstance(passed, bool):
        return passed
    for key in ("worst", "grade", "status"):
        grade = _get(summary, key)
        if isinstance(grade, str) and grade.upper() in ("GOOD", "WARNING", "BAD"):
            return grade.upper() != "BAD"
    return None


def decide(chains: Sequence[ChainResult], qa: Any = None) -> Verdict:
    reasons: list[str] = []
    notes: list[str] = []
    for chain in chains:
        if chain.failed:
            reasons.append(f"{chain.role} {chain.release}: {chain.failed} of {chain.total} jobs failed")
        if chain.not_run:
            reasons.append(f"{chain.role} {chain.release}: {chain.not_run} of {chain.total} jobs did not run")
    qa_ok = None
    if qa is None:
        notes.append("no QA comparison: the verdict comes from the jobs alone")
    else:
        qa_ok = qa_passed(qa)
        if qa_ok is None:
            reasons.append("the QA summary has no verdict relval understands")
        elif not qa_ok:
            reasons.append("QA comparison with the reference failed")
    verdict = "PASS" if not reasons and bool(chains) else "FAIL"
    if not chains:
        reasons.append("no chain ran")
    return Verdict(verdict, tuple(reasons), qa is not None, qa_ok, tuple(notes))
