"""Time reading status from a 1,000,000-line Makeflow transaction log, then incrementally,
and the whole `relval status DIR --json` command on it.

    venv/bin/python benchmarks/workflow_status.py [--lines N]

The log is synthetic but shaped like makeflow's with --log-verbose: per node the
NODE/CATEGORY/SYMBOL/PARENTS/SOURCES/TARGETS/COMMAND lines, then for every attempt `# FILE` lines and the
running/complete (or failed/retry) node lines. Goal: <= 1 s for 1,000,000 lines; a poll
after the log grew by 1,000 lines must only cost those lines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from relval.workflows.status import LogFollower


def synthetic_log(lines: int) -> tuple[bytes, list[bytes]]:
    """(the log, extra lines to append afterwards)."""
    nodes = lines // 11 + 1000  # 7 header lines and about 4 event lines per node
    stages = ("sim", "rec", "qa", "merge")
    out = []
    for n in range(nodes):
        stage = stages[n * len(stages) // nodes]
        command = f"/bin/sh relval-job.sh x.{n}.log 0 run {n}"
        out.append(f"# NODE\t{n}\t{command}\n")
        out.append(f"# CATEGORY\t{n}\t{stage}\n")
        out.append(f"# SYMBOL\t{n}\t{stage}\n")
        out.append(f"# PARENTS\t{n}\t{max(0, n - 1)}\n")
        out.append(f"# SOURCES\t{n}\trelval-job.sh\tx.{max(0, n - 1)}.root\n")
        out.append(f"# TARGETS\t{n}\tx.{n}.root\tx.{n}.log\n")
        out.append(f"# COMMAND\t{n}\t{command}\n")
    out.append("# STARTED 1800000000000000\n")
    ts = 1800000000000000
    events = []
    for n in range(nodes):
        ts += 1000
        events.append(f"# FILE {ts} x.{n}.root 1 1073741824\n")
        events.append(f"{ts} {n} 1 {1000 + n} 0 1 0 0 0 {nodes}\n")
        events.append(f"# FILE {ts + 400} x.{n}.root 2 5000\n")
        state = 3 if n % 97 == 0 else 2
        events.append(f"{ts + 500} {n} {state} {1000 + n} 0 0 1 0 0 {nodes}\n")
        if state == 3:  # retried, then done
            events.append(f"{ts + 600} {n} 0 {1000 + n} 1 0 0 0 0 {nodes}\n")
            events.append(f"{ts + 700} {n} 1 {2000 + n} 0 1 0 0 0 {nodes}\n")
            events.append(f"{ts + 800} {n} 2 {2000 + n} 0 0 1 0 0 {nodes}\n")
    every = out + events
    body = every[:lines - 1000]
    extra = [line.encode() for line in every[lines - 1000:lines]]
    return "".join(body).encode(), extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    data, extra = synthetic_log(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.makeflow.makeflowlog"
        path.write_bytes(data)
        full = []
        for _ in range(3):  # best of 3 for the full read: the machine may be busy
            follower = LogFollower(path)
            t0 = time.perf_counter()
            status = follower.poll()
            full.append(time.perf_counter() - t0)
        with open(path, "ab") as f:
            f.write(b"".join(extra))
        t2 = time.perf_counter()
        follower.poll()
        t3 = time.perf_counter()
        t4 = time.perf_counter()
        again = follower.poll()
        t5 = time.perf_counter()
        (Path(tmp) / "bench.makeflow").write_text("")
        command = []
        for _ in range(3):  # the command as a user runs it: start, liveness check, table
            t6 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "relval", "status", tmp, "--json"],
                           capture_output=True, check=False)
            command.append(time.perf_counter() - t6)
    full_lines = data.count(b"\n")
    print(f"log: {full_lines:,} lines, {len(data) / 1e6:.1f} MB; {status.total:,} nodes in "
          f"{len(status.stages)} stages, {status.done:,} done")
    print(f"full read + summary, best of 3: {min(full):.3f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in full)}; goal <= 1 s)")
    print(f"incremental poll after {len(extra):,} appended lines: {(t3 - t2) * 1e3:.1f} ms")
    print(f"incremental poll with nothing new: {(t5 - t4) * 1e3:.1f} ms "
          f"(summary only; {again.done:,} done)")
    print(f"`relval status DIR --json` (process start included), best of 3: {min(command):.3f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in command)})")


if __name__ == "__main__":
    main()
