"""The O2DPG runner's per-task metrics: reduced by the job's driver, compared per task
between candidate and reference, and a per-task memory regression failing the verdict.

The metric logs below are written the way O2DPG's runners write them (both
MC/bin/o2dpg_workflow_runner_legacy.py and MC/workflow_runner/o2dpg_runner): a Python
logger with the format `%(asctime)s %(levelname)s %(message)s` logging one dict per
running task and sampling pass (`cpu` in percent of a core, `uss`/`pss` in MB), after a
first meta dict; the new runner adds `cgroup_*` keys and `__cgroup_global__` rows, and
the legacy one logs `*** MEMORY LIMIT PASSED !! ***` when the sum exceeds the limit.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import yaml

from relval.workflows import o2dpg_driver
from relval.workflows.campaign import parse_campaign
from relval.workflows.resources import (BAD, GOOD, compare, judge_resources, parse_task_metrics,
                                        summarize, unmatched_rules)
from relval.workflows.verdict import Verdict

from .test_archive import relval
from .test_o2dpg_stage import _write, local_campaign

T0 = 1_790_000_000.0  # a fixed clock for the logged lines


class _Clock(logging.Filter):
    """Stamps each record with the test's clock instead of now (asctime comes from it)."""

    def __init__(self):
        super().__init__()
        self.now = T0

    def filter(self, record):
        record.created = self.now
        record.msecs = (self.now - int(self.now)) * 1000
        return True


def write_runner_metric_log(path: Path, passes: list[tuple[float, list[dict]]], *, meta: dict | None = None,
                            extra_lines: dict[int, str] | None = None) -> None:
    """A pipeline_metric log as the runner writes it: `passes` is [(seconds after start,
    [sample dict per running task])]; `extra_lines` puts a plain message before pass i."""
    logger = logging.getLogger(f"pipeline_metric_logger.{path}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    clock = _Clock()
    handler.addFilter(clock)
    logger.addHandler(handler)
    try:
        logger.info(meta or {"cpu_limit": 8, "mem_limit": 16000, "col": "pp", "target_labels": ["AOD"],
                             "rerun_from": None, "workflow_file": "/w/workflow.json"})
        for index, (offset, samples) in enumerate(passes, start=1):
            clock.now = T0 + offset
            if extra_lines and index in extra_lines:
                logger.info(extra_lines[index])
            for sample in samples:
                logger.info({"iter": index, **sample})
    finally:
        logger.removeHandler(handler)
        handler.close()


def sample(name: str, cpu: float, pss: float, uss: float | None = None, **more) -> dict:
    """One task's sample, keys in the runner's order (legacy runner's dict, plus the new one's cgroup keys)."""
    return {"name": name, "cpu": cpu, "uss": uss if uss is not None else pss * 0.9, "pss": pss, "nice": 0,
            "swap": 0, "label": ["RECO", "TPC"], "disc": -1, **more}


def test_the_metric_log_format_is_what_the_runner_writes(tmp_path):
    """Guards the helper: a line is asctime, level, then the dict's Python repr."""
    log = tmp_path / "pipeline_metric_1.log"
    write_runner_metric_log(log, [(0.0, [sample("tpcreco_1", 0.0, 800.0, 700.0)])])
    lines = log.read_text().splitlines()
    assert lines[1].startswith("2026-") and " INFO {'iter': 1, 'name': 'tpcreco_1', 'cpu': 0.0, " in lines[1]
    assert lines[1].endswith("'label': ['RECO', 'TPC'], 'disc': -1}")


def test_the_driver_reduces_samples_to_per_task_figures(tmp_path):
    log = tmp_path / "pipeline_metric_4242.log"
    passes = [
        (0.0, [sample("tpcreco_1", 0.0, 100.0), sample("pvfinder_1", 0.0, 50.0)]),
        (5.0, [sample("tpcreco_1", 200.0, 900.0, 850.0, cgroup_cpu=None, cgroup_mem=None),
               sample("pvfinder_1", 100.0, 60.0)]),
        (10.0, [sample("tpcreco_1", 150.0, 1200.0, 1100.0), {"name": "__cgroup_global__", "cpu": 400.0,
                                                              "uss": None, "pss": 2000.0, "nice": 0,
                                                              "swap": None, "label": [], "disc": -1}]),
        (15.0, [sample("tpcreco_1", -3.0, 1000.0, 950.0), sample("tpcreco_2", 0.0, 300.0)]),
        (20.5, [sample("tpcreco_2", 100.0, 1300.0, 1250.0)]),
    ]
    write_runner_metric_log(log, passes, extra_lines={3: "*** MEMORY LIMIT PASSED !! ***"})
    figures = o2dpg_driver.task_metrics([str(log)])
    assert sorted(figures) == ["pvfinder_1", "tpcreco_1", "tpcreco_2"]  # not the meta, nor __cgroup_global__
    reco = figures["tpcreco_1"]
    # The runner's own reduction: the first sample is a baseline, the others weigh by their interval,
    # a negative CPU reading counts as 0 (o2dpg_sim_metrics.py's clean_cpu).
    assert reco["cpu_s"] == pytest.approx(2.0 * 5 + 1.5 * 5 + 0.0 * 5)
    assert reco["wall_s"] == pytest.approx(15.0)
    assert reco["max_pss_kb"] == 1200 * 1024 and reco["max_uss_kb"] == 1100 * 1024
    assert reco["samples"] == 4
    assert figures["tpcreco_2"] == {"cpu_s": pytest.approx(5.5), "wall_s": pytest.approx(5.5),
                                    "max_pss_kb": 1300 * 1024, "max_uss_kb": 1250 * 1024, "samples": 2}
    assert figures["pvfinder_1"]["cpu_s"] == pytest.approx(5.0)


def test_a_task_rerun_by_a_later_runner_counts_once_with_its_last_run(tmp_path):
    import os

    first, second = tmp_path / "pipeline_metric_1.log", tmp_path / "pipeline_metric_2.log"
    write_runner_metric_log(first, [(0.0, [sample("tpcreco_1", 0.0, 4000.0)]), (5.0, [sample("tpcreco_1", 100, 4000.0)])])
    write_runner_metric_log(second, [(0.0, [sample("tpcreco_1", 0.0, 900.0)]), (5.0, [sample("tpcreco_1", 100, 900.0)])])
    os.utime(first, (T0, T0))
    os.utime(second, (T0 + 60, T0 + 60))
    assert o2dpg_driver.task_metrics([str(second), str(first)])["tpcreco_1"]["max_pss_kb"] == 900 * 1024


def test_the_job_log_lines_reach_the_resource_summary(tmp_path, capsys, monkeypatch):
    """The driver's lines, as printed into the job log, read back per `<stage>/<task>`,
    the timeframes of a task being values of one median and maximum."""
    log = tmp_path / "pipeline_metric_7.log"
    write_runner_metric_log(log, [
        (0.0, [sample("tpcreco_1", 0.0, 800.0), sample("tpcreco_2", 0.0, 700.0)]),
        (5.0, [sample("tpcreco_1", 100.0, 800.0), sample("tpcreco_2", 100.0, 1000.0)]),
    ])
    monkeypatch.chdir(tmp_path)
    o2dpg_driver.report_task_metrics(o2dpg_driver.task_metrics([str(log)]))
    printed = capsys.readouterr().out
    assert json.loads((tmp_path / o2dpg_driver.TASK_METRICS_JSON).read_text())["tpcreco_2"]["samples"] == 2
    rows = parse_task_metrics("relval-job: started\n" + printed + "relval-job: metrics cpu_s=1 wall_s=2\n")
    assert [(r["task"], r["instance"], r["max_pss_kb"]) for r in rows] == [
        ("tpcreco", "tpcreco_1", 800 * 1024), ("tpcreco", "tpcreco_2", 1000 * 1024)]
    tasks = summarize([{**r, "stage": f"mc/{r['task']}"} for r in rows], ("cpu_s", "wall_s", "max_pss_kb"))
    assert tasks["mc/tpcreco"]["max_pss_kb"] == {"median": 900 * 1024, "max": 1000 * 1024, "n": 2}
    assert tasks["mc/tpcreco"]["cpu_s"]["median"] == pytest.approx(5.0)


def task_side(**per_task):
    rows = [{"stage": task, "max_pss_kb": pss * 1024, "cpu_s": 10.0} for task, values in per_task.items()
            for pss in values]
    return {"stages": {}, "tasks": summarize(rows, ("cpu_s", "wall_s", "max_pss_kb"))}


def test_tasks_are_graded_with_the_stage_globs_thresholds_and_fail_the_verdict():
    ref = task_side(**{"mc/tpcreco": [1000, 1000, 1000], "mc/sgnsim": [2000, 2000]})
    new = task_side(**{"mc/tpcreco": [1600, 1600, 1600], "mc/sgnsim": [2100, 2100]})
    grades = {(g.stage, g.metric): g for g in compare(new, ref)}
    reco = grades[("mc/tpcreco", "max_pss_kb")]
    assert reco.grade == BAD and reco.kind == "task" and reco.change == pytest.approx(0.6)
    assert grades[("mc/sgnsim", "max_pss_kb")].grade == GOOD
    verdict = judge_resources(Verdict("PASS", (), True, True), list(grades.values()))
    assert verdict.verdict == "FAIL"
    assert verdict.reasons == ("resource regression: O2DPG task mc/tpcreco: memory (peak PSS) +60% "
                               "(median 1000.0 -> 1600.0 MB, max 1000.0 -> 1600.0 MB)",)
    # The same `compare.resources` globs as for stages: a looser rule for mc/tpc* tasks.
    doc = yaml.safe_load(yaml.safe_dump(local_campaign()))
    doc["compare"]["resources"] = [{"match": "mc/tpc*", "memory": {"warning": 0.5, "bad": 1.0}}]
    rules = parse_campaign(doc).resource_rules
    assert {g.stage: g.grade for g in compare(new, ref, rules) if g.metric == "max_pss_kb"} == {
        "mc/tpcreco": "WARNING", "mc/sgnsim": GOOD}
    assert unmatched_rules(rules, compare(new, ref, rules)) == []
    doc["compare"]["resources"] = [{"match": "mc/tpcreco_*", "memory": {"bad": 1.0}}]
    rules = parse_campaign(doc).resource_rules
    assert {(g.stage, g.metric): g.grade for g in compare(new, ref, rules)}[("mc/tpcreco", "max_pss_kb")] == BAD
    assert unmatched_rules(rules, compare(new, ref, rules)) == [
        "compare.resources: 'mc/tpcreco_*' matches no stage or O2DPG task compared (mc/sgnsim, mc/tpcreco; "
        "a task is <stage>/<task>, without its timeframe suffix)"]


def test_a_tasks_cpu_and_wall_time_ignore_less_than_two_sampling_intervals():
    """The runner samples every ~5 s: 4 -> 13 s of CPU is a sampling step for a task (GOOD),
    a regression for a stage, measured to the tick (BAD); 4 -> 20 s is one for both."""
    def side(key, cpu):
        return {key: {"mc/tpcreco" if key == "tasks" else "mc": {"cpu_s": {"median": cpu, "max": cpu, "n": 2}}}}
    for key, kind in (("tasks", "task"), ("stages", "stage")):
        grades = {cpu: compare(side(key, cpu), side(key, 4.0))[0] for cpu in (13.0, 20.0)}
        assert grades[13.0].kind == kind
        assert (grades[13.0].grade, grades[20.0].grade) == ((GOOD, BAD) if kind == "task" else (BAD, BAD))


def test_a_tasks_memory_ignores_less_than_a_start_up_footprint():
    """Before: a short task sampled once at its start (0.2 MB) and once running (18.6 MB)
    was +10,000%, BAD, and failed an unchanged release (seen with the stand-in O2DPG)."""
    def side(key, mb):
        name = "mc/sgnsim" if key == "tasks" else "mc"
        return {key: {name: {"max_pss_kb": {"median": mb * 1024, "max": mb * 1024, "n": 2}}}}
    for key, kind in (("tasks", "task"), ("stages", "stage")):
        grades = {mb: compare(side(key, mb), side(key, 0.2))[0] for mb in (18.6, 110.0)}
        assert grades[18.6].kind == kind
        assert (grades[18.6].grade, grades[110.0].grade) == ((GOOD, BAD) if kind == "task" else (BAD, BAD))


@pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
def test_a_planted_task_memory_regression_fails_the_o2dpg_campaign(tmp_path):
    """One O2DPG task (tpcreco) holds 60% more memory in the candidate; the physics is the
    same, and the stage's own memory may grow by less than its (here loose) threshold:
    the per-task comparison is what fails the verdict, naming the task and its figures."""
    document = local_campaign()
    # fake_o2's reco step holds this many MB; with the interpreter's ~25 MB the task's peak
    # PSS grows from ~175 to ~285 MB (+60%).
    document["environment"]["setup"] += (
        " && case '{release}' in *new) export FAKE_O2_MEMORY=reco=260;; *) export FAKE_O2_MEMORY=reco=150;; esac")
    # The stage's own memory loosely; a rule written with the timeframe suffix matches no task
    # (tasks are mc/tpcreco): it loosens nothing and is named in the notes.
    document["compare"]["resources"] = [{"match": "mc", "memory": {"warning": 2.0, "bad": 4.0}},
                                        {"match": "mc/tpcreco_*", "memory": {"warning": 5.0, "bad": 9.0}}]
    campaign = _write(tmp_path, document)
    result = relval("run", str(campaign), "--local", "--workdir", str(tmp_path / "w"), "--json",
                    "--archive", str(tmp_path / "a"), timeout=600)
    doc = json.loads(result.stdout)
    assert result.returncode == 1 and doc["verdict"] == "FAIL", (result.stderr, doc.get("reasons"))
    assert doc["qa"]["verdict"] == "PASS"  # the physics did not change
    bad = [g for g in doc["resources"] if g["grade"] == "BAD"]
    assert [(g["kind"], g["stage"], g["metric"]) for g in bad] == [("task", "mc/tpcreco", "memory")], bad
    assert 0.45 < bad[0]["change"] < 0.8, bad
    assert bad[0]["candidate"]["n"] == 4  # 2 jobs x 2 timeframes
    reason = next(r for r in doc["reasons"] if r.startswith("resource regression: "))
    assert reason.startswith("resource regression: O2DPG task mc/tpcreco: memory (peak PSS) +")
    assert " MB, max " in reason
    # every other task of the workflow was compared too, and stayed within its thresholds
    tasks = {g["stage"] for g in doc["resources"] if g["kind"] == "task"}
    assert {"mc/sgngen", "mc/sgnsim", "mc/tpcdigi", "mc/pvfinder", "mc/aod", "mc/aodmerge"} <= tasks
    assert any("compare.resources: 'mc/tpcreco_*' matches no stage or O2DPG task" in n for n in doc["notes"])
    report = (tmp_path / "w" / "report.md").read_text()
    assert "## Resources per O2DPG task" in report and "| mc/tpcreco | memory | BAD |" in report
    archived = next((tmp_path / "a" / "o2dpg-test").glob("*new*/*/resources.json"))
    assert "mc/tpcreco" in json.loads(archived.read_text())["tasks"]
