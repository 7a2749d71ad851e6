"""A rule reruns exactly when it changed: fingerprints and the resume plan (pure).

    rule_fingerprints(graph, wrapper_text, aux_digests) -> list[str]
        One digest per job (in node order) over everything that decides its outputs: its
        command, output names, the job wrapper (release, setup, environment, crash
        patterns), the contents of its auxiliary files and its parents' fingerprints,
        so a change reruns the rule and everything downstream.
    plan_resume(graph, fingerprints, old_fingerprints, old_log, present, now_us) -> ResumePlan
        Which jobs keep their outputs, which files are stale, and the transaction log
        makeflow must resume from.

Why relval does this itself: makeflow recovers node states from its log by node id
only. After an edit the ids can point at other rules, and makeflow then reports
"nothing left to do" over stale outputs. So whenever the rules changed, relval deletes
the outputs of every rule that is not provably unchanged and complete, and writes a
fresh log that marks exactly the kept rules complete under their new ids (node lines
and `# FILE name 2 size` lines, which makeflow's recovery reads; `# CATEGORY` and
`# TARGETS` lines for `relval status`). The old log is kept beside it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from relval.workflows.graph import JobGraph
from relval.workflows.status import COMPLETE, LogState

STATE_FILE = ".relval-rules.json"
FILE_EXISTS = 2  # makeflow's file state "exists" in `# FILE ts name state size` lines


def rule_fingerprints(graph: JobGraph, wrapper_text: str, aux_digests: dict[str, str]) -> list[str]:
    wrapper = hashlib.sha256(wrapper_text.encode()).hexdigest()
    prints: list[str] = []
    producer = graph._producer
    for job in graph.jobs:
        h = hashlib.sha256()
        h.update("\0".join((wrapper, job.command, *job.outputs, job.log)).encode())
        if job.tolerant or job.accept is not None:  # min_success_fraction changes the rule
            h.update(f"\0tolerance\0{job.tolerant}\0{job.accept}".encode())
        for name in job.aux:
            h.update(b"\0aux\0" + aux_digests[name].encode())
        for path in job.inputs:
            index = producer.get(path)
            h.update(b"\0in\0" + (prints[index] if index is not None else path).encode())
        prints.append(h.hexdigest())
    return prints


def state_document(graph: JobGraph, fingerprints: list[str]) -> bytes:
    """The state file: each rule's fingerprint by its log name (unique per rule)."""
    rules = {job.log: fp for job, fp in zip(graph.jobs, fingerprints)}
    return (json.dumps({"version": 1, "rules": rules}, sort_keys=True) + "\n").encode()


def read_state(data: bytes | None) -> dict[str, str]:
    try:
        doc = json.loads(data or b"{}")
        return {str(k): str(v) for k, v in doc.get("rules", {}).items()}
    except (ValueError, AttributeError):
        return {}


@dataclass
class ResumePlan:
    kept: set[int] = field(default_factory=set)      # new node ids whose outputs are reused
    stale: list[str] = field(default_factory=list)   # existing files to delete before running
    log: bytes | None = None                          # the new log; None: resume the old one as is

    @property
    def changed(self) -> bool:
        return self.log is not None


def old_completions(old_log: bytes, keys: set[str]) -> set[str]:
    """The rules (by log name) that the old log shows complete."""
    state = LogState()
    state.feed(old_log if old_log.endswith(b"\n") else old_log + b"\n")
    summary = state.summary()
    done = set()
    for node, targets in summary.node_targets.items():
        if summary.node_states.get(node) == COMPLETE:
            done.update(t for t in targets if t in keys)
    return done


def candidates(graph: JobGraph, fingerprints: list[str], old_fingerprints: dict[str, str],
               old_log: bytes) -> list[int]:
    """Jobs that may keep their outputs: same fingerprint, complete in the old log, and
    every parent kept too (a rerun parent reruns its children)."""
    done = old_completions(old_log, set(old_fingerprints))
    kept: set[int] = set()
    for i, (job, fp) in enumerate(zip(graph.jobs, fingerprints)):
        if old_fingerprints.get(job.log) == fp and job.log in done \
                and all(p in kept for p in graph.parents(i)):
            kept.add(i)
    return sorted(kept)


def plan_resume(graph: JobGraph, fingerprints: list[str], old_fingerprints: dict[str, str],
                old_log: bytes | None, present: dict[str, int], now_us: int,
                unchanged: bool = False) -> ResumePlan:
    """`present` maps each existing output file to its size. `unchanged`: the Makeflow
    file and the fingerprints are the same as last time, so the old log is still right."""
    if old_log is None:
        # First run: makeflow runs every rule and overwrites whatever is there.
        return ResumePlan()
    if unchanged:
        return ResumePlan()
    kept = set()
    for i in candidates(graph, fingerprints, old_fingerprints, old_log):
        job = graph.jobs[i]
        if all(name in present for name in (*job.outputs, job.log)) and \
                all(p in kept for p in graph.parents(i)):
            kept.add(i)
    stale = [name for i, job in enumerate(graph.jobs) if i not in kept
             for name in (*job.outputs, job.log) if name in present]
    return ResumePlan(kept, stale, resume_log(graph, kept, present, now_us))


def resume_log(graph: JobGraph, kept: set[int], present: dict[str, int], now_us: int) -> bytes:
    total = len(graph.jobs)
    lines = []
    for i, job in enumerate(graph.jobs):
        lines.append(f"# CATEGORY\t{i}\t{job.stage}")
        lines.append("# TARGETS\t" + "\t".join((str(i), *job.outputs, job.log)))
    for count, i in enumerate(sorted(kept), 1):
        job = graph.jobs[i]
        for name in (*job.outputs, job.log):
            lines.append(f"# FILE {now_us} {name} {FILE_EXISTS} {present[name]}")
        lines.append(f"{now_us} {i} {COMPLETE} 0 {total - count} 0 {count} 0 0 {total}")
    return ("\n".join(lines) + "\n").encode()
