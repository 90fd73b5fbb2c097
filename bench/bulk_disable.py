"""Bulk Disable at scale: a Disable job over the 100,000 devices of one OU that match a query, 1,000 of them
connected, run by a real Celery worker, in PostgreSQL with Redis and one ASGI worker.

Loads N devices (default 1,000,000, a tenth per OU) with bench/device_query.py's loader, starts uvicorn and a
Celery worker (prefork, two processes, as `run_portal` starts it), connects --connected devices of the
measured OU over the device websocket (real logins: DeviceSession rows, live connections held by --clients
client processes), then times what the console's "Actions on all matching… → Disable" does: `start_job` with
the query `NOT status:disabled` (all of the OU's devices: each run first re-enables the OU), the job run by
the worker to completion, until every connected device has seen its connection closed by the portal (close
code 4003). Prints each run, the worst of --repeat (3) and the machine's load. Target (#15): ≤ 10 s, every
connected device kicked.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_bulk_bench REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/bulk_disable.py
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 10.0
CONNECT_CONCURRENCY = 50
KICK_WAIT_SECONDS = 300  # how long the clients wait for their connections to close, from the start
QUERY = "NOT status:disabled"
VACUUMED = ("assets_disablement", "assets_device", "fleet_jobexecution", "connectivity_devicesession",
            "connectivity_connectionrecord")


def _bench_module(name: str):
    """A sibling benchmark loaded by path (bench/connectivity.py shares its name with the project's app)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the client processes: hold the connections, report when the portal closes them ---------------

def client_process(triples: list, url: str, connected: mp.Value, go: mp.Event, results: mp.Queue) -> None:
    results.put(asyncio.run(_client(triples, url, connected, go)))


async def _client(triples: list, url: str, connected: mp.Value, go: mp.Event) -> dict:
    from connectivity.simulator import SimulatedDevice, Triple

    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    devices = [SimulatedDevice(Triple(*t), url=url, keepalive=300, reply_timeout=60) for t in triples]

    async def connect(device: SimulatedDevice) -> bool:
        async with gate:
            try:
                await device.connect()
            except Exception:  # noqa: BLE001 - counted
                return False
            with connected.get_lock():
                connected.value += 1
            return True

    ok = [device for device, up in zip(devices, await asyncio.gather(*(connect(d) for d in devices)), strict=True)
          if up]
    while not go.is_set():
        await asyncio.sleep(0.01)
    closed_at: dict[str, float] = {}

    async def watch(device: SimulatedDevice) -> None:
        await device.closed.wait()
        closed_at[device.triple.device_key] = time.time()

    await asyncio.wait([asyncio.ensure_future(watch(d)) for d in ok], timeout=KICK_WAIT_SECONDS)
    codes = [getattr(d._socket, "close_code", None) for d in ok if d.triple.device_key in closed_at]
    await asyncio.gather(*(d.close() for d in ok), return_exceptions=True)
    return {"connected": len(ok), "failed": len(devices) - len(ok), "kicked": codes.count(4003),
            "other_close": len(codes) - codes.count(4003), "still_open": len(ok) - len(codes),
            "last_close": max(closed_at.values(), default=None), "closed_at": closed_at}


# --- one run ----------------------------------------------------------------------------------------

def wal_written() -> tuple[int, int, int]:
    """PostgreSQL's WAL so far: bytes, full-page images (the first change of a page after a checkpoint writes
    the whole page) and checkpoints."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT wal_bytes, wal_fpi, (SELECT checkpoints_timed + checkpoints_req FROM "
                       "pg_stat_bgwriter) FROM pg_stat_wal")
        return tuple(int(value) for value in cursor.fetchone())


PARTS: dict[str, int] = {}  # the celery and uvicorn parent processes, set by main()


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far by each part (Linux /proc): this database's PostgreSQL backends with the server's
    own writers, and the Celery worker and the ASGI server with their children."""
    from django.db import connection

    database = connection.settings_dict["NAME"]
    used = {"postgres": 0.0, **dict.fromkeys(PARTS, 0.0)}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pid, parent = int(entry.name) if entry.name.isdigit() else -1, int(fields[1])
        if command.startswith("postgres: ") and (f" {database} " in command or any(
                writer in command for writer in ("checkpointer", "walwriter", "background writer"))):
            used["postgres"] += seconds
        for name, part in PARTS.items():
            if part in (pid, parent):
                used[name] += seconds
    return used


def reset(ou_id: int) -> None:
    """The OU enabled again and nobody connected (untimed preparation)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM connectivity_devicesession WHERE device_id IN "
                       "(SELECT id FROM assets_device WHERE ou_id = %s)", [ou_id])
        cursor.execute("DELETE FROM assets_disablement WHERE device_id IN "
                       "(SELECT id FROM assets_device WHERE ou_id = %s)", [ou_id])
        cursor.execute("UPDATE assets_device SET online = false WHERE ou_id = %s AND online", [ou_id])
        # what autovacuum does between two such jobs on a production server: this machine's PostgreSQL runs
        # with autovacuum off, and without it each run re-inserts the same 100,000 disablement keys over the
        # dead rows of every earlier run (4.8 s in the first run, 8.3 s by the tenth)
        for table in VACUUMED:
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def one_run(number: int, args: argparse.Namespace, url: str, manager, ou) -> dict:
    from django.db.models import Count

    from assets.models import Device
    from connectivity.models import DeviceSession
    from fleet import services
    from fleet.models import FINISHED_JOB_STATES, Job, JobExecution

    reset(ou.pk)
    # spread over the OU, so every chunk of the disable holds some of them
    every = list(Device.objects.filter(ou=ou).order_by("pk").values_list("pk", flat=True))
    stride = max(1, len(every) // args.connected)
    chosen = list(Device.objects.filter(pk__in=every[::stride][:args.connected]).select_related("product"))
    triples = [(d.product.product_key, d.device_key, d.device_secret) for d in chosen]
    connected, go, results = mp.Value("i", 0), mp.Event(), mp.Queue()
    workers = [mp.Process(target=client_process, args=(triples[i::args.clients], url, connected, go, results))
               for i in range(args.clients)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 300
    chosen_ids = [d.pk for d in chosen]
    while time.monotonic() < deadline and (
            connected.value < len(chosen) or DeviceSession.objects.filter(device_id__in=chosen_ids).count()
            < len(chosen)):
        time.sleep(0.2)
    sessions_before = DeviceSession.objects.filter(device_id__in=chosen_ids).count()

    wal_before, cpu_before = wal_written(), cpu_seconds()
    started_wall, started = time.time(), time.perf_counter()
    go.set()
    # what the console's "Actions on all matching… → Disable" does: the job, handed to the Celery worker
    job = services.start_job(manager, ou, action="disable", selection_kind="query", query=QUERY)
    job_started = time.perf_counter() - started
    job_deadline = time.monotonic() + KICK_WAIT_SECONDS
    while Job.objects.filter(pk=job.pk).exclude(state__in=FINISHED_JOB_STATES).exists():
        if time.monotonic() > job_deadline:
            break
        time.sleep(0.1)  # the job's own finished_at is the figure: polling only has to notice it
    wal = [after - before for before, after in zip(wal_before, wal_written(), strict=True)]
    cpu = {name: seconds - cpu_before.get(name, 0.0) for name, seconds in cpu_seconds().items()}
    job.refresh_from_db()
    completed = job.finished_at.timestamp() - started_wall if job.finished_at else None
    clients = [results.get(timeout=KICK_WAIT_SECONDS + 30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    last_close = max((c["last_close"] for c in clients if c["last_close"]), default=None)
    key_to_pk = {d.device_key: d.pk for d in chosen}
    # each execution carries its chunk's time (when the chunk was picked): from there to the device's close
    chunk_at = {pk: at.timestamp() for pk, at in JobExecution.objects.filter(
        job=job, device_id__in=chosen_ids).values_list("device_id", "finished_at") if at}
    latencies = sorted(at - chunk_at[key_to_pk[key]] for c in clients for key, at in c["closed_at"].items()
                       if key_to_pk[key] in chunk_at)
    # the portal ends each kicked session before closing its socket: the database agrees at once, or soon
    settle_deadline, settled = time.monotonic() + 60, None
    while time.monotonic() < settle_deadline:
        if not (DeviceSession.objects.filter(device_id__in=chosen_ids).exists()
                or Device.objects.filter(pk__in=chosen_ids, online=True).exists()):
            settled = time.time() - started_wall
            break
        time.sleep(0.1)
    tally = dict(JobExecution.objects.filter(job=job).values_list("state").annotate(n=Count("id")))
    return {
        "wal": wal, "cpu": cpu,
        "matching": job.total, "state": job.state, "done": tally.get("done", 0), "failed": tally.get("failed", 0),
        "skipped": tally.get("skipped", 0), "job_started": job_started, "settled": settled,
        "completed": completed, "kicked_all": (last_close - started_wall) if last_close else None,
        "kick_latency": (latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)], latencies[-1])
        if latencies else None,
        "connected": sum(c["connected"] for c in clients), "sessions_before": sessions_before,
        "kicked": sum(c["kicked"] for c in clients), "other_close": sum(c["other_close"] for c in clients),
        "still_open": sum(c["still_open"] for c in clients),
        "sessions_left": DeviceSession.objects.filter(device_id__in=chosen_ids).count(),
        "online_left": Device.objects.filter(pk__in=chosen_ids, online=True).count(),
        "enabled_left": Device.objects.filter(ou=ou, enabled=True).count(),
    }


def start_worker(args: argparse.Namespace) -> tuple:
    """The Celery worker that runs the job, as `run_portal` starts it (prefork, two processes); once ready."""
    from enos_portal.celery import app

    app.control.purge()  # tasks an earlier, interrupted run left behind
    env = {**os.environ, "LOG_LEVEL": "WARNING", "DEBUG": "0", "FLEET_BULK_CHUNK": str(args.chunk),
           "FLEET_BULK_DRIVERS": str(args.drivers)}
    (ROOT / "var").mkdir(exist_ok=True)
    log_path = ROOT / "var" / "bench-bulk-disable-worker.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed with the worker
    process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "enos_portal", "worker", "--concurrency",
                                str(args.drivers), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                                "--without-heartbeat"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the Celery worker did not start: see {log_path}")
        time.sleep(0.2)
    return process, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1_000_000, help="devices in all, a tenth per OU")
    parser.add_argument("--connected", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=5000, help="executions per step (FLEET_BULK_CHUNK)")
    parser.add_argument("--drivers", type=int, default=2,
                        help="tasks driving the job side by side (FLEET_BULK_DRIVERS) and worker processes")
    parser.add_argument("--clients", type=int, default=2, help="client processes holding the connections")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--history", type=int, default=5,
                        help="audit events per device the audit log holds before the runs (each run adds one)")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip timing the same UPDATE in plain SQL (the database's own floor)")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the benchmark measures the production setup.")

    os.environ["FLEET_BULK_DRIVERS"] = str(args.drivers)  # read by start_job here, and by the worker
    sys.path.insert(0, str(ROOT / "bench"))
    import _setup

    _setup.ensure_database(recreate=False, example="h_bulk_bench")
    loader = _bench_module("device_query")  # its 1,000,000-device loader, shared
    from accounts.models import OrganizationUnit, User
    from assets.models import Device

    ready = Device.objects.count() == args.devices and OrganizationUnit.objects.filter(
        name__startswith="Query OU").count() == loader.OUS
    if args.rebuild or not ready:
        _setup.empty_database()
        loader.build(args.devices)
    manager = User.objects.get(username="query-manager-03")
    ou = OrganizationUnit.objects.get(name="Query OU 03")
    audit_events = ensure_history(args.devices * args.history)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
    print(f"{args.devices:,} devices, {audit_events:,} audit events; PostgreSQL autovacuum {autovacuum} (the "
          f"tables a run churns are vacuumed before it, untimed)", flush=True)
    connectivity = _bench_module("connectivity")
    port = connectivity.free_port()
    server, log = connectivity.start_server("uvicorn", port, "enos_portal.asgi:application",
                                            "bench-bulk-disable-server.log", CONNECTIVITY_KEEPALIVE_SECONDS="300")
    celery, celery_log = start_worker(args)
    PARTS.update(celery=celery.pid, uvicorn=server.pid)
    print(f"machine load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    runs = []
    try:
        for number in range(1, args.repeat + 1):
            manager = User.objects.get(pk=manager.pk)  # permissions read again, as a new job would
            run = one_run(number, args, f"ws://127.0.0.1:{port}/ws/device/", manager, ou)
            runs.append(run)
            kicked_all = f"{run['kicked_all']:.2f} s" if run["kicked_all"] is not None else "NEVER"
            completed = f"{run['completed']:.2f} s" if run["completed"] is not None else "NEVER"
            settled = f"{run['settled']:.2f} s" if run["settled"] is not None else "NEVER (60 s)"
            print(f"run {number}: job over {run['matching']:,} devices ({QUERY!r}) of {Device.objects.count():,}; "
                  f"{run['state']}: done {run['done']:,} failed {run['failed']} skipped {run['skipped']}; "
                  f"started (executions written) in {run['job_started']:.2f} s, completed after {completed} "
                  f"({args.chunk:,} per step, {args.drivers} drivers); "
                  f"every connected device closed after {kicked_all}; "
                  f"from its chunk's start to its close p50/p95/max "
                  f"{'/'.join(f'{x:.2f}' for x in run['kick_latency'] or ())} s; "
                  f"connected {run['connected']} (sessions {run['sessions_before']}), kicked with 4003 "
                  f"{run['kicked']}, other close {run['other_close']}, still open {run['still_open']}; "
                  f"all offline in the database after {settled}; WAL written while it ran "
                  f"{run['wal'][0] / 2 ** 20:,.0f} MB ({run['wal'][1]:,} full-page images, {run['wal'][2]} "
                  f"checkpoints); CPU seconds while it ran: "
                  f"{', '.join(f'{name} {seconds:.1f}' for name, seconds in run['cpu'].items())}; "
                  f"left: sessions {run['sessions_left']}, online {run['online_left']}, "
                  f"enabled {run['enabled_left']}", flush=True)
    finally:
        connectivity.stop_server(server, log)
        connectivity.stop_server(celery, celery_log)
    floor = sql_floor(ou.pk) if args.floor else None
    completed = max(r["completed"] or float("inf") for r in runs)
    kicked = max(r["kicked_all"] or float("inf") for r in runs)
    every = all(r["kicked"] == r["connected"] == args.connected and r["sessions_left"] == r["online_left"] == 0
                and r["state"] == "completed" for r in runs)
    print(f"worst of {len(runs)}: job completed after {completed:.2f} s, every connected device kicked after "
          f"{kicked:.2f} s: {max(completed, kicked):.2f} s (target ≤ {TARGET_SECONDS:.0f} s); every job completed "
          f"and every connected device kicked in every run: {'yes' if every else 'NO'}")
    if floor is not None:
        print(f"the database's floor now: one INSERT of the OU's {floor[0]:,} Disablement rows (no audit, no kick; "
              f"rolled back) takes {floor[1]:.2f} s")
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def ensure_history(wanted: int) -> int:
    """An audit log of a fleet with a past (creations, edits, tags, disables), so that each run's 100,000 audit
    events go into indexes of realistic size: at least `wanted` events, the missing ones written here."""
    from django.db import connection

    from accounts.models import AuditEvent

    missing = wanted - AuditEvent.objects.count()
    if missing > 0:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_auditevent (created_at, action, object_type, object_id, object_repr, after, "
                "request_id, ou_id) SELECT now() - make_interval(mins => n), "
                "(ARRAY['device.create', 'device.update', 'device.tag', 'device.disable', 'device.enable'])"
                "[1 + n %% 5], 'device', d.asset_id, d.name, '{}'::jsonb, '', d.ou_id "
                "FROM generate_series(1, %s) n JOIN assets_device d ON d.id = (SELECT min(id) FROM assets_device) "
                "+ n %% (SELECT count(*) FROM assets_device)", [missing])
            cursor.execute("VACUUM (ANALYZE) accounts_auditevent")
    return AuditEvent.objects.count()


def sql_floor(ou_id: int) -> tuple[int, float]:
    """What the disablement writes alone cost (the narrow table, its index, the WAL): the change in one statement."""
    from django.db import connection, transaction

    reset(ou_id)
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("INSERT INTO assets_disablement (device_id, ou_id) SELECT id, ou_id FROM assets_device "
                       "WHERE ou_id = %s", [ou_id])
        seconds, rows = time.perf_counter() - started, cursor.rowcount
        transaction.set_rollback(True)
    return rows, seconds


if __name__ == "__main__":
    main()
