"""Benchmark: a service-invocation job over 10,000 devices, staged 1% → 10% → 100% at 1,000 executions/min,
run by a real Celery worker; then the same job with 10% misbehaving devices, which must abort within 30 s of
crossing its criterion (≥ 5% failed after ≥ 100 executions).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_jobs REDIS_URL=redis://127.0.0.1:6379/3 \\
        python bench/bulk_job.py --devices 10000 --rate 1000 --abort-runs 3

What is real: the job engine in a `celery worker` process (claims, stages, rate limit, abort), the portal's
connectivity services (invoke_service sends each command through the channel layer, waits for the reply,
times out the silent ones). What is simulated: the devices' side. 10,000 websocket connections do not fit on
this 2-core machine next to the worker, so each device has a live-session row (as a connection would write)
and a responder thread answers each command through connectivity's own reply handler
(`record_command_reply`, what a connection calls when a device replies), the way a device would. Misbehaving
devices (every 10th) never answer, so their executions time out.
Prints: per stage the executions and their time, the effective rate, per-device outcomes, and for the abort
runs the time from crossing the criterion to the job's abort (worst of N), with the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import _setup  # noqa: E402,F401 - Django, configured
from django.db import close_old_connections  # noqa: E402
from django.db.models import Count, Max, Min  # noqa: E402
from django.utils.timezone import now  # noqa: E402

PREFIX = "jobbench-"


def setup(count: int):
    from accounts.actors import SYSTEM
    from accounts.models import OrganizationUnit, User
    from accounts.services import create_ou
    from assets.models import Device, Product, ThingModel
    from connectivity.models import DeviceSession

    owner, _ = User.objects.get_or_create(username="jobbench-owner", defaults={"phone": "+8613800009998"})
    ou = OrganizationUnit.objects.filter(name="Job bench").first() or create_ou(SYSTEM, "Job bench", owner)
    model, _ = ThingModel.objects.get_or_create(ou=ou, model_id="jobbench_meter", defaults={
        "name": "Job bench meter", "services": [{"identifier": "restart", "name": "Restart", "input": [
            {"identifier": "delay", "name": "Delay", "data_type": "int32"}], "output": []}]})
    product = Product.objects.filter(ou=ou, model=model).first() or Product.objects.create(
        ou=ou, name="Job bench meter", model=model)
    have = Device.objects.filter(ou=ou, device_key__startswith=PREFIX).count()
    if have < count:
        Device.objects.bulk_create([Device(ou=ou, product=product, device_key=f"{PREFIX}{i:05d}", name=f"JB {i}")
                                    for i in range(have, count)], batch_size=2000)
    devices = Device.objects.filter(ou=ou, device_key__startswith=PREFIX).order_by("pk")
    ids = list(devices.values_list("pk", flat=True)[:count])
    Device.objects.filter(pk__in=ids).update(online=True, enabled=True, activated_at=now())
    DeviceSession.objects.filter(device_id__in=ids).delete()
    DeviceSession.objects.bulk_create([DeviceSession(device_id=pk, session_id=f"bench-{pk}", transport="websocket")
                                       for pk in ids], batch_size=2000)
    return owner, ou, ids


class Responder(threading.Thread):
    """The devices' side: answers each pending command through connectivity's reply handler."""

    def __init__(self, ou_id: int, silent: set[int]) -> None:
        super().__init__(daemon=True)
        self.ou_id, self.silent, self.stop = ou_id, silent, threading.Event()
        self.answered = 0

    def run(self) -> None:
        from connectivity.handlers.commands import record_command_reply
        from connectivity.models import CommandInvocation, CommandStatus
        from connectivity.sessions import DeviceRef, Session

        seen: set[int] = set()
        while not self.stop.is_set():
            pending = list(CommandInvocation.objects.filter(ou_id=self.ou_id, status=CommandStatus.PENDING)
                           .exclude(device_id__in=self.silent).values_list("pk", "device_id")[:500])
            for pk, device_id in pending:
                if pk in seen:
                    continue
                seen.add(pk)
                ref = DeviceRef(id=device_id, asset_id="", product_key="", device_key="", model_id=0,
                                is_gateway=False)
                session = Session(session_id=f"bench-{device_id}", transport="websocket", device=ref)
                record_command_reply(session, {"id": f"cmd-{pk}", "code": 200, "data": {}}, ref)
                self.answered += 1
            close_old_connections()
            if not pending:
                time.sleep(0.05)


def worker() -> subprocess.Popen:
    env = {**os.environ, "FLEET_CHUNK": "50", "FLEET_SLICE_SECONDS": "20"}
    log = open("/tmp/bulk_job_worker.log", "w")  # noqa: SIM115 - kept open for the child's life
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "enos_portal", "worker", "--pool", "solo",
                             "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def run_job(owner, ou, ids: list[int], *, rate: int, timeout: float, silent: set[int], limit: float):
    from assets.models import Device
    from fleet import services
    from fleet.models import FINISHED_JOB_STATES, Job

    asset_ids = list(Device.objects.filter(pk__in=ids).order_by("pk").values_list("asset_id", flat=True))
    responder = Responder(ou.pk, silent)
    responder.start()
    started = time.monotonic()
    job = services.start_job(owner, ou, action="invoke_service", params={"service": "restart",
                                                                          "params": {"delay": 1}},
                             asset_ids=asset_ids, stages=[1, 10, 100], rate_per_minute=rate,
                             timeout_seconds=timeout, abort_failure_percent=5, abort_min_executions=100)
    while time.monotonic() - started < limit:
        state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
        if state in FINISHED_JOB_STATES:
            break
        time.sleep(1)
    responder.stop.set()
    responder.join()
    job.refresh_from_db()
    return job, time.monotonic() - started


def report_stages(job) -> None:
    rows = (job.executions.exclude(finished_at=None).order_by("stage").values("stage")
            .annotate(n=Count("id"), first=Min("claimed_at"), last=Max("finished_at")))
    for row in rows:
        if row["first"] is None or row["last"] is None:  # nothing of the stage ran (cancelled by the abort)
            continue
        span = (row["last"] - row["first"]).total_seconds()
        print(f"  stage {row['stage'] + 1}: {row['n']:>6} executions in {span:7.1f} s"
              f" ({row['n'] / span * 60 if span else 0:,.0f}/min)")
    counts = dict(job.executions.order_by().values_list("state").annotate(n=Count("id")))
    print(f"  outcomes: {counts}")


def crossing_to_abort(job) -> float:
    """Seconds from the moment the criterion was first met (by the executions' finish times) to the abort."""
    failed = 0
    rows = job.executions.exclude(finished_at=None).exclude(state="cancelled").order_by("finished_at")
    for finished, (state, at) in enumerate(rows.values_list("state", "finished_at"), start=1):
        failed += state == "failed"
        if finished >= job.abort_min_executions and failed * 100 >= job.abort_failure_percent * finished:
            return (job.finished_at - at).total_seconds()
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=5.0, help="per-execution timeout (s)")
    parser.add_argument("--abort-runs", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="only the abort runs")
    args = parser.parse_args()
    _setup.ensure_database(recreate=False, example="bench_jobs")
    owner, ou, ids = setup(args.devices)
    print(f"{len(ids):,} devices with a live session; rate {args.rate}/min, stages 1% → 10% → 100%")
    process = worker()
    try:
        if not args.skip_full:
            expected = len(ids) / args.rate * 60
            job, took = run_job(owner, ou, ids, rate=args.rate, timeout=args.timeout, silent=set(),
                                limit=expected * 2 + 120)
            print(f"full job: {job.state} in {took:.1f} s (the rate alone needs {expected:.0f} s)")
            report_stages(job)
        worst = 0.0
        for run in range(args.abort_runs):
            silent = set(ids[::10])  # every 10th device never answers
            job, took = run_job(owner, ou, ids, rate=args.rate, timeout=args.timeout, silent=silent, limit=600)
            delta = crossing_to_abort(job)
            worst = max(worst, delta)
            print(f"abort run {run + 1}: {job.state} after {took:.1f} s; {job.message}")
            print(f"  criterion crossed → aborted: {delta:.2f} s")
            report_stages(job)
        print(f"worst crossing → abort of {args.abort_runs}: {worst:.2f} s (target ≤ 30 s)")
        print(f"load average: {os.getloadavg()}")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
