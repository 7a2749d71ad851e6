"""Resource use per job (measured by the real job wrapper), per-stage comparison with
thresholds, and the planted memory regression of toy/v3 failing the verdict."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from relval.errors import RelvalError
from relval.workflows.campaign import load_campaign, parse_campaign
from relval.workflows.resources import (BAD, GOOD, WARNING, compare, judge_resources, parse_metrics,
                                        summarize)
from relval.workflows.verdict import Verdict
from relval.workflows.wrapper import wrapper_script

from .archive_support import small_toy
from .conftest import REPO
from .test_archive import relval


def stages(**per_stage):
    rows = [{"stage": stage, "unit": str(i), **values} for stage, jobs in per_stage.items()
            for i, values in enumerate(jobs)]
    return {"stages": summarize(rows)}


def mb(n):
    return n * 1024  # kB


def test_memory_grades_use_median_and_max_with_a_floor():
    ref = stages(rec=[{"max_rss_kb": mb(100)}, {"max_rss_kb": mb(100)}, {"max_rss_kb": mb(100)}])
    grades = lambda new: {g.stage: g.grade for g in compare(stages(rec=new), ref)}  # noqa: E731
    assert grades([{"max_rss_kb": mb(110)}] * 3) == {"rec": GOOD}
    assert grades([{"max_rss_kb": mb(130)}] * 3) == {"rec": WARNING}
    assert grades([{"max_rss_kb": mb(160)}] * 3) == {"rec": BAD}
    # One job of three leaking: the median is fine, the maximum is not.
    assert grades([{"max_rss_kb": mb(100)}, {"max_rss_kb": mb(100)}, {"max_rss_kb": mb(200)}]) == {"rec": BAD}
    # +100% of a tiny figure is below the 10 MB floor: noise, not a regression.
    tiny = stages(rec=[{"max_rss_kb": mb(2)}])
    assert compare(stages(rec=[{"max_rss_kb": mb(4)}]), tiny)[0].grade == GOOD


def test_time_is_looser_than_memory_and_stages_only_on_one_side_are_skipped():
    ref = stages(sim=[{"cpu_s": 100.0, "wall_s": 100.0}], only_ref=[{"cpu_s": 1.0}])
    new = stages(sim=[{"cpu_s": 180.0, "wall_s": 300.0}], only_new=[{"cpu_s": 9.0}])
    got = {(g.stage, g.metric): g.grade for g in compare(new, ref)}
    assert got == {("sim", "cpu_s"): WARNING, ("sim", "wall_s"): WARNING}  # wall never BAD by default
    assert compare(stages(sim=[{"cpu_s": 400.0}]), ref)[0].grade == BAD


def test_per_stage_rules_from_the_campaign(tmp_path):
    doc = yaml.safe_load((REPO / "examples" / "smoke.yaml").read_text())
    doc["compare"]["resources"] = [{"match": "re*", "memory": {"warning": 1.0, "bad": 2.0}}]
    campaign = parse_campaign(doc, base_dir=REPO / "examples")
    ref, new = stages(rec=[{"max_rss_kb": mb(100)}]), stages(rec=[{"max_rss_kb": mb(160)}])
    assert compare(new, ref, campaign.resource_rules)[0].grade == GOOD
    doc["compare"]["resources"] = [{"match": "rec", "memory": {"warning": 0.5, "bad": 0.1}}]
    with pytest.raises(RelvalError, match=r"compare.resources\[0\].memory: bad \(0.1\) must be >= warning"):
        parse_campaign(doc, base_dir=REPO / "examples")


def test_a_bad_resource_grade_fails_a_pass_and_never_rescues_no_verdict():
    ref, new = stages(rec=[{"max_rss_kb": mb(100)}]), stages(rec=[{"max_rss_kb": mb(160)}])
    grades = compare(new, ref)
    failed = judge_resources(Verdict("PASS", (), True, True), grades)
    assert failed.verdict == "FAIL" and failed.exit_code == 1
    assert "stage rec: memory +60% (median 100.0 -> 160.0 MB" in failed.reasons[0]
    assert judge_resources(Verdict("NO_VERDICT", ("x",)), grades).verdict == "NO_VERDICT"


def test_the_wrapper_measures_the_whole_process_tree(tmp_path):
    (tmp_path / "relval-job.sh").write_text(wrapper_script(load_campaign(REPO / "examples" / "smoke.yaml")))
    hold = ("import time; b = bytearray({n} * 2**20); b[::4096] = b'x' * len(b[::4096]); "
            "time.sleep(1.5); open('out{n}', 'wb').write(bytes(b[:2**20]))")
    (tmp_path / "cmd").write_text(f'python3 -c "{hold.format(n=120)}" & python3 -c "{hold.format(n=80)}"; wait\n')
    done = subprocess.run(["sh", "relval-job.sh", "job.log", "0", "-f", "cmd"], cwd=tmp_path)
    assert done.returncode == 0
    metrics = parse_metrics((tmp_path / "job.log").read_text())
    # Both processes at once: at least 200 MB together, more than either alone.
    assert metrics["max_rss_kb"] >= mb(200), metrics
    assert metrics["bytes_written"] >= 2 * 2**20 and metrics["wall_s"] >= 1.5
    assert metrics["cpu_s"] >= 0.05
    assert not list(tmp_path.glob("job.log.*"))  # its scratch files are gone


@pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")
def test_a_planted_memory_regression_fails_the_campaign(tmp_path):
    """toy/v3: identical physics (QA passes), 60% more peak memory in rec."""
    campaign = small_toy(tmp_path, release="toy/v3")
    result = relval("run", str(campaign), "--local", "--workdir", str(tmp_path / "w"), "--json",
                    "--archive", str(tmp_path / "a"))
    doc = json.loads(result.stdout)
    assert result.returncode == 1 and doc["verdict"] == "FAIL", result.stderr
    assert doc["qa"]["verdict"] != "FAIL"  # the physics did not change
    bad = [g for g in doc["resources"] if g["grade"] == "BAD"]
    assert [(g["stage"], g["metric"]) for g in bad] == [("rec", "memory")]
    assert 0.4 < bad[0]["change"] < 0.8
    assert any(r.startswith("resource regression: stage rec: memory +") for r in doc["reasons"])
    report = (tmp_path / "w" / "report.md").read_text()
    assert "| rec | memory | BAD |" in report
    archived = next(Path(tmp_path / "a" / "smoke").glob("toy-v3-*/*/resources.json"))
    assert {j["stage"] for j in json.loads(archived.read_text())["jobs"]} == {"sim", "rec", "qa", "merge"}
