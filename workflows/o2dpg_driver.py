"""relval's O2DPG job: generate an O2DPG MC workflow, run it, collect its outputs and logs.

Shipped into every O2DPG job's sandbox by relval (see relval.workflows.o2dpg) and
run there with the release's python3, so it uses the standard library only.

    python3 o2dpg_driver.py --timeframes N --target-labels L... [--cpu-limit C] [--mem-limit MB]
        [--keep-going] [--runner-args 'ARGS'] --collect OUT=PATH... --logs LOGS.tgz -- SIM-ARGS...

1. `${O2DPG_ROOT}/MC/bin/o2dpg_sim_workflow.py SIM-ARGS -tf N -o workflow.json`;
2. checks that every target label names at least one task of workflow.json;
3. `${O2DPG_ROOT}/MC/bin/o2_dpg_workflow_runner.py -f workflow.json --target-labels L...
   --cpu-limit C --mem-limit MB [-k] ARGS`;
4. copies each PATH to OUT, and packs workflow.json, the runner's pipeline logs and
   metrics and every task log into LOGS.tgz (also when something failed);
5. reduces the runner's per-task samples (`pipeline_metric_<pid>.log`) to figures per
   task: one `relval-o2dpg: task-metrics` line each in the job log, beside the job's own
   `relval-job: metrics` line, for relval.workflows.resources; the same figures go to
   `o2dpg_task_metrics.json` in LOGS.tgz;
6. on failure prints, last, the failed tasks with the tail of their logs (the runner
   logs each task to `<cwd>/<name>.log` and leaves `<name>.log_done` when it succeeded).

The runner's metric log (both runners of O2DPG: MC/bin/o2dpg_workflow_runner_legacy.py
and MC/workflow_runner) is written by Python's logging with the format
`%(asctime)s %(levelname)s %(message)s` and a dict as the message, so each line is
`2026-11-30 09:10:00,123 INFO {'iter': 3, 'name': 'tpcreco_1', 'cpu': 187.5, 'uss': 812.1,
'pss': 840.6, 'nice': 0, 'swap': 0, 'label': ['RECO', 'TPC'], 'disc': -1}`, one per
running task and sampling pass: `cpu` in percent of one core since the previous pass,
`uss`/`pss` in MB summed over the task's process tree. The first line is the meta dict
(no 'iter'); `__cgroup_global__` rows and non-dict lines (`*** MEMORY LIMIT PASSED !! ***`)
are not tasks. The reductions are the runner's and O2DPG's own (o2dpg_sim_metrics.py):
peak PSS and USS, wall time from the first to the last sample, CPU seconds as the
time-weighted sum of the CPU samples after the first (the first is a psutil baseline).

Exit code: 0 when the runner succeeded and every output was collected, else the
runner's code (1 when collection alone failed, 2 for bad use).
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from datetime import datetime

TAIL_LINES = 12
FAILED_RE = re.compile(r"^(\S+) failed \.\.\. checking retry")
TASK_METRICS_JSON = "o2dpg_task_metrics.json"


def say(message: str) -> None:
    print(f"relval-o2dpg: {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="o2dpg_driver.py", description=__doc__.splitlines()[0])
    parser.add_argument("--timeframes", type=int, required=True)
    parser.add_argument("--target-labels", nargs="+", required=True)
    parser.add_argument("--cpu-limit", type=int)
    parser.add_argument("--mem-limit", type=int)
    parser.add_argument("--keep-going", action="store_true")
    parser.add_argument("--runner-args", default="")
    parser.add_argument("--collect", action="append", default=[], help="OUT=PATH")
    parser.add_argument("--logs", required=True)
    parser.add_argument("--o2dpg-root", default=os.environ.get("O2DPG_ROOT", ""))
    parser.add_argument("sim_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.sim_args[:1] == ["--"]:
        args.sim_args = args.sim_args[1:]
    return args


def run_streamed(command: list[str]) -> tuple[int, list[str]]:
    """Run, echoing every line to our stdout (the job log); returns (exit code, lines)."""
    say("running " + " ".join(shlex.quote(c) for c in command))
    lines: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as process:
        for line in process.stdout:
            sys.stdout.write(line)
            lines.append(line.rstrip("\n"))
    sys.stdout.flush()
    return process.returncode, lines


def load_workflow(path: str) -> list[dict]:
    with open(path) as handle:
        document = json.load(handle)
    stages = document.get("stages") if isinstance(document, dict) else None
    if not isinstance(stages, list):
        raise ValueError(f"{path}: no 'stages' list")
    for task in stages:
        for key in ("name", "cmd", "needs", "resources", "timeframe", "labels", "cwd"):
            if key not in task:
                raise ValueError(f"{path}: task {task.get('name', '?')!r} has no {key!r}")
    return stages


def label_matches(label: str, labels: list[str]) -> bool:
    """The runner treats target labels as regular expressions matched against task labels."""
    try:
        pattern = re.compile(label)
    except re.error:
        return label in labels
    return any(pattern.fullmatch(task_label) for task_label in labels)


def task_log(task: dict) -> str:
    return os.path.normpath(os.path.join(task["cwd"], f"{task['name']}.log"))


def failed_tasks(stages: list[dict], runner_lines: list[str]) -> list[dict]:
    """Tasks the runner reported failed and that did not succeed on a retry."""
    named = [m.group(1) for m in map(FAILED_RE.match, runner_lines) if m]
    by_name = {task["name"]: task for task in stages}
    out = []
    for name in dict.fromkeys(named):
        task = by_name.get(name)
        if task is not None and not os.path.exists(task_log(task) + "_done"):
            out.append(task)
    return out


def tail(path: str, lines: int = TAIL_LINES) -> list[str]:
    try:
        with open(path, errors="replace") as handle:
            return [line.rstrip("\n") for line in handle.readlines()[-lines:]]
    except OSError:
        return [f"(no log {path})"]


def metric_samples(path: str) -> list[dict]:
    """The task samples of one runner metric log, each with its `time` (s since epoch)."""
    samples = []
    with open(path, errors="replace") as handle:
        for line in handle:
            words = line.split(" ", 3)
            if len(words) < 4 or not words[3].lstrip().startswith("{"):
                continue  # not a logged dict: a warning line, a truncated last line
            try:
                when = datetime.strptime(f"{words[0]} {words[1]}", "%Y-%m-%d %H:%M:%S,%f").timestamp()
                sample = ast.literal_eval(words[3].strip())  # Python's repr of a dict
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if (isinstance(sample, dict) and "iter" in sample and isinstance(sample.get("name"), str)
                    and not sample["name"].startswith("__")):
                samples.append({**sample, "time": when})
    return samples


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def reduce_samples(samples: list[dict]) -> dict:
    """One task's figures from its samples, in time order."""
    samples = sorted(samples, key=lambda s: (s["time"], _number(s.get("iter"))))
    cpu_s = sum(max(_number(s.get("cpu")), 0.0) / 100 * (s["time"] - before["time"])
                for before, s in zip(samples, samples[1:]))
    return {"cpu_s": round(cpu_s, 3),
            "wall_s": round(samples[-1]["time"] - samples[0]["time"], 3),
            "max_pss_kb": round(max(_number(s.get("pss")) for s in samples) * 1024),
            "max_uss_kb": round(max(_number(s.get("uss")) for s in samples) * 1024),
            "samples": len(samples)}


def task_metrics(paths: list[str]) -> dict[str, dict]:
    """Per task name (with its timeframe suffix, as the runner names it): the figures of
    its last run. A task rerun by a later runner (a resumed job) counts once, last."""
    figures: dict[str, dict] = {}
    for path in sorted(paths, key=os.path.getmtime):
        by_task: dict[str, list[dict]] = {}
        for sample in metric_samples(path):
            by_task.setdefault(sample["name"], []).append(sample)
        for name, samples in by_task.items():
            figures[name] = reduce_samples(samples)
    return dict(sorted(figures.items()))


def report_task_metrics(figures: dict[str, dict]) -> None:
    """One line per task in the job log (read by relval.workflows.resources), and the JSON."""
    with open(TASK_METRICS_JSON, "w") as handle:
        json.dump(figures, handle, indent=1)
    if not figures:
        say("no task samples in the runner's pipeline_metric_*.log: no per-task figures")
    for name, values in figures.items():
        print("relval-o2dpg: task-metrics " + " ".join([f"name={name}"] + [f"{k}={v}" for k, v in values.items()]))
    sys.stdout.flush()


def pack_logs(target: str, stages: list[dict]) -> None:
    names = ["workflow.json", *sorted(glob.glob("pipeline_*.log")), *sorted(glob.glob("*_metrics*.json"))]
    for task in stages:
        log = task_log(task)
        names += [p for p in (log, log + "_done", log + "_time") if os.path.exists(p)]
    with tarfile.open(target, "w:gz") as archive:
        for name in dict.fromkeys(names):
            if os.path.exists(name):
                archive.add(name)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    bin_dir = os.path.join(args.o2dpg_root, "MC", "bin")
    generator = os.path.join(bin_dir, "o2dpg_sim_workflow.py")
    runner = os.path.join(bin_dir, "o2_dpg_workflow_runner.py")
    if not args.o2dpg_root or not os.path.isfile(generator):
        say(f"O2DPG not found (O2DPG_ROOT={args.o2dpg_root!r}): load the release with alienv in "
            "environment.setup")
        return 2
    collect = []
    for item in args.collect:
        out, _, path = item.partition("=")
        if not out or not path:
            say(f"--collect {item!r}: expected OUT=PATH")
            return 2
        collect.append((out, path))

    rc, _ = run_streamed([sys.executable, generator, *args.sim_args, "-tf", str(args.timeframes),
                          "-o", "workflow.json"])
    if rc != 0 or not os.path.isfile("workflow.json"):
        say(f"o2dpg_sim_workflow.py failed (exit {rc}): no workflow.json")
        return rc or 1
    try:
        stages = load_workflow("workflow.json")
    except (ValueError, json.JSONDecodeError) as error:
        say(f"workflow.json is not an O2DPG workflow: {error}")
        return 1
    labels = sorted({label for task in stages for label in task["labels"]})
    timeframes = sorted({task["timeframe"] for task in stages if task["timeframe"] > 0})
    say(f"workflow.json: {len(stages)} tasks, timeframes {timeframes}, labels {labels}")
    unknown = [label for label in args.target_labels if not label_matches(label, labels)]
    if unknown:
        say(f"target label(s) {unknown} match no task of workflow.json (labels: {labels})")
        pack_logs(args.logs, stages)
        return 1

    command = [sys.executable, runner, "-f", "workflow.json", "--target-labels", *args.target_labels]
    if args.cpu_limit:
        command += ["--cpu-limit", str(args.cpu_limit)]
    if args.mem_limit:
        command += ["--mem-limit", str(args.mem_limit)]
    if args.keep_going:
        command.append("-k")
    command += shlex.split(args.runner_args)
    rc, lines = run_streamed(command)

    missing = []
    for out, path in collect:
        if os.path.isfile(path):
            shutil.copyfile(path, out)
        else:
            missing.append(path)
    report_task_metrics(task_metrics(glob.glob("pipeline_metric_*.log")))
    pack_logs(args.logs, stages)
    failed = failed_tasks(stages, lines) if rc != 0 else []
    for task in failed:
        say(f"task {task['name']} (timeframe {task['timeframe']}) failed; last lines of {task_log(task)}:")
        for line in tail(task_log(task)):
            print(f"  | {line}")
    if missing:
        say(f"declared outputs not produced: {', '.join(missing)}")
    if rc != 0:
        names = ", ".join(task["name"] for task in failed) or "unknown (see the runner's output)"
        say(f"o2_dpg_workflow_runner.py failed (exit {rc}); failed task(s): {names}")
        return rc
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
