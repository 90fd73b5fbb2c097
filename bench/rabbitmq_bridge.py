"""Benchmark: RabbitMQ bridges (`manage.py run_rabbitmq_bridge`) carrying 2,000 devices' reports.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_rabbit python bench/rabbitmq_bridge.py --devices 2000

Starts a RabbitMQ node of its own (tests/connectivity/rabbitmq/nodes.py: free ports, own data dir), then
for 1 and then 2 bridge processes: publishes --messages measure point reports to amq.topic exactly as
the MQTT plugin does (routing key `.sys.{pk}.{dk}.thing.measurepoint.post`, header x-mqtt-publish-qos),
spread over the devices, and consumes the replies the bridges publish back to the devices' keys.
Prints messages/s (replies received), p50/p99 report→reply latency, and the CPU per message of each part
(user+system seconds / messages): the bridge processes, the RabbitMQ node, the PostgreSQL backends serving
the bridges, and this process (publisher and reply reader) — and what rate those costs would fill the
machine's 2 cores at, which tells whether a second bridge can raise throughput here. The MQTT side
(devices' sockets, the auth backend) is not in this figure: see bench/rabbitmq_auth.py and docs/rabbitmq.md.
Bounded by --messages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import _setup

ROOT = Path(__file__).resolve().parent.parent


def setup_devices(count: int) -> list[tuple[str, str]]:
    from accounts.actors import SYSTEM
    from accounts.models import OrganizationUnit, User
    from accounts.services import create_ou
    from assets.models import Device, Product, ThingModel

    owner = User.objects.get_or_create(username="bench-rabbit-owner", defaults={"phone": "+8613800000000"})[0]
    ou = OrganizationUnit.objects.filter(name="Bench RabbitMQ").first() or create_ou(SYSTEM, "Bench RabbitMQ", owner)
    model, _ = ThingModel.objects.get_or_create(ou=ou, model_id="bench_rabbit", defaults={"name": "Bench"})
    model.measurepoints = [{"identifier": "power", "name": "Power", "data_type": "double"}]
    model.save()
    product = Product.objects.get_or_create(ou=ou, name="Bench RabbitMQ", defaults={"model": model})[0]
    have = set(Device.objects.filter(product=product).values_list("device_key", flat=True))
    Device.objects.bulk_create([Device(ou=ou, product=product, device_key=f"bench-r-{i:05}", name=f"Bench {i}")
                                for i in range(count) if f"bench-r-{i:05}" not in have])
    # the devices are connected (as a connection.created event leaves them): one session row each
    from connectivity.models import DeviceSession, Transport

    devices = Device.objects.filter(product=product, device_key__startswith="bench-r-")
    DeviceSession.objects.filter(device__in=devices).delete()
    DeviceSession.objects.bulk_create([
        DeviceSession(device_id=pk, session_id=f"bench{pk}", transport=Transport.RABBITMQ,
                      client_id=f"127.0.0.1:{pk} -> 127.0.0.1:1883") for pk in devices.values_list("pk", flat=True)])
    devices.update(online=True)
    return [(product.product_key, f"bench-r-{i:05}") for i in range(count)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def node_pid(node) -> int:
    return int((node.base / "node.pid").read_text().strip())


def database_backends() -> list[int]:
    """The PostgreSQL server processes serving the benchmark's database (the bridges' connections)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()
    return pids


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):  # ended meanwhile
            total += cpu_seconds(pid)
    return total


def run_round(node, devices: list[tuple[str, str]], bridges: int, messages: int,
              rate: float = 0) -> tuple[float, float, float, dict[str, float]]:
    import pika

    env = {**os.environ, "RABBITMQ_AMQP_URL": node.amqp_url, "RABBITMQ_SHARDS": "8"}
    procs = [subprocess.Popen([sys.executable, "manage.py", "run_rabbitmq_bridge", "--index", str(i),
                               "--count", str(bridges)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for i in range(bridges)]
    try:
        for proc in procs:
            assert proc.stdout is not None and "consuming" in proc.stdout.readline()
        time.sleep(1)
        sent: dict[str, float] = {}
        latencies: list[float] = []
        done = threading.Event()

        def consume() -> None:
            connection = pika.BlockingConnection(pika.URLParameters(node.amqp_url))
            channel = connection.channel()
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queue, "amq.topic", ".sys.*.*.thing.measurepoint.post_reply")
            ready.set()
            for method, _props, body in channel.consume(queue, auto_ack=True, inactivity_timeout=30):
                if method is None:
                    break
                reply = json.loads(body)
                latencies.append(time.perf_counter() - sent[reply["id"]])
                if len(latencies) >= messages:
                    break
            connection.close()
            done.set()

        ready = threading.Event()
        threading.Thread(target=consume, daemon=True).start()
        ready.wait(30)
        bridge_pids, broker = [proc.pid for proc in procs], [node_pid(node)]
        # the bridges open their database connections at their first message: those backends start with this
        # round (their CPU is counted whole, at the end)
        before = {"bridges": cpu_of(bridge_pids), "RabbitMQ": cpu_of(broker), "PostgreSQL": 0.0,
                  "publisher+reader": time.process_time()}
        connection = pika.BlockingConnection(pika.URLParameters(node.amqp_url))
        channel = connection.channel()
        props = pika.BasicProperties(headers={"x-mqtt-publish-qos": 1, "x-mqtt-dup": False}, delivery_mode=2)
        started = time.perf_counter()
        for i in range(messages):
            if rate:  # paced: the latency of a report, not of a backlog
                time.sleep(max(0.0, started + i / rate - time.perf_counter()))
            product_key, device_key = devices[i % len(devices)]
            request_id = f"r{i}"
            sent[request_id] = time.perf_counter()
            body = json.dumps({"id": request_id, "version": "1.0", "method": "thing.measurepoint.post",
                               "params": {"measurepoints": {"power": float(i)}}})
            channel.basic_publish("amq.topic", f".sys.{product_key}.{device_key}.thing.measurepoint.post", body, props)
        connection.close()
        done.wait(600)
        elapsed = time.perf_counter() - started
        after = {"bridges": cpu_of(bridge_pids), "RabbitMQ": cpu_of(broker), "PostgreSQL": cpu_of(database_backends()),
                 "publisher+reader": time.process_time()}
        latencies.sort()
        count = len(latencies)
        cpu = {part: (after[part] - before[part]) / max(count, 1) * 1000 for part in before}
        return (count / elapsed, latencies[count // 2] * 1000 if count else 0,
                latencies[int(count * 0.99)] * 1000 if count else 0, cpu)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100,
                        help="reports/s of the paced run that measures latency (the throughput run is a burst)")
    args = parser.parse_args()
    _setup.ensure_database(recreate=False, example="bench_rabbit")
    logging.getLogger("pika").setLevel(logging.WARNING)
    from django.db import connections

    from tests.connectivity.rabbitmq.nodes import RabbitNode

    devices = setup_devices(args.devices)
    connections.close_all()
    node = RabbitNode(auth_base="http://127.0.0.1:9/unused")
    node.start()
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f}; {args.devices} devices, {args.messages} reports")
        for bridges in (1, 2):
            burst = [run_round(node, devices, bridges, args.messages) for _ in range(args.rounds)]
            rate, _, _, cpu = min(burst, key=lambda r: r[0])
            paced = [run_round(node, devices, bridges, int(args.rate * 10), args.rate) for _ in range(args.rounds)]
            _, p50, p99, _ = max(paced, key=lambda r: r[2])
            total = sum(cpu.values())
            print(f"{bridges} bridge(s): {rate:7.0f} msg/s (burst of {args.messages}, worst of {args.rounds}; "
                  f"all rounds: {', '.join(f'{r[0]:.0f}' for r in burst)})  load {os.getloadavg()[0]:.2f}")
            print("    CPU ms per message: " + "  ".join(f"{part} {ms:.2f}" for part, ms in cpu.items())
                  + f"  = {total:.2f} ms: {2000 / total:.0f} msg/s would fill both cores")
            print(f"    report→reply at {args.rate:g}/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms (worst of {args.rounds})")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
