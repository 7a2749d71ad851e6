"""Status from Makeflow's transaction log: last state per node, stages, incremental reads."""

from __future__ import annotations

import random

from relval.workflows.status import LogFollower, LogState, parse_status

HEADER = b"""# NODE\t2\t/bin/sh relval-job.sh m.log 0 merge
# CATEGORY\t2\tmerge
# TARGETS\t2\tm.root\tm.log
# NODE\t1\t/bin/sh relval-job.sh b.log 0 sim
# CATEGORY\t1\tsim
# TARGETS\t1\tb.root\tb.log
# NODE\t0\t/bin/sh relval-job.sh a.log 0 sim
# CATEGORY\t0\tsim
# TARGETS\t0\ta.root\ta.log
# FILE 1000000000000 x.batchlog 1 0
# STARTED 1000000000000
"""


def node(ts_s: float, n: int, state: int) -> bytes:
    return f"{int(ts_s * 1e6)} {n} {state} 77 0 0 0 0 0 3\n".encode()


def test_counts_come_from_the_last_state_of_each_node():
    log = HEADER + node(1e6 + 1, 0, 1) + node(1e6 + 1, 1, 1) + node(1e6 + 2, 0, 2)
    # node 1 fails, is retried (3 -> 0 -> 1) and then completes
    log += node(1e6 + 3, 1, 3) + node(1e6 + 3, 1, 0) + node(1e6 + 4, 1, 1) + node(1e6 + 5, 1, 2)
    status = parse_status(log, now=1e6 + 6)
    assert status.stages["sim"].to_json() == {"total": 2, "waiting": 0, "running": 0, "done": 2, "failed": 0}
    assert status.stages["merge"].waiting == 1 and status.state == "running"
    assert status.attempts == {0: 1, 1: 2}
    assert status.total == 3 and status.done == 2 and abs(status.progress - 2 / 3) < 1e-9
    assert status.elapsed_s == 6.0
    assert status.eta_s == 3.0  # 1 left at 2 jobs per 6 s


def test_completed_marker_does_not_mean_success():
    log = HEADER + node(1e6 + 1, 0, 1) + node(1e6 + 2, 0, 3) + b"# COMPLETED 1000003000000\n"
    status = parse_status(log)
    assert status.state == "failed" and not status.succeeded
    assert status.failed_nodes() == [0]
    assert status.elapsed_s == 3.0


def test_success_needs_every_node_complete():
    log = HEADER + b"".join(node(1e6 + i, i, 1) + node(1e6 + i + 0.5, i, 2) for i in range(3))
    log += b"# COMPLETED 1000004000000\n"
    status = parse_status(log)
    assert status.succeeded and status.state == "finished" and status.eta_s == 0.0


def test_aborted_run_is_not_finished_and_a_restart_resets_the_clock():
    log = HEADER + node(1e6 + 1, 0, 1) + node(1e6 + 2, 0, 4) + b"# ABORTED 1000002500000\n"
    assert parse_status(log).state == "aborted"
    log += b"# STARTED 1000010000000\n" + node(1e6 + 11, 0, 1)
    status = parse_status(log, now=1e6 + 12)
    assert status.state == "running" and status.starts == 2 and status.elapsed_s == 2.0


def test_not_started_and_stopped():
    assert parse_status(b"").state == "not started"
    assert parse_status(HEADER + node(1e6 + 1, 0, 1), running=False).state == "stopped"


def sample_log(jobs: int = 50) -> bytes:
    out = [HEADER]
    for i in range(jobs):
        out.append(node(1e6 + i, i % 3, 1))
        out.append(f"# FILE {int(1e12) + i} f{i}.root 2 10\n".encode())
        out.append(node(1e6 + i + 0.5, i % 3, 2 if i % 7 else 3))
    return b"".join(out)


def summary_json(state: LogState) -> dict:
    return state.summary(now=2e6).to_json()


def test_feeding_in_random_pieces_equals_one_read():
    data = sample_log()
    whole = LogState()
    whole.feed(data)
    rng = random.Random(4)
    for _ in range(20):
        pieces = LogState()
        cuts = sorted(rng.sample(range(1, len(data)), 15))
        for a, b in zip([0, *cuts], [*cuts, len(data)]):
            pieces.feed(data[a:b])
        assert summary_json(pieces) == summary_json(whole)
        assert pieces.last_state == whole.last_state


def test_follower_reads_only_appended_bytes(tmp_path):
    path = tmp_path / "w.makeflow.makeflowlog"
    data = sample_log()
    half = len(data) // 2 + 3  # mid-line
    path.write_bytes(data[:half])
    follower = LogFollower(path)
    first = follower.poll(now=2e6)
    assert follower.offset == half
    with open(path, "ab") as f:
        f.write(data[half:])
    assert follower.read_new() == len(data) - half
    assert follower.state.summary(now=2e6).to_json() == parse_status(data, now=2e6).to_json()
    assert follower.read_new() == 0
    assert first.total == 3


def test_follower_starts_over_when_the_log_is_replaced(tmp_path):
    path = tmp_path / "w.makeflowlog"
    path.write_bytes(sample_log(50))
    follower = LogFollower(path)
    follower.poll()
    path.write_bytes(HEADER)
    assert follower.poll().done == 0


def test_running_tally_matches_a_recount_from_the_nodes():
    data = sample_log(200) + node(1e6 + 500, 2, 1)
    state = LogState()
    rng = random.Random(7)
    position = 0
    while position < len(data):
        step = rng.randint(1, 400)
        state.feed(data[position:position + step])
        position += step
        status = state.summary(now=2e6)
        recount: dict[str, dict[str, int]] = {}
        names = {0: "waiting", 1: "running", 2: "done", 3: "failed", 4: "failed"}
        for n, stage in status.node_stage.items():
            bucket = names[status.node_states.get(n, 0)]
            recount.setdefault(stage, {"waiting": 0, "running": 0, "done": 0, "failed": 0})[bucket] += 1
        got = {name: {k: v for k, v in c.to_json().items() if k != "total"} for name, c in status.stages.items()}
        assert got == recount


def test_stale_pid_files_do_not_count_as_running(tmp_path):
    import os

    from relval.workflows.status import PID_FILE, makeflow_alive

    assert makeflow_alive(tmp_path) is None
    (tmp_path / PID_FILE).write_text(f"{os.getpid()}\n")  # alive, but pytest is no makeflow
    assert makeflow_alive(tmp_path) is False
    (tmp_path / PID_FILE).write_text("999999999\n")
    assert makeflow_alive(tmp_path) is False
