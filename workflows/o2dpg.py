"""The O2DPG stage kind: one relval job runs one O2DPG Monte Carlo workflow of N time frames.

A stage with an `o2dpg:` block instead of a `command:`

```yaml
- name: mc
  per: job
  o2dpg:
    args: -eCM 13600 -col pp -gen pythia8 -proc inel -ns {events} -run {run_number} -seed {job} --include-qc
    timeframes: 2                  # -tf: the time frames of one job; jobs split the dataset further
    target_labels: [AOD, QC]       # the runner's --target-labels: run only what these need
    keep_going: false              # the runner's -k
    collect:                       # declared outputs: flat name -> path in the O2DPG work directory
      AO2D.root: AO2D.root
      vertexQC.root: QC/vertexQC.root
  resources: {cores: 8, memory_mb: 16000}   # the runner's --cpu-limit and --mem-limit
```

becomes an ordinary stage whose command runs the shipped driver
(`o2dpg_driver.py`, standard library only) in the job's sandbox. The driver
generates `workflow.json` with the release's own
`${O2DPG_ROOT}/MC/bin/o2dpg_sim_workflow.py` (the campaign's `environment.setup`
loads the release with alienv, which sets O2DPG_ROOT), runs it with
`${O2DPG_ROOT}/MC/bin/o2_dpg_workflow_runner.py` within the stage's cores and
memory, copies the `collect` files to the stage's outputs, and packs the
runner's logs and metrics into `<stage>-logs.tgz`, always the last output. A
failed O2DPG task is named, with the tail of its log, at the end of the job's
log, which is what relval's report shows for a failed job.

Placeholders (`{events}`, `{job}`, dataset parameters...) work in `args` and
`collect` paths as in any command, and are checked the same way.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from relval.fields import Field

KEYS = ("args", "timeframes", "target_labels", "keep_going", "collect", "runner_args")
DRIVER = Path(__file__).resolve().with_name("o2dpg_driver.py")
LABEL_RE = re.compile(r"^[A-Za-z0-9_.*+-]+$")
FILE_RE = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$")
# o2dpg_sim_workflow.py options the stage sets itself (from timeframes, and the workflow name).
OWNED_ARGS = ("-tf", "-o")


def logs_name(stage: str) -> str:
    return f"{stage}-logs.tgz"


def parse(f: Field, stage: str | None, cores: int | None, memory_mb: int | None) -> tuple[str, tuple[str, ...]] | None:
    """The command and outputs of an O2DPG stage from its `o2dpg:` block; None after an error."""
    if not f.mapping(required=True, allowed=KEYS):
        return None
    ok = True
    args = f["args"].string(required=True)
    if args is not None:
        words = args.split()
        for owned in OWNED_ARGS:
            if owned in words:
                f["args"].error(f"sets {owned} itself: relval sets it (timeframes, workflow.json)")
                ok = False
    timeframes = f["timeframes"].integer(required=True, minimum=1, maximum=1000)
    labels = []
    for entry in f["target_labels"].items(required=True):
        label = entry.string(required=True)
        if label is not None and not LABEL_RE.match(label):
            entry.error(f"must be a label or a regular expression without spaces (got {label!r})")
            ok = False
        elif label is not None:
            labels.append(label)
    if f["target_labels"].present and not labels:
        f["target_labels"].error("must list at least one label (for example AOD, QC)")
        ok = False
    keep_going = f["keep_going"].boolean(default=False)
    runner_args = f["runner_args"].string(default="", non_empty=False) or ""
    collect: list[tuple[str, str]] = []
    if f["collect"].mapping(required=True):
        for key in f["collect"].keys():
            item = f["collect"][str(key)]
            source = item.string(required=True)
            if not isinstance(key, str) or not FILE_RE.match(key):
                item.error("must be a plain output file name without '/' or spaces")
                ok = False
            elif source is not None and (source.startswith("/") or ".." in Path(source).parts
                                         or any(c.isspace() for c in source)):
                item.error(f"must be a path inside the O2DPG work directory (got {source!r})")
                ok = False
            elif source is not None:
                collect.append((key, source))
        if not collect and f["collect"].present:
            f["collect"].error("must name at least one output (for example AO2D.root: AO2D.root)")
            ok = False
    if not ok or None in (args, timeframes, stage) or not labels or not collect:
        return None
    outputs = tuple(name for name, _ in collect) + (logs_name(stage),)
    words = ["python3", DRIVER.name, "--timeframes", str(timeframes), "--target-labels", *labels]
    if cores:
        words += ["--cpu-limit", str(cores)]
    if memory_mb:
        words += ["--mem-limit", str(memory_mb)]
    if keep_going:
        words.append("--keep-going")
    if runner_args:
        words += ["--runner-args", shlex.quote(runner_args)]
    for index, (_, source) in enumerate(collect):
        words += ["--collect", f"{{outputs[{index}]}}={source}"]
    words += ["--logs", f"{{outputs[{len(collect)}]}}", "--", args]
    return " ".join(words), outputs
