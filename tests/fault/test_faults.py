"""The fault suite: real processes, real faults, and an exact account of every event.

Each scenario runs the compose services' commands as processes - redis-server with AOF
(`appendfsync always` here, so that "acknowledged by Redis" means "on disk" and the
proof is exact; compose uses `everysec`), moto's S3 server behind a switchable proxy,
`logdig web` (gunicorn, 2 workers), `logdig worker` (rq) and `logdig scheduler`
(rq cron, flushing every second) - while a load generator posts batches of events
with unique event_ids and resends whatever did not get a 202, like the tracker. A fault
is injected under load; then the load drains, a final `logdig flush --force` runs,
and the event ids in storage are compared with those that got a 202:
missing must be 0 and no event may be stored twice (see report.account).

Run: python3 -m pytest tests/fault -q   (marked `integration`; a summary table of the
figures is printed at the end of the run)
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fault.loadgen import LoadGen
from tests.fault.report import account
from tests.fault.stack import Stack, http_get, wait_for

pytestmark = pytest.mark.fault

RATE = 600  # events per second, in batches of 50
FAILPOINTS = ("before-write", "mid-batch", "after-write")


def load_for(stack: Stack, name: str, rate: float = RATE) -> LoadGen:
    return LoadGen(stack.web_port, stack.token, prefix=name, rate=rate)


def full_stack(tmp_path: Path, **settings) -> Stack:
    stack = Stack(tmp_path, **settings)
    try:
        stack.start_scheduler()  # slow to start (imports): let it start while gunicorn does
        stack.start_web(workers=2)
    except BaseException:
        stack.close()
        raise
    return stack


def test_a_worker_killed_mid_flush(tmp_path):
    """The flush worker dies at each failpoint (its rq work-horse exits 137 there), and
    its work-horse is SIGKILLed at random moments while it flushes; `logdig flush` runs
    killed at each failpoint too. The next flush writes the in-flight batch again."""
    rng = random.Random(6)
    kills: Counter = Counter()
    with full_stack(tmp_path) as stack, load_for(stack, "a") as load:
        time.sleep(2)
        for _ in range(2):
            for point in FAILPOINTS:
                worker = stack.start_worker(failpoint=point)
                wait_for(lambda w=worker, p=point: f"test failpoint {p}" in w.log(), 30, f"failpoint {point}")
                worker.kill()
                kills[point] += 1
            # A plain worker; SIGKILL its work-horse at a random moment of a flush.
            worker = stack.start_worker()
            for _ in range(3):
                horse = wait_for(lambda w=worker: w.child_pids(), 30, "a flush work-horse", every=0.005)
                time.sleep(rng.uniform(0, 0.15))
                worker.kill_children()
                kills["horse-sigkill"] += 1
                kills["horse-sigkill-in-flight"] += bool(stack.queue_state()[1])
                assert horse
            worker.kill()
            kills["worker-sigkill"] += 1
        stack.start_worker()
        load.drain()
        stack.final_flush()
        metrics = stack.metrics()
        account(stack, load, "a: worker killed", **kills, flushes=int(metrics["logdig_flushes_total"]))
    assert all(kills[p] == 2 for p in FAILPOINTS)
    assert kills["horse-sigkill-in-flight"] >= 1, "no SIGKILL landed while a batch was in flight"


def test_b_s3_down_then_back(tmp_path):
    """The S3 server is unreachable for `outage` seconds (the proxy resets every
    connection): nothing is written, every acknowledged event waits in Redis, the
    failures are counted in /metrics and on the dashboard, and it all lands once S3 is
    back - without a forced flush."""
    outage = 15.0
    with full_stack(tmp_path) as stack, load_for(stack, "b") as load:
        stack.start_worker()
        wait_for(lambda: stack.stored().objects > 0, 30, "a first object")
        before = stack.metrics()
        stack.proxy.set_up(False)
        time.sleep(1.0)  # an upload already through the proxy may still land: count after it
        objects_before = stack.stored().objects
        acked_at_start = len(load.acked)
        started = time.monotonic()
        # The operator's view during the outage; the health page reads day reports from S3.
        seen: dict[str, object] = {}
        probe = threading.Thread(target=dashboard_probe, args=(stack, outage - 3, seen), daemon=True)
        probe.start()
        peak = 0
        while time.monotonic() - started < outage:
            peak = max(peak, sum(stack.queue_state()))
            time.sleep(0.25)
        held = sum(stack.queue_state())
        acked_during = len(load.acked) - acked_at_start
        during = stack.metrics()
        objects_during = stack.stored().objects
        probe.join(30)
        stack.proxy.set_up(True)
        load.drain()
        wait_for(lambda: stack.queue_state() == (0, 0), 90, "the scheduled flushes to catch up", every=0.25)
        stack.final_flush()
        after = stack.metrics()
        dashboard_status, dashboard = stack.dashboard_health(timeout=120)
        failed_jobs = sum(
            w.log().count("exception raised while executing (worker.jobs.flush_job)") for w in stack.workers
        )
        account(
            stack,
            load,
            f"b: S3 down {outage:.0f} s",
            peak_queued=peak,
            acked_during_outage=acked_during,
            held_at_end_of_outage=held,
            s3_conns_reset=stack.proxy.refused,
            failed_flush_jobs=failed_jobs,
            write_retries=int(after["logdig_write_retries_total"] - before["logdig_write_retries_total"]),
            flush_failures=int(after["logdig_flush_failures_total"] - before["logdig_flush_failures_total"]),
            dashboard_during_outage=seen.get("result"),
        )
    assert objects_during == objects_before, "an object was written while S3 was down"
    assert acked_during > 0 and held >= acked_during, "the queue holds every event acknowledged during the outage"
    # What an operator sees: the flush's storage errors, counted (see the report: the
    # minio SDK's urllib3 errors are not turned into StorageError, so nothing counts them).
    retried = during["logdig_write_retries_total"] - before["logdig_write_retries_total"]
    assert retried > 0, "logdig_write_retries_total did not rise while S3 was down"
    assert dashboard_status == 200
    shown = re.search(r"Storage writes retried</td><td[^>]*>([\d,]+)", dashboard)
    assert shown and int(shown.group(1).replace(",", "")) > 0, "the dashboard shows no storage failure"


def dashboard_probe(stack: Stack, timeout: float, seen: dict) -> None:
    time.sleep(1)
    started = time.monotonic()
    try:
        status, page = stack.dashboard_health(timeout=timeout)
        seen["result"] = f"{status} in {time.monotonic() - started:.1f} s"
    except OSError as e:
        seen["result"] = f"no answer in {time.monotonic() - started:.1f} s ({type(e).__name__})"


def test_c_redis_restarted(tmp_path):
    """redis-server is SIGKILLed under load and started again on its AOF, twice. Every
    event acknowledged before the crash is in storage or back in the queue; while it is
    down the collector answers 503 with Retry-After (never 500) and /readyz fails."""
    down_for = 3.0
    figures: Counter = Counter()
    with full_stack(tmp_path) as stack, load_for(stack, "c") as load:
        stack.start_worker()
        for _ in range(2):
            time.sleep(4)
            with load._lock:
                acked = set(load.acked)
            stack.redis.crash()
            mark = load.count(503)
            assert http_get(stack.web_port, "/healthz")[0] == 200
            status, _, body = http_get(stack.web_port, "/readyz")
            assert status == 503, (status, body)
            figures["readyz_503"] += 1
            time.sleep(down_for)
            figures["posts_503_while_down"] += load.count(503) - mark
            stack.redis.start()
            queued = queued_ids(stack)
            lost = acked - queued - stack.stored().ids.keys()
            assert not lost, f"{len(lost)} acknowledged events gone after the restart, e.g. {sorted(lost)[:5]}"
            figures["acked_before_crash"] = len(acked)
            figures["queued_after_restart"] += len(queued)
            assert http_get(stack.web_port, "/readyz")[0] == 200
            # compose's restart policy: start again whatever exited while Redis was down
            if not stack.scheduler.alive():
                figures["scheduler_exited"] += 1
                stack.start_scheduler()
            if not stack.workers[-1].alive():
                figures["worker_exited"] += 1
                stack.start_worker()
            assert stack.web.alive()
        load.drain()
        wait_for(lambda: stack.queue_state() == (0, 0), 60, "the scheduled flushes to catch up", every=0.25)
        stack.final_flush()
        account(stack, load, f"c: Redis SIGKILLed 2x, down {down_for:.0f} s", **figures)
    assert figures["posts_503_while_down"] > 0


def queued_ids(stack: Stack) -> set[str]:
    import json

    from logdig.queue import INFLIGHT, QUEUE

    r = stack.redis_client()
    try:
        items = r.lrange(QUEUE, 0, -1) + r.lrange(INFLIGHT, 0, -1)
    finally:
        r.close()
    return {json.loads(item)["event_id"] for item in items}


def test_d_gunicorn_workers_restarted_under_load(tmp_path):
    """SIGHUP to the gunicorn master (graceful reload: new workers, old ones finish their
    requests) and SIGKILL of one worker (requests in progress are cut off; the client
    resends, and the collector drops what it had already taken)."""
    rng = random.Random(4)
    figures: Counter = Counter()
    with full_stack(tmp_path) as stack, load_for(stack, "d") as load:
        stack.start_worker()
        for i in range(8):
            time.sleep(rng.uniform(1.0, 2.5))
            # Only the current workers: an old one may still be finishing after a reload.
            pids = wait_for(lambda: len(w := stack.web_workers()) == 2 and w, 30, "2 gunicorn workers")
            if i % 2 == 0:
                stack.web.popen.send_signal(signal.SIGHUP)
                figures["sighup"] += 1
            else:
                os.kill(rng.choice(pids), signal.SIGKILL)
                figures["worker_sigkill"] += 1
            wait_for(lambda p=pids: len(set(stack.web_workers()) - set(p)) >= 1, 30, "a new gunicorn worker")
        assert stack.web.alive()
        load.drain()
        wait_for(lambda: stack.queue_state() == (0, 0), 60, "the scheduled flushes to catch up", every=0.25)
        stack.final_flush()
        account(stack, load, "d: gunicorn reload/kill under load", **figures)


def test_e_queue_past_its_cap(tmp_path):
    """No flush worker: the queue reaches LOGDIG_QUEUE_MAX, POST /logs answers 503 with
    Retry-After and /readyz fails; a worker starts, the queue drains and ingestion
    recovers by itself."""
    queue_max = 3000
    with full_stack(tmp_path, LOGDIG_QUEUE_MAX=queue_max) as stack, load_for(stack, "e") as load:
        wait_for(lambda: load.count(503) > 0, 30, "the first 503")
        status, _, body = http_get(stack.web_port, "/readyz")
        assert status == 503 and b"over capacity" in body, (status, body)
        time.sleep(3)
        full_503 = load.count(503)
        peak = sum(stack.queue_state())
        stack.start_worker()
        wait_for(lambda: http_get(stack.web_port, "/readyz")[0] == 200, 60, "/readyz to recover")
        mark = load.count(202)
        wait_for(lambda: load.count(202) > mark + 20, 30, "202s again")
        load.drain()
        wait_for(lambda: stack.queue_state() == (0, 0), 60, "the scheduled flushes to catch up", every=0.25)
        stack.final_flush()
        retry_after = sorted({value for (status, value) in load.retry_after if status == 503})
        account(
            stack,
            load,
            f"e: queue past LOGDIG_QUEUE_MAX={queue_max}",
            peak_queued=peak,
            posts_503_while_full=full_503,
            retry_after=retry_after,
        )
    assert full_503 > 0 and retry_after, "503 answers carry Retry-After"
    assert peak < queue_max + 1000, "the cap holds (one request may pass it by its own size)"


def test_f_two_flush_workers_at_once(tmp_path):
    """Two rq workers take the scheduled flushes while `logdig flush --force` runs in two
    more processes, over and over: no event is written twice, none is lost."""
    cli_runs: Counter = Counter()
    with full_stack(tmp_path) as stack, load_for(stack, "f") as load:
        stack.start_worker()
        stack.start_worker()
        stop = threading.Event()

        def flush_loop():
            while not stop.is_set():
                cli_runs[stack.flush(force=True).returncode] += 1

        loops = [threading.Thread(target=flush_loop, daemon=True) for _ in range(2)]
        for t in loops:
            t.start()
        time.sleep(20)
        stop.set()
        for t in loops:
            t.join(120)
        load.drain()
        wait_for(lambda: stack.queue_state() == (0, 0), 60, "the scheduled flushes to catch up", every=0.25)
        stack.final_flush()
        metrics = stack.metrics()
        jobs = [w.log().count("Job OK") for w in stack.workers]
        lost_races = sum(w.log().count("already acknowledged") for w in stack.workers)
        row = account(
            stack,
            load,
            "f: 2 rq workers + 2 flush CLIs",
            worker_jobs=jobs,
            cli_flushes=dict(cli_runs),
            objects_written_total=int(metrics["logdig_objects_written_total"]),
            ack_races_lost=lost_races,
        )
    assert set(cli_runs) == {0}, cli_runs
    assert all(jobs), "both rq workers ran flushes"
    assert row["objects_written_total"] >= row["objects"]


def test_b_unreachable_s3_is_a_storage_error(tmp_path):
    """The root of scenario (b)'s missing counters, alone: a write to an S3 endpoint that
    refuses connections must raise StorageError (which the flush retries and counts, and
    the CLI reports in one line), not urllib3's MaxRetryError."""
    from logdig.config import Settings
    from logdig.storage import StorageError, open_store
    from tests.fault.stack import free_port

    store = open_store(
        Settings(s3_endpoint=f"http://127.0.0.1:{free_port()}", aws_access_key_id="a", aws_secret_access_key="b")
    )
    with pytest.raises(StorageError):
        store.put("2026-01-01/x.jsonl", b"{}\n")
