"""`relval rehearse` of the example stack with N initial workers: wall time per step, with
the real engine (`make engine`) against the simulated OpenStack. Also `pulumi preview`
against `relval plan` (the mock engine) on the same stack, as a ratio.

    venv/bin/python benchmarks/rehearse_scale.py [--workers 10 100]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import yaml

from relval.infra.config_source import load_stack
from relval.infra.plan import plan
from relval.rehearse import rehearse

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = yaml.safe_load((REPO / "Pulumi.alice-relval.yaml").read_text())


def stack_file(directory: Path, workers: int) -> Path:
    document = copy.deepcopy(EXAMPLE)
    document["config"]["relval:workers"] = {"initial": workers, "min": 0, "max": max(workers, 1)}
    path = directory / f"Pulumi.bench-{workers}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[10, 100])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'workers':>7} {'resources':>9} {'preview':>8} {'up':>8} {'up again':>9} "
              f"{'scaler':>7} {'down':>7} {'plan':>7} {'preview/plan':>12}  ok")
        for workers in args.workers:
            path = stack_file(Path(tmp), workers)
            result = rehearse(config_file=path)
            steps = {s.name: s.seconds for s in result.steps}
            name, cfg = load_stack(None, path)
            start = time.perf_counter()
            offline = plan(cfg, name)
            plan_s = time.perf_counter() - start
            print(f"{workers:>7} {len(offline.resources):>9} {steps.get('preview', 0):>7.1f}s "
                  f"{steps.get('up', 0):>7.1f}s {steps.get('up again', 0):>8.1f}s "
                  f"{steps.get('scaler boot', 0):>6.1f}s {steps.get('down', 0):>6.1f}s {plan_s:>6.2f}s "
                  f"{steps.get('preview', 0) / plan_s:>12.1f}  {result.ok}")


if __name__ == "__main__":
    main()
