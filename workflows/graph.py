"""Expansion of a campaign into a job graph (pure: no files, no processes).

    expand(campaign: Campaign) -> JobGraph
        One `Job` per stage and unit, in stage (topological) order then unit order;
        that order is also the Makeflow node id order (node i is `graph.jobs[i]`).
        Raises RelvalError for problems that only show per unit ({inputs[i]} out of range).

Units per `per` level: `job` (one per MC job index), `chunk` (one per raw chunk),
`run`, `dataset`, `campaign`. A unit is identified by a key tuple, and two units share
data when one key is a prefix of the other: a fan-in stage takes the outputs of every
member unit, a fan-out stage (per chunk after a per-run merge) takes its run's output.
File names are flat and unique: `<dataset>.<job:04d>.<name>`, `<dataset>.<run>.<chunk:04d>.<name>`,
`<dataset>.<run>.<name>`, `<dataset>.<name>`, `<campaign>.<name>`; each job also writes
`<prefix>.<stage>.log`. A unit whose `after` stages produced nothing for it is skipped
and recorded in `graph.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relval.errors import RelvalError
from relval.workflows.campaign import Campaign, Stage
from relval.workflows.shell import quote_value


# Plain (not frozen) slotted dataclasses: a 100,000-job campaign creates this many, and
# frozen ones are noticeably slower to build.
@dataclass(slots=True)
class Unit:
    level: str
    key: tuple
    label: str      # human name: pp/0003, LHC18d/285064/0000, pp, smoke
    prefix: str     # file name prefix: pp.0003
    values: dict    # placeholder values of this unit


@dataclass(slots=True)
class Job:
    stage: str
    unit: str
    command: str                 # the payload command, placeholders substituted
    inputs: tuple[str, ...]      # data inputs produced by other jobs (or nothing)
    outputs: tuple[str, ...]
    log: str
    aux: tuple[str, ...] = ()    # auxiliary file basenames shipped with the job
    wall_time_s: int = 0
    tolerant: bool = False       # its failure is left out (stage min_success_fraction < 1)
    accept: float | None = None  # inputs may be left out upstream: the fraction it needs


@dataclass
class JobGraph:
    """Jobs in order, with duplicate names rejected as they are added."""

    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _producer: dict[str, int] = field(default_factory=dict)
    _names: set = field(default_factory=set)

    def add(self, job: Job) -> int:
        name = (job.stage, job.unit)
        if name in self._names:
            raise ValueError(f"duplicate job {job.stage} {job.unit}")
        producer = self._producer
        paths = (*job.outputs, job.log)
        if not producer.keys().isdisjoint(paths):
            path = next(p for p in paths if p in producer)
            other = self.jobs[producer[path]]
            raise ValueError(f"file {path} of {job.stage} {job.unit} is also written by "
                             f"{other.stage} {other.unit}")
        index = len(self.jobs)
        producer.update(dict.fromkeys(paths, index))
        self._names.add(name)
        self.jobs.append(job)
        return index

    def producer(self, path: str) -> Job | None:
        index = self._producer.get(path)
        return None if index is None else self.jobs[index]

    def parents(self, index: int) -> list[int]:
        return sorted({self._producer[p] for p in self.jobs[index].inputs if p in self._producer})

    def stages(self) -> list[str]:
        seen: dict[str, None] = {}
        for job in self.jobs:
            seen.setdefault(job.stage)
        return list(seen)

    def __len__(self) -> int:
        return len(self.jobs)


def units(campaign: Campaign, level: str) -> list[Unit]:
    out: list[Unit] = []
    if level == "campaign":
        return [Unit(level, (), campaign.name, campaign.name, {})]
    for d in campaign.datasets:
        params = {k: str(v) for k, v in d.parameters}
        if not d.has_level(level):
            continue
        if level == "dataset":
            out.append(Unit(level, (d.name,), d.name, d.name, {**params, "dataset": d.name}))
        elif level == "job":
            for j in range(d.jobs):
                out.append(Unit(level, (d.name, "job", j), f"{d.name}/{j:04d}", f"{d.name}.{j:04d}",
                                {**params, "dataset": d.name, "job": str(j), "index": str(j)}))
        elif level == "run":
            for run, _ in d.runs:
                out.append(Unit(level, (d.name, run), f"{d.name}/{run}", f"{d.name}.{run}",
                                {**params, "dataset": d.name, "run": run}))
        elif level == "chunk":
            for run, chunks in d.runs:
                for k, url in enumerate(chunks):
                    out.append(Unit(level, (d.name, run, k), f"{d.name}/{run}/{k:04d}",
                                    f"{d.name}.{run}.{k:04d}",
                                    {**params, "dataset": d.name, "run": run, "chunk": url,
                                     "index": str(k)}))
    return out


def stage_order(campaign: Campaign) -> list[Stage]:
    """Topological order of the stages, keeping declaration order where free."""
    done: list[Stage] = []
    placed: set[str] = set()
    pending = list(campaign.stages)
    while pending:
        for stage in pending:
            if all(a in placed for a in stage.after):
                done.append(stage)
                placed.add(stage.name)
                pending.remove(stage)
                break
        else:  # validation rejects cycles; this only guards direct callers
            raise RelvalError(f"{campaign.source}: stages: cycle among "
                              + ", ".join(s.name for s in pending))
    return done


def expand(campaign: Campaign) -> JobGraph:
    graph = JobGraph()
    problems: list[str] = []
    position = {stage.name: i for i, stage in enumerate(campaign.stages)}
    # outputs[stage][unit key] -> that unit's output file names
    outputs: dict[str, dict[tuple, tuple[str, ...]]] = {}
    level_units: dict[str, list[Unit]] = {}
    # Stages whose outputs may be empty placeholders of left-out jobs: the fraction their
    # consumers need (the strictest along the way).
    may_leave_out: dict[str, float] = {}
    for stage in stage_order(campaign):
        accept = max((may_leave_out[a] for a in stage.after if a in may_leave_out), default=None)
        tolerant = stage.min_success_fraction < 1
        if tolerant or accept is not None:
            may_leave_out[stage.name] = max(stage.min_success_fraction if tolerant else 0.0, accept or 0.0)
        aux = tuple(p.name for p in stage.files)
        wall = stage.resources.wall_time_s or 0
        produced: dict[tuple, tuple[str, ...]] = {}
        sources = [_collector(outputs[a], stage.per) for a in stage.after]
        where = f"{campaign.source}: stages[{position[stage.name]}].command"
        reported = False
        render = _compile(stage, campaign, inputs_at_run_time=accept is not None)
        if stage.per not in level_units:
            level_units[stage.per] = units(campaign, stage.per)
        suffixes = [f".{name}" for name in stage.outputs]
        log_suffix = f".{stage.name}.log"
        single = sources[0] if len(sources) == 1 else None
        for unit in level_units[stage.per]:
            if single is not None:
                inputs = single(unit.key)
            else:
                inputs = []
                for collect in sources:
                    inputs.extend(collect(unit.key))
            if stage.after and not inputs:
                graph.notes.append(f"stage {stage.name} skipped for {unit.label}: "
                                   f"no inputs from {', '.join(stage.after)}")
                continue
            prefix = unit.prefix
            files = tuple([prefix + suffix for suffix in suffixes])
            try:
                command = render(unit.values, inputs, files)
            except IndexError as error:
                if not reported:
                    problems.append(f"{where}: {error} for {unit.label}")
                    reported = True
                continue
            try:
                graph.add(Job(stage.name, unit.label, command, tuple(inputs), files,
                              prefix + log_suffix, aux, wall, tolerant, accept))
            except ValueError as error:
                problems.append(f"{campaign.source}: stages[{position[stage.name]}]: {error}")
                break
            produced[unit.key] = files
        outputs[stage.name] = produced
    if problems:
        raise RelvalError(problems)
    return graph


# Length of a unit key per level (see `units`); equal lengths mean the same level.
KEY_LENGTH = {"job": 3, "chunk": 3, "run": 2, "dataset": 1, "campaign": 0}


def _collector(produced: dict[tuple, tuple[str, ...]], level: str):
    """How a unit of `level` finds its inputs among another stage's outputs by key."""
    if not produced:
        return lambda key: ()
    length = len(next(iter(produced)))
    own = KEY_LENGTH[level]
    if own == length:            # same level: the unit's own counterpart
        return lambda key: produced.get(key, ())
    if own > length:             # coarser producer (fan-out): the unit that contains this one
        return lambda key: produced.get(key[:length], ())
    grouped: dict[tuple, list[str]] = {}   # finer producer (fan-in): every member's outputs
    for key, files in produced.items():
        grouped.setdefault(key[:own], []).extend(files)
    return lambda key: grouped.get(key, ())


# What `{inputs}` becomes when some inputs may be left out: the job wrapper sets it to
# the inputs that succeeded (plain file names, so unquoted expansion is safe).
INPUTS_VARIABLE = "${RELVAL_INPUTS}"


def _compile(stage: Stage, campaign: Campaign, inputs_at_run_time: bool = False):
    """Turn a stage's command into render(values, inputs, outputs) -> str, once per stage."""
    template: list[str] = []
    getters = []
    for seg in stage.segments:
        if seg.key is None:
            template.append(seg.text.replace("{", "{{").replace("}", "}}"))
            continue
        template.append("{%d}" % len(getters))
        key, index = seg.key, seg.index
        if key in ("inputs", "outputs"):
            position = 1 if key == "inputs" else 2
            if index is None and key == "inputs" and inputs_at_run_time:
                getters.append(lambda a: INPUTS_VARIABLE)
            elif index is None:
                getters.append(lambda a, p=position: " ".join(a[p]))
            else:
                getters.append(lambda a, p=position, i=index, k=key: _item(a[p], i, k))
        elif key == "release":  # values are quoted for their spot, so the payload gets their bytes
            getters.append(lambda a, v=quote_value(campaign.release, seg.quoting): v)
        elif key == "campaign":
            getters.append(lambda a, v=quote_value(campaign.name, seg.quoting): v)
        else:
            getters.append(lambda a, k=key, q=seg.quoting: quote_value(a[0][k], q))
    fmt = "".join(template).format

    def render(values: dict, inputs, outputs) -> str:
        args = (values, inputs, outputs)
        return fmt(*[get(args) for get in getters])

    return render


def _item(files, index: int, key: str) -> str:
    if index < len(files):
        return files[index]
    count = f"{len(files)} {key[:-1] if len(files) == 1 else key}"
    raise IndexError(f"{{{key}[{index}]}} is out of range ({count})")
