"""The campaign model: a validated, typed view of a campaign YAML file.

Public API (used by `relval.workflows.makeflow`, `run` and part B's `submit`):

    load_campaign(path: str | Path) -> Campaign
        Read and validate a campaign file. Raises RelvalError (exit 2) listing every
        problem as `<file name>: <key path>: <problem>`.
    parse_campaign(raw: dict, source: str = "campaign.yaml", base_dir: Path | None = None) -> Campaign
        The same on an already decoded document; `source` names it in messages and
        `base_dir` is where relative `files:` are looked up (see `resolve_aux_file`).

Validation covers the whole document before anything is written: key names and types,
duplicate names, unknown `per` levels, `after` targets and cycles, stage levels that can
never meet, resources, placeholders in commands, stages that apply to no dataset, and
auxiliary files. Expanding the job graph (`relval.workflows.graph.expand`) adds the
checks that need the units, such as `{inputs[i]}` out of range for some unit.

Placeholders in `command` are `{name}` or `{name[i]}`: `inputs`, `outputs`, `job`,
`chunk`, `run`, `dataset`, `release`, `campaign`, `index` and the dataset's `parameters`.
`{{` and `}}` are literal braces, and `${...}` is left to the shell.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


from relval.errors import RelvalError
from relval.fields import Field, Problems, load_yaml
from relval.workflows.shell import quote_state, quote_value

# Levels a stage can run per; job and chunk are the leaves of the two kinds of dataset.
LEVELS = ("job", "chunk", "run", "dataset", "campaign")
# What each level contains (transitively): a unit of the key holds units of these levels.
CONTAINS = {
    "job": (),
    "chunk": (),
    "run": ("chunk",),
    "dataset": ("job", "chunk", "run"),
    "campaign": ("job", "chunk", "run", "dataset"),
}
# Placeholders each level defines (besides inputs/outputs/release/campaign).
LEVEL_KEYS = {
    "job": ("job", "index", "dataset"),
    "chunk": ("chunk", "index", "run", "dataset"),
    "run": ("run", "dataset"),
    "dataset": ("dataset",),
    "campaign": (),
}
COMMON_KEYS = ("inputs", "outputs", "release", "campaign")
LIST_KEYS = ("inputs", "outputs")

CAMPAIGN_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
FILE_RE = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$")
PARAM_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VAR_RE = PARAM_RE  # environment variable names have the same shape
# {name} or {name[3]}; anything else inside braces is reported as malformed.
PLACEHOLDER_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")

# Names become parts of flat file names (`<dataset>.<run>.<chunk>.<output>`, plus `.log`)
# that must stay below the file system's 255 bytes and makeflow's 1,024-character token.
MAX_NAME = 64
MAX_FILE_NAME = 100


def too_long(name: str, limit: int = MAX_NAME) -> str | None:
    """The problem with a name longer than `limit` characters, or None."""
    if len(name) <= limit:
        return None
    return f"is too long ({len(name)} characters; at most {limit})"


# Names the generator itself writes into the workflow directory.
WRAPPER_NAME = "relval-job.sh"
RESERVED_FILES = (WRAPPER_NAME,)

TOP_KEYS = ("campaign", "release", "reference", "environment", "datasets", "stages",
            "compare", "validation", "retries", "description")
STAGE_KEYS = ("name", "per", "after", "command", "files", "outputs", "resources", "description",
              "min_success_fraction", "o2dpg")
RESOURCE_KEYS = ("cores", "memory_mb", "disk_mb", "wall_time_s")


@dataclass(frozen=True)
class Resources:
    cores: int | None = None
    memory_mb: int | None = None
    disk_mb: int | None = None
    wall_time_s: int | None = None


@dataclass(frozen=True)
class Dataset:
    """An MC dataset has `jobs`; a raw-data dataset has `runs` (run -> chunk URLs)."""

    name: str
    jobs: int | None = None
    runs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    parameters: tuple[tuple[str, Any], ...] = ()

    @property
    def kind(self) -> str:
        return "mc" if self.jobs is not None else "raw"

    def has_level(self, level: str) -> bool:
        if level in ("job",):
            return self.kind == "mc"
        if level in ("chunk", "run"):
            return self.kind == "raw"
        return True


@dataclass(frozen=True)
class Segment:
    """One piece of a parsed command: literal text, or a placeholder with an optional index
    and the shell quoting it stands in ("", "'" or '"'), so that its value can be quoted
    to reach the payload exactly."""

    text: str = ""
    key: str | None = None
    index: int | None = None
    quoting: str = ""


@dataclass(frozen=True)
class Stage:
    name: str
    per: str
    command: str
    outputs: tuple[str, ...]
    after: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    resources: Resources = field(default_factory=Resources)
    segments: tuple[Segment, ...] = ()
    # Below 1: a failed job of this stage is left out (its outputs empty) and the stages
    # after it run when at least this fraction of their inputs succeeded.
    min_success_fraction: float = 1.0

    def applies_to(self, dataset: Dataset) -> bool:
        return dataset.has_level(self.per)


@dataclass(frozen=True)
class Campaign:
    name: str
    release: str
    datasets: tuple[Dataset, ...]
    stages: tuple[Stage, ...]
    source: str = "campaign.yaml"
    reference_release: str | None = None
    reference_outputs: str | None = None
    setup: str = ""
    variables: tuple[tuple[str, str], ...] = ()
    compare_files: tuple[str, ...] = ()
    thresholds: dict = field(default_factory=dict)
    resource_rules: tuple = ()      # relval.workflows.resources.Rule, from compare.resources
    error_patterns: tuple[str, ...] = ()
    retries: int = 0

    def with_release(self, release: str) -> "Campaign":
        """The same chain for another release (how the reference chain is produced)."""
        return replace(self, release=release)

    def with_overrides(self, release: str | None = None, reference_release: str | None = None) -> "Campaign":
        """The campaign with `--release` / `--reference-release` from the command line in
        place of the file's (a reference release replaces `reference.outputs`)."""
        for option, value in (("--release", release), ("--reference-release", reference_release)):
            if value is not None and (not value.strip() or any(c.isspace() for c in value)):
                raise RelvalError(f"{option}: must be a release name without spaces (got {value!r})")
        campaign = self
        if release is not None:
            campaign = replace(campaign, release=release)
        if reference_release is not None:
            campaign = replace(campaign, reference_release=reference_release, reference_outputs=None)
        return campaign

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def load_campaign(path: str | Path) -> Campaign:
    path = Path(path)
    raw = load_yaml(path, "campaign file", label=path.name if path.exists() else str(path))
    return parse_campaign(raw, source=path.name, base_dir=path.resolve().parent)


def parse_campaign(raw: Any, source: str = "campaign.yaml", base_dir: Path | None = None) -> Campaign:
    problems = Problems(render=lambda p, m: f"{source}: {p}: {m}" if p else f"{source}: {m}")
    if not isinstance(raw, dict):
        problems.add("", "must be a mapping with campaign, release, datasets and stages")
        raise RelvalError(problems.messages)
    root = Field(raw, "", problems)
    root.reject_unknown(TOP_KEYS)

    name = root["campaign"].string(required=True)
    if name is not None and too_long(name):
        root["campaign"].error(too_long(name))
    elif name is not None and not CAMPAIGN_RE.match(name):
        root["campaign"].error(f"must match [a-z0-9][a-z0-9-]* (got {name!r})")
    release = root["release"].string(required=True)
    reference_release, reference_outputs = _reference(root["reference"])
    setup, variables = _environment(root["environment"])
    # Checks that join datasets and stages only run on complete sections: a dataset or
    # stage dropped for its own problem must not cause a second, misleading message.
    before = len(problems.messages)
    datasets = _datasets(root["datasets"])
    datasets_ok = len(problems.messages) == before
    before = len(problems.messages)
    stages = _stages(root["stages"], base_dir)
    stages_ok = len(problems.messages) == before
    _check_graph(root["stages"], stages, datasets if datasets_ok else None, stages_ok)
    compare_files, thresholds = _compare(root["compare"], stages if stages_ok else None)
    resource_rules = _resource_rules(root["compare"])
    if compare_files and not root["reference"].present:
        root["compare"].error("needs a reference to compare with (reference.release or reference.outputs)")
    patterns = _patterns(root["validation"])
    retries = root["retries"].integer(default=0, minimum=0, maximum=100)

    if problems:
        raise RelvalError(problems.messages)
    return Campaign(
        name=name, release=release, datasets=tuple(d for d, _ in datasets), stages=tuple(s for s, _ in stages),
        source=source, reference_release=reference_release, reference_outputs=reference_outputs,
        setup=setup, variables=variables, compare_files=compare_files, thresholds=thresholds,
        resource_rules=resource_rules,
        error_patterns=patterns, retries=retries)


# -- sections ------------------------------------------------------------------------

def _reference(f: Field) -> tuple[str | None, str | None]:
    if not f.mapping(allowed=("release", "outputs")):
        return None, None
    release, outputs = f["release"].string(), f["outputs"].string()
    if release is not None and outputs is not None:
        f.error("give either release or outputs, not both")
    elif not f["release"].present and not f["outputs"].present:
        f.error("needs release or outputs")
    return release, outputs


def _environment(f: Field) -> tuple[str, tuple[tuple[str, str], ...]]:
    if not f.mapping(allowed=("setup", "variables")):
        return "", ()
    setup = f["setup"].string(default="", non_empty=False) or ""
    _check_braces(f["setup"], setup, allowed=("release", "campaign"))
    variables: list[tuple[str, str]] = []
    var_field = f["variables"]
    if var_field.mapping():
        for key in var_field.keys():
            item = var_field[str(key)]
            if not isinstance(key, str) or not VAR_RE.match(key):
                item.error("is not a valid environment variable name")
                continue
            value = item.value
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                item.error("must be a string or a number")
                continue
            variables.append((key, str(value)))
    return setup, tuple(variables)


def _datasets(f: Field) -> list[tuple[Dataset, Field]]:
    datasets: list[tuple[Dataset, Field]] = []
    items = f.items(required=True)
    if f.present and isinstance(f.value, list) and not items:
        f.error("must list at least one dataset")
    seen: set[str] = set()
    for item in items:
        if not item.mapping(required=True, allowed=("name", "jobs", "runs", "parameters", "description")):
            continue
        name = _unique_name(item["name"], "dataset", seen)
        has_jobs, has_runs = item["jobs"].present, item["runs"].present
        if has_jobs == has_runs:
            item.error("needs exactly one of jobs (Monte Carlo) or runs (raw data)")
            continue
        jobs = item["jobs"].integer(minimum=1) if has_jobs else None
        runs = _runs(item["runs"]) if has_runs else ()
        params = _parameters(item["parameters"])
        if name is not None and (jobs is not None or runs):
            datasets.append((Dataset(name, jobs=jobs, runs=runs, parameters=params), item))
    return datasets


def _unique_name(f: Field, kind: str, seen: set[str]) -> str | None:
    """A required dataset/stage name: well-formed and not used before (None otherwise)."""
    name = f.string(required=True)
    if name is None:
        return None
    if too_long(name):
        f.error(too_long(name))
        return None
    if not NAME_RE.match(name):
        f.error(f"must be letters, digits, '_' and '-' (got {name!r})")
        return None
    if name in seen:
        f.error(f"duplicate {kind} name {name!r}")
        return None
    seen.add(name)
    return name


def _runs(f: Field) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not f.mapping():
        return ()
    runs = []
    for key in f.keys():
        run = str(key)
        item = f[key]
        item.path = f.child_path(run)
        if too_long(run):
            item.error(f"run {too_long(run)}")
            continue
        if not NAME_RE.match(run):
            item.error(f"run must be letters, digits, '_' and '-' (got {run!r})")
            continue
        chunks = []
        entries = item.items(required=True)
        if item.present and isinstance(item.value, list) and not entries:
            item.error("must list at least one chunk")
        for entry in entries:
            url = entry.string(required=True)
            if url is not None and any(c.isspace() for c in url):
                entry.error("must not contain whitespace")
            elif url is not None:
                chunks.append(url)
        if chunks:
            runs.append((run, tuple(chunks)))
    return tuple(runs)


def _parameters(f: Field) -> tuple[tuple[str, Any], ...]:
    if not f.mapping():
        return ()
    params = []
    reserved = set(COMMON_KEYS) | {k for keys in LEVEL_KEYS.values() for k in keys}
    for key in f.keys():
        item = f[str(key)]
        if not isinstance(key, str) or not PARAM_RE.match(key):
            item.error("is not a valid parameter name (letters, digits, '_')")
        elif key in reserved:
            item.error(f"shadows the built-in placeholder {{{key}}}")
        elif isinstance(item.value, (dict, list)) or item.value is None:
            item.error("must be a string or a number")
        else:
            params.append((key, item.value))
    return tuple(params)


def _stages(f: Field, base_dir: Path | None) -> list[tuple[Stage, Field]]:
    stages: list[tuple[Stage, Field]] = []
    items = f.items(required=True)
    if f.present and isinstance(f.value, list) and not items:
        f.error("must list at least one stage")
    seen: set[str] = set()
    output_owner: dict[str, str] = {}
    aux_owner: dict[str, Path] = {}
    for item in items:
        if not item.mapping(required=True, allowed=STAGE_KEYS):
            continue
        name = _unique_name(item["name"], "stage", seen)
        per = item["per"].string(required=True)
        if per is not None and per not in LEVELS:
            item["per"].error(f"unknown level {per!r} (use one of {' | '.join(LEVELS)})")
            per = None
        o2dpg_stage = item["o2dpg"].present  # the O2DPG stage kind writes command and outputs (o2dpg.py)
        command = None if o2dpg_stage else item["command"].string(required=True)
        if command is not None:
            command = command.strip()
            if "\n" in command or "\r" in command:
                item["command"].error("must be one line (fold a long command with YAML '>-')")
                command = None
        after = []
        for entry in item["after"].items():
            target = entry.string(required=True)
            if target is not None:
                if target in after:
                    entry.error(f"repeats stage {target!r}")
                else:
                    after.append(target)
        resources = _resources(item["resources"])
        if o2dpg_stage:
            command, outputs, files = _o2dpg_stage(item, name, resources, base_dir, output_owner, aux_owner)
        else:
            outputs = _outputs(item["outputs"], name, output_owner)
            files = _files(item["files"], base_dir, aux_owner)
        segments = _segments(item["o2dpg" if o2dpg_stage else "command"], command) if command is not None else None
        fraction = item["min_success_fraction"].number(default=1.0)
        if fraction is not None and not 0 < fraction <= 1:
            item["min_success_fraction"].error(f"must be > 0 and <= 1 (got {fraction:g})")
            fraction = 1.0
        if None not in (name, per, command, outputs, segments):
            stages.append((Stage(name, per, command, outputs, tuple(after), files, resources,
                                 segments, fraction if fraction is not None else 1.0), item))
    return stages


def _o2dpg_stage(item: Field, name: str | None, resources: Resources, base_dir: Path | None,
                 output_owner: dict[str, str], aux_owner: dict[str, Path]):
    """Command, outputs and files of an O2DPG stage (see relval.workflows.o2dpg)."""
    from relval.workflows import o2dpg

    for key in ("command", "outputs"):
        if item[key].present:
            item[key].error("an o2dpg stage writes its own (outputs: list them under o2dpg.collect)")
    parsed = o2dpg.parse(item["o2dpg"], name, resources.cores, resources.memory_mb)
    if parsed is None:
        return None, None, ()
    command, outputs = parsed
    for output in outputs:
        if output in output_owner:
            item["o2dpg"]["collect"].error(f"{output!r} is already an output of stage {output_owner[output]!r}")
            return None, None, ()
        output_owner[output] = name or "?"
    files = _files(Field([str(o2dpg.DRIVER)], item.child_path("o2dpg"), item.problems), base_dir, aux_owner)
    return command, outputs, files + _files(item["files"], base_dir, aux_owner)


def _outputs(f: Field, stage: str | None, owner: dict[str, str]) -> tuple[str, ...] | None:
    entries = f.items(required=True)
    if f.present and isinstance(f.value, list) and not entries:
        f.error("must list at least one output file")
        return None
    outputs = []
    for entry in entries:
        name = entry.string(required=True)
        if name is None:
            return None
        if too_long(name, MAX_FILE_NAME):
            entry.error(too_long(name, MAX_FILE_NAME))
            return None
        if not FILE_RE.match(name):
            entry.error(f"must be a plain file name without '/' or spaces (got {name!r})")
            return None
        if name in owner:
            entry.error(f"{name!r} is already an output of stage {owner[name]!r}")
            return None
        owner[name] = stage or "?"
        outputs.append(name)
    return tuple(outputs) if entries else None


def resolve_aux_file(name: str, base_dir: Path | None) -> Path | None:
    """Find an auxiliary file: absolute, else relative to the current directory, else to
    the campaign file's directory or any of its parents (so `examples/toy/toy.py` works
    for `examples/smoke.yaml` from anywhere)."""
    path = Path(os.path.expanduser(name))
    if path.is_absolute():
        return path if path.is_file() else None
    candidates = [Path.cwd() / path]
    if base_dir is not None:
        candidates += [d / path for d in (base_dir, *base_dir.parents)]
    return next((c.resolve() for c in candidates if c.is_file()), None)


def _files(f: Field, base_dir: Path | None, owner: dict[str, Path]) -> tuple[Path, ...]:
    files = []
    for entry in f.items():
        name = entry.string(required=True)
        if name is None:
            continue
        path = resolve_aux_file(name, base_dir)
        if path is None:
            entry.error(f"file not found: {name!r}")
            continue
        if path.name in RESERVED_FILES or not FILE_RE.match(path.name) or too_long(path.name, MAX_FILE_NAME):
            entry.error(f"cannot ship a file named {path.name!r}")
            continue
        # Everything lands flat in the workflow directory, so basenames must be unique.
        if owner.get(path.name, path) != path:
            entry.error(f"{path.name!r} clashes with {owner[path.name]} (files land flat in one directory)")
            continue
        owner[path.name] = path
        if path not in files:
            files.append(path)
    return tuple(files)


def _resources(f: Field) -> Resources:
    if not f.mapping(allowed=RESOURCE_KEYS):
        return Resources()
    values = {key: f[key].integer(minimum=1) for key in RESOURCE_KEYS}
    return Resources(**values)


def _segments(f: Field, command: str) -> tuple[Segment, ...] | None:
    """Split a command into literal text and placeholders; None if malformed."""
    segments: list[Segment] = []
    text: list[str] = []
    state = ""  # the shell's quoting where the current literal text started
    i, n = 0, len(command)
    while i < n:
        c = command[i]
        if c == "{" and command.startswith("{{", i):
            text.append("{")
            i += 2
        elif c == "}" and command.startswith("}}", i):
            text.append("}")
            i += 2
        elif c == "{" and i > 0 and command[i - 1] == "$":
            # ${VAR} belongs to the shell: copy through to the matching brace.
            end = command.find("}", i)
            if end < 0:
                f.error("has an unclosed '${'")
                return None
            text.append(command[i:end + 1])
            i = end + 1
        elif c == "{":
            end = command.find("}", i)
            if end < 0:
                f.error("has an unclosed '{' (write '{{' for a literal brace)")
                return None
            inner = command[i + 1:end]
            match = PLACEHOLDER_RE.match(inner)
            if not match:
                f.error(f"malformed placeholder {{{inner}}}")
                return None
            if text:
                literal = "".join(text)
                segments.append(Segment(text=literal))
                state = quote_state(literal, state)
                text = []
            index = match.group(2)
            segments.append(Segment(key=match.group(1), index=int(index) if index is not None else None,
                                    quoting=state))
            i = end + 1
        elif c == "}":
            f.error("has an unmatched '}' (write '}}' for a literal brace)")
            return None
        else:
            text.append(c)
            i += 1
    if text:
        segments.append(Segment(text="".join(text)))
        state = quote_state(segments[-1].text, state)
    if state:
        f.error(f"has an unclosed {state} quote")
        return None
    return tuple(segments)


def render_shell(text: str, values: dict[str, str]) -> str:
    """`text` with its {placeholders} replaced by `values`, each quoted for the spot it
    stands in (the environment setup uses it; commands are rendered by the graph)."""
    problems = Problems(render=lambda p, m: m)
    segments = _segments(Field(text, "", problems), text) or ()
    return "".join(seg.text if seg.key is None else quote_value(values[seg.key], seg.quoting)
                   for seg in segments)


def _check_braces(f: Field, text: str, allowed: tuple[str, ...]) -> None:
    segments = _segments(f, text)
    for seg in segments or ():
        if seg.key is not None and (seg.key not in allowed or seg.index is not None):
            f.error(f"unknown placeholder {{{seg.key}}} (only {', '.join('{%s}' % a for a in allowed)})")


# -- cross-checks --------------------------------------------------------------------

def levels_meet(a: str, b: str) -> bool:
    """Whether a unit of level a and a unit of level b can share data (one contains the other)."""
    return a == b or a in CONTAINS[b] or b in CONTAINS[a]


def _check_graph(f: Field, stages: list[tuple[Stage, Field]],
                 dataset_fields: list[tuple[Dataset, Field]] | None, stages_ok: bool) -> None:
    datasets = [d for d, _ in dataset_fields] if dataset_fields is not None else None
    by_name = {stage.name: stage for stage, _ in stages}
    declared = {item["name"].value for item in f.items()} if isinstance(f.value, list) else set()
    for stage, item in stages:
        for i, target in enumerate(stage.after):
            where = item["after"] if isinstance(item["after"].value, list) else item["after"]
            if target not in by_name:
                if target not in declared:
                    hint = _close(target, list(declared))
                    where.error(f"unknown stage {target!r}{hint}")
            elif target == stage.name:
                where.error("a stage cannot run after itself")
            elif not levels_meet(by_name[target].per, stage.per):
                where.error(f"stage {target!r} runs per {by_name[target].per}, "
                            f"which never meets per {stage.per}")
        _check_placeholders(item["o2dpg" if item["o2dpg"].present else "command"], stage, datasets)
    _check_cycles(stages, by_name)
    if datasets is None:
        return
    for stage, item in stages:
        if datasets and stage.per != "campaign" and not any(stage.applies_to(d) for d in datasets):
            kind = "Monte Carlo (jobs)" if stage.per == "job" else "raw data (runs)"
            item["per"].error(f"no dataset has {stage.per} units (needs a {kind} dataset)")
    if not stages_ok:
        return
    for dataset, item in dataset_fields:
        if stages and not any(stage.applies_to(dataset) for stage, _ in stages):
            item.error(f"no stage applies to dataset {dataset.name!r}")


def _close(name: str, names: list) -> str:
    import difflib

    hint = difflib.get_close_matches(name, [n for n in names if isinstance(n, str)], n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def _check_placeholders(f: Field, stage: Stage, datasets: list[Dataset] | None) -> None:
    """Every {name} must be defined for every unit the stage runs on. With `datasets`
    None (the datasets had problems of their own) parameters are given the benefit of
    the doubt."""
    known = set(COMMON_KEYS) | set(LEVEL_KEYS[stage.per])
    all_params = None if datasets is None else {k for d in datasets for k, _ in d.parameters}
    applicable = [d for d in datasets or () if stage.per != "campaign" and stage.applies_to(d)]
    reported: set[str] = set()
    for seg in stage.segments:
        if seg.key is None or seg.key in reported:
            continue
        if seg.index is not None and seg.key not in LIST_KEYS:
            f.error(f"{{{seg.key}[{seg.index}]}}: only inputs and outputs can be indexed")
        elif seg.key in known:
            if seg.key == "inputs" and not stage.after:
                f.error("uses {inputs} but the stage has no 'after' stages")
            elif seg.key == "outputs" and seg.index is not None and seg.index >= len(stage.outputs):
                f.error(f"{{outputs[{seg.index}]}} is out of range "
                        f"(the stage declares {len(stage.outputs)} outputs)")
            else:
                continue
        elif stage.per != "campaign" and (all_params is None or seg.key in all_params):
            missing = [d.name for d in applicable if seg.key not in dict(d.parameters)]
            if not missing:
                continue
            f.error(f"placeholder {{{seg.key}}} is not a parameter of dataset {missing[0]!r}")
        else:
            where = f" at level {stage.per}" if any(seg.key in keys for keys in LEVEL_KEYS.values()) else ""
            f.error(f"unknown placeholder {{{seg.key}}}{where}")
        reported.add(seg.key)


def _check_cycles(stages: list[tuple[Stage, Field]], by_name: dict[str, Stage]) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    items = {stage.name: item for stage, item in stages}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in by_name[name].after:
            if target not in by_name or target == name:
                continue
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target] if target in path else [name, target]
                items[cycle[0]]["after"].error("cycle: " + " -> ".join(cycle))
            elif state.get(target) is None:
                visit(target, path + [target])
        state[name] = 2

    for stage, _ in stages:
        if stage.name not in state:
            visit(stage.name, [stage.name])


def _compare(f: Field, stages: list[tuple[Stage, Field]] | None) -> tuple[tuple[str, ...], dict]:
    if not f.mapping(allowed=("files", "thresholds", "resources")):
        return (), {}
    outputs = {o for stage, _ in stages or () for o in stage.outputs}
    files = []
    for entry in f["files"].items():
        name = entry.string(required=True)
        if name is None:
            continue
        if stages is not None and name not in outputs:
            entry.error(f"{name!r} is not an output of any stage")
        files.append(name)
    thresholds = {}
    if f["thresholds"].mapping():
        from relval.workflows.qa.thresholds import read_thresholds

        read_thresholds(f["thresholds"])  # checked now, not after every job has run
        thresholds = dict(f["thresholds"].value)
    return tuple(files), thresholds


def _resource_rules(f: Field) -> tuple:
    """`compare.resources`: per stage glob, the resource thresholds (see resources.py)."""
    if not f.present or not isinstance(f.value, dict) or not f["resources"].present:
        return ()
    from relval.workflows.resources import read_rules

    return tuple(read_rules(f["resources"]))


def _patterns(f: Field) -> tuple[str, ...]:
    if not f.mapping(allowed=("error_patterns",)):
        return ()
    patterns = []
    for entry in f["error_patterns"].items():
        value = entry.string(required=True)
        if value is not None:
            if "\n" in value:
                entry.error("must be a single line")
            else:
                patterns.append(value)
    return tuple(patterns)
