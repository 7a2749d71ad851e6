"""Expansion of a campaign into jobs: units, inputs, fan-in/fan-out, names, skips."""

from __future__ import annotations

import copy

import pytest

from relval.errors import RelvalError
from relval.workflows.campaign import load_campaign, parse_campaign
from relval.workflows.graph import Job, JobGraph, expand

from .conftest import REPO
from .test_workflow_campaign import BASE


def raw_chain():
    return {
        "campaign": "cp",
        "release": "r1",
        "datasets": [{"name": "D", "runs": {"11": ["u0", "u1"], "12": ["u2"]}},
                     {"name": "E", "runs": {"21": ["u3"]}}],
        "stages": [
            {"name": "c0", "per": "chunk", "command": "c0 {chunk} {run} {index} {outputs[0]}", "outputs": ["c0.tgz"]},
            {"name": "ocdb", "per": "run", "after": ["c0"], "command": "m {inputs}", "outputs": ["ocdb.tgz"]},
            {"name": "c1", "per": "chunk", "after": ["ocdb"], "command": "c1 {chunk} {inputs[0]}",
             "outputs": ["qa.root"]},
            {"name": "sum", "per": "campaign", "after": ["c1"], "command": "s {campaign} {release} {inputs}",
             "outputs": ["sum.txt"]},
        ],
    }


def by_unit(graph, stage):
    return {j.unit: j for j in graph.jobs if j.stage == stage}


def test_smoke_expands_to_flat_unique_names():
    graph = expand(load_campaign(REPO / "examples" / "smoke.yaml"))
    assert [j.stage for j in graph.jobs] == ["sim"] * 4 + ["rec"] * 4 + ["qa"] * 4 + ["merge"]
    sim = by_unit(graph, "sim")["pp/0003"]
    assert sim.outputs == ("pp.0003.sim.root",) and sim.log == "pp.0003.sim.log"
    assert sim.command == "python3 toy.py sim --release toy/v2 --events 2000 --seed 3 -o pp.0003.sim.root"
    assert sim.aux == ("toy.py",) and sim.wall_time_s == 3600
    assert by_unit(graph, "rec")["pp/0001"].inputs == ("pp.0001.sim.root",)
    merge = by_unit(graph, "merge")["pp"]
    assert merge.inputs == tuple(f"pp.{i:04d}.QAresults.root" for i in range(4))
    assert merge.command.endswith("-o pp.QAmerged.root " + " ".join(merge.inputs))
    assert graph.notes == []  # every dataset of the demo runs something
    names = [f for j in graph.jobs for f in (*j.outputs, j.log)]
    assert len(names) == len(set(names)) and all("/" not in n for n in names)


def test_fan_in_and_fan_out_on_raw_data():
    graph = expand(parse_campaign(raw_chain()))
    c0 = by_unit(graph, "c0")
    assert list(c0) == ["D/11/0000", "D/11/0001", "D/12/0000", "E/21/0000"]
    assert c0["D/11/0001"].command == "c0 u1 11 1 D.11.0001.c0.tgz"
    assert by_unit(graph, "ocdb")["D/11"].inputs == ("D.11.0000.c0.tgz", "D.11.0001.c0.tgz")
    # per chunk after per run: each chunk takes its own run's OCDB
    c1 = by_unit(graph, "c1")
    assert c1["D/11/0001"].inputs == ("D.11.ocdb.tgz",)
    assert c1["D/12/0000"].command == "c1 u2 D.12.ocdb.tgz"
    summary = by_unit(graph, "sum")["cp"]
    assert summary.inputs == ("D.11.0000.qa.root", "D.11.0001.qa.root", "D.12.0000.qa.root", "E.21.0000.qa.root")
    assert summary.outputs == ("cp.sum.txt",) and summary.command.startswith("s cp r1 D.11.0000")


def test_parents_follow_the_files():
    graph = expand(parse_campaign(raw_chain()))
    index = {(j.stage, j.unit): i for i, j in enumerate(graph.jobs)}
    parents = graph.parents(index[("ocdb", "D/11")])
    assert parents == [index[("c0", "D/11/0000")], index[("c0", "D/11/0001")]]


def test_release_override_changes_only_the_release():
    campaign = load_campaign(REPO / "examples" / "smoke.yaml")
    graph = expand(campaign.with_release("toy/v1"))
    assert "--release toy/v1 " in graph.jobs[0].command
    assert graph.jobs[0].outputs == expand(campaign).jobs[0].outputs


def test_inputs_index_out_of_range_for_a_unit():
    doc = copy.deepcopy(BASE)
    doc["stages"][2]["command"] = "merge {inputs[2]}"
    with pytest.raises(RelvalError) as caught:
        expand(parse_campaign(doc, source="t.yaml"))
    assert caught.value.problems == ["t.yaml: stages[2].command: {inputs[2]} is out of range (2 inputs) for pp"]


def test_graph_rejects_duplicates_when_added():
    graph = JobGraph()
    graph.add(Job("sim", "pp/0000", "x", (), ("a.root",), "a.log"))
    with pytest.raises(ValueError, match="duplicate job sim pp/0000"):
        graph.add(Job("sim", "pp/0000", "y", (), ("b.root",), "b.log"))
    with pytest.raises(ValueError, match="file a.root of rec pp/0000 is also written by sim pp/0000"):
        graph.add(Job("rec", "pp/0000", "z", (), ("a.root",), "c.log"))
    assert len(graph) == 1


def test_colliding_generated_names_are_a_campaign_error():
    doc = copy.deepcopy(BASE)
    # pp.0000.sim.root comes out of both the per-job sim and this per-dataset stage.
    doc["stages"].append({"name": "odd", "per": "dataset", "command": "c", "outputs": ["0000.sim.root"]})
    with pytest.raises(RelvalError) as caught:
        expand(parse_campaign(doc, source="t.yaml"))
    assert caught.value.problems == [
        "t.yaml: stages[3]: file pp.0000.sim.root of odd pp is also written by sim pp/0000"]
