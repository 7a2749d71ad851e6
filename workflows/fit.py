"""Jobs that cannot fit where they will run, found before anything runs (pure logic).

    Capacity(cores, memory_mb, where)       the largest job a place can hold
    misfits(campaign, capacity) -> list[str]
        One line per stage whose `resources` exceed the capacity, naming the file, the
        key, what is asked and what is there. Makeflow would keep such a job waiting for
        ever (locally) and HTCondor would leave it idle (on a stack).
    local_capacity() -> Capacity            this machine's cores (affinity) and memory
    parse_capacity(text, where) -> Capacity | None
        `CORES MEMORY_MB` lines (as the head's probe prints them): the largest of each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from relval.workflows.campaign import Campaign


@dataclass(frozen=True)
class Capacity:
    cores: int | None
    memory_mb: int | None
    where: str                       # "this machine", "the worker flavor of stack s", ...


def misfits(campaign: Campaign, capacity: Capacity) -> list[str]:
    problems = []
    for index, stage in enumerate(campaign.stages):
        key = f"{campaign.source}: stages[{index}].resources"
        asked = stage.resources
        if capacity.cores is not None and asked.cores is not None and asked.cores > capacity.cores:
            problems.append(f"{key}.cores: {asked.cores} cores do not fit {capacity.where} "
                            f"({capacity.cores} cores): stage {stage.name} would never run")
        if (capacity.memory_mb is not None and asked.memory_mb is not None
                and asked.memory_mb > capacity.memory_mb):
            problems.append(f"{key}.memory_mb: {asked.memory_mb} MB does not fit {capacity.where} "
                            f"({capacity.memory_mb} MB of memory): stage {stage.name} would never run")
    return problems


def local_capacity() -> Capacity:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError):
        memory = None
    return Capacity(cores, memory, "this machine")


def parse_capacity(text: str, where: str) -> Capacity | None:
    """The largest cores and memory over `CORES MEMORY_MB` lines; None when there are none."""
    cores = memory = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 2:
            continue
        try:
            c, m = int(float(fields[0])), int(float(fields[1]))
        except ValueError:
            continue
        cores, memory = max(cores or 0, c), max(memory or 0, m)
    return None if cores is None else Capacity(cores, memory, where)
