"""Campaign validation: the shipped examples load, and every invalid file says exactly why."""

from __future__ import annotations

import copy

import pytest
import yaml

from relval.errors import RelvalError
from relval.workflows.campaign import load_campaign, parse_campaign

from .conftest import REPO

EXAMPLES = REPO / "examples"

BASE = {
    "campaign": "t",
    "release": "toy/v2",
    "datasets": [
        {"name": "pp", "jobs": 2, "parameters": {"events": 10}},
        {"name": "raw", "runs": {"1": ["a.root", "b.root"]}},
    ],
    "stages": [
        {"name": "sim", "per": "job", "command": "sim {events} -o {outputs[0]}", "outputs": ["sim.root"]},
        {"name": "rec", "per": "job", "after": ["sim"], "command": "rec {inputs[0]} -o {outputs[0]}",
         "outputs": ["rec.root"]},
        {"name": "merge", "per": "dataset", "after": ["rec"], "command": "merge {outputs[0]} {inputs}",
         "outputs": ["merged.root"]},
    ],
}


def mutate(change):
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


def stage(doc, i):
    return doc["stages"][i]


# (description, mutation, exact messages). At least 20 invalid campaigns.
INVALID = [
    ("unknown after target", lambda d: stage(d, 2).update(after=["recc"]),
     ["t.yaml: stages[2].after: unknown stage 'recc' (did you mean 'rec'?)"]),
    ("cycle", lambda d: stage(d, 0).update(after=["rec"], command="sim {inputs[0]} -o {outputs[0]}"),
     ["t.yaml: stages[0].after: cycle: sim -> rec -> sim"]),
    ("self reference", lambda d: stage(d, 1).update(after=["rec"]),
     ["t.yaml: stages[1].after: a stage cannot run after itself"]),
    ("duplicate stage", lambda d: stage(d, 1).update(name="sim"),
     ["t.yaml: stages[1].name: duplicate stage name 'sim'", "t.yaml: stages[2].after: unknown stage 'rec'"]),
    ("duplicate dataset", lambda d: d["datasets"][1].update(name="pp", runs=None, jobs=1),
     ["t.yaml: datasets[1].name: duplicate dataset name 'pp'"]),
    ("unknown per level", lambda d: stage(d, 0).update(per="event"),
     ["t.yaml: stages[0].per: unknown level 'event' (use one of job | chunk | run | dataset | campaign)"]),
    ("zero cores", lambda d: stage(d, 0).update(resources={"cores": 0}),
     ["t.yaml: stages[0].resources.cores: must be >= 1 (got 0)"]),
    ("memory not a number", lambda d: stage(d, 0).update(resources={"memory_mb": "lots"}),
     ["t.yaml: stages[0].resources.memory_mb: must be a whole number (got 'lots')"]),
    ("unknown resource", lambda d: stage(d, 0).update(resources={"gpus": 1}),
     ["t.yaml: stages[0].resources.gpus: is not a known key"]),
    ("unknown placeholder", lambda d: stage(d, 1).update(command="rec {inputs[0]} -o {output}"),
     ["t.yaml: stages[1].command: unknown placeholder {output}"]),
    ("placeholder of another level", lambda d: stage(d, 2).update(command="merge {job} {inputs}"),
     ["t.yaml: stages[2].command: unknown placeholder {job} at level dataset"]),
    ("indexed scalar", lambda d: stage(d, 0).update(command="sim {dataset[0]} -o {outputs[0]}"),
     ["t.yaml: stages[0].command: {dataset[0]}: only inputs and outputs can be indexed"]),
    ("outputs index out of range", lambda d: stage(d, 0).update(command="sim -o {outputs[1]}"),
     ["t.yaml: stages[0].command: {outputs[1]} is out of range (the stage declares 1 outputs)"]),
    ("inputs without after", lambda d: stage(d, 0).update(command="sim {inputs} -o {outputs[0]}"),
     ["t.yaml: stages[0].command: uses {inputs} but the stage has no 'after' stages"]),
    ("parameter missing in a dataset", lambda d: d["datasets"].append({"name": "pp2", "jobs": 1}),
     ["t.yaml: stages[0].command: placeholder {events} is not a parameter of dataset 'pp2'"]),
    ("unclosed brace", lambda d: stage(d, 0).update(command="sim {events -o x"),
     ["t.yaml: stages[0].command: has an unclosed '{' (write '{{' for a literal brace)"]),
    ("stage applies to no dataset", lambda d: d["stages"].append(
        {"name": "cp", "per": "chunk", "command": "cp {chunk} {outputs[0]}", "outputs": ["c.root"]})
     or d["datasets"].pop(1),
     ["t.yaml: stages[3].per: no dataset has chunk units (needs a raw data (runs) dataset)"]),
    ("dataset no stage applies to", lambda d: d["stages"].pop(2),
     ["t.yaml: datasets[1]: no stage applies to dataset 'raw'"]),
    ("levels that never meet", lambda d: d["stages"].append(
        {"name": "cp", "per": "chunk", "after": ["sim"], "command": "cp {inputs}", "outputs": ["c.root"]}),
     ["t.yaml: stages[3].after: stage 'sim' runs per job, which never meets per chunk"]),
    ("bad campaign id", lambda d: d.update(campaign="Smoke Test"),
     ["t.yaml: campaign: must match [a-z0-9][a-z0-9-]* (got 'Smoke Test')"]),
    ("missing release", lambda d: d.pop("release"), ["t.yaml: release: is required"]),
    ("unknown top-level key", lambda d: d.update(stagse=[]),
     ["t.yaml: stagse: is not a known key (did you mean 'stages'?)"]),
    ("jobs and runs together", lambda d: d["datasets"][0].update(runs={"1": ["x"]}),
     ["t.yaml: datasets[0]: needs exactly one of jobs (Monte Carlo) or runs (raw data)"]),
    ("output with a path", lambda d: stage(d, 0).update(outputs=["out/sim.root"]),
     ["t.yaml: stages[0].outputs[0]: must be a plain file name without '/' or spaces (got 'out/sim.root')"]),
    ("same output twice", lambda d: stage(d, 1).update(outputs=["sim.root"]),
     ["t.yaml: stages[1].outputs[0]: 'sim.root' is already an output of stage 'sim'"]),
    ("missing aux file", lambda d: stage(d, 0).update(files=["no/such/file.py"]),
     ["t.yaml: stages[0].files[0]: file not found: 'no/such/file.py'"]),
    ("negative retries", lambda d: d.update(retries=-1), ["t.yaml: retries: must be >= 0 (got -1)"]),
    ("compare file not produced", lambda d: d.update(compare={"files": ["QA.root"]},
                                                     reference={"release": "toy/v1"}),
     ["t.yaml: compare.files[0]: 'QA.root' is not an output of any stage"]),
    ("compare without a reference", lambda d: d.update(compare={"files": ["merged.root"]}),
     ["t.yaml: compare: needs a reference to compare with (reference.release or reference.outputs)"]),
    ("reference with both", lambda d: d.update(reference={"release": "a", "outputs": "/b"}),
     ["t.yaml: reference: give either release or outputs, not both"]),
    ("bad variable name", lambda d: d.update(environment={"variables": {"1X": "a"}}),
     ["t.yaml: environment.variables.1X: is not a valid environment variable name"]),
    ("setup placeholder", lambda d: d.update(environment={"setup": "source {job}"}),
     ["t.yaml: environment.setup: unknown placeholder {job} (only {release}, {campaign})"]),
    ("multi-line command", lambda d: stage(d, 0).update(command="sim\n-o {outputs[0]}"),
     ["t.yaml: stages[0].command: must be one line (fold a long command with YAML '>-')"]),
    ("parameter shadows a placeholder", lambda d: d["datasets"][0].update(parameters={"job": 1, "events": 1}),
     ["t.yaml: datasets[0].parameters.job: shadows the built-in placeholder {job}"]),
    ("no stages", lambda d: d.update(stages=[]), ["t.yaml: stages: must list at least one stage"]),
]


def test_the_corpus_is_big_enough():
    assert len(INVALID) >= 20


@pytest.mark.parametrize("description,change,expected", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_campaign_reports_exact_messages(description, change, expected):
    with pytest.raises(RelvalError) as caught:
        parse_campaign(mutate(change), source="t.yaml")
    assert caught.value.problems == expected
    assert caught.value.exit_code == 2


def test_base_campaign_is_valid():
    campaign = parse_campaign(copy.deepcopy(BASE), source="t.yaml")
    assert [s.name for s in campaign.stages] == ["sim", "rec", "merge"]
    assert campaign.datasets[1].runs == (("1", ("a.root", "b.root")),)


def test_every_problem_is_reported_at_once():
    doc = mutate(lambda d: (stage(d, 0).update(per="event"), stage(d, 2).update(after=["recc"]),
                            d.update(retries="x")))
    with pytest.raises(RelvalError) as caught:
        parse_campaign(doc, source="t.yaml")
    assert len(caught.value.problems) >= 3


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "smoke.yaml"
    doc = mutate(lambda d: stage(d, 2).update(after=["recc"]))
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(RelvalError) as caught:
        load_campaign(path)
    assert caught.value.problems == ["smoke.yaml: stages[2].after: unknown stage 'recc' (did you mean 'rec'?)"]
    path.write_text("campaign: [unclosed\n")
    with pytest.raises(RelvalError, match=r"^smoke.yaml: not valid YAML at line 2"):
        load_campaign(path)


def test_smoke_example_matches_the_issue():
    campaign = load_campaign(EXAMPLES / "smoke.yaml")
    assert (campaign.name, campaign.release, campaign.reference_release) == ("smoke", "toy/v2", "toy/v1")
    assert [s.name for s in campaign.stages] == ["sim", "rec", "qa", "merge"]
    assert [s.per for s in campaign.stages] == ["job", "job", "job", "dataset"]
    assert campaign.stages[0].files[0] == (EXAMPLES / "toy" / "toy.py").resolve()
    assert campaign.stages[0].resources.wall_time_s == 3600
    assert campaign.variables == (("OMP_NUM_THREADS", "1"),)
    assert campaign.compare_files == ("QAmerged.root",) and campaign.retries == 2


@pytest.mark.parametrize("name", ["smoke", "o2-nightly", "raw-cpass"])
def test_examples_load_from_any_directory(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    campaign = load_campaign(EXAMPLES / f"{name}.yaml")
    assert campaign.stages


def test_shell_braces_and_escapes_are_not_placeholders():
    doc = mutate(lambda d: stage(d, 0).update(command="x=${HOME}; echo {{literal}} {events} > {outputs[0]}"))
    campaign = parse_campaign(doc)
    keys = [s.key for s in campaign.stages[0].segments if s.key]
    assert keys == ["events", "outputs"]
