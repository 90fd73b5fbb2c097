"""Benchmark: the RabbitMQ HTTP auth backend endpoints, as the portal answers them (in-process, through
Django's whole request stack: middleware, URL routing, the view, the database; no socket).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_rabbit python bench/rabbitmq_auth.py --requests 2000

Prints requests/s and p50/p99 per endpoint (user: the EnOS sign check, one indexed lookup; topic: the
device's own topic, no query), worst of three rounds, and the machine's load. Bounded by --requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import _setup

SECRET = "bench-secret"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    _setup.ensure_database(recreate=False, example="bench_rabbit")
    from django.conf import settings
    from django.test import Client

    from accounts.actors import SYSTEM
    from accounts.models import OrganizationUnit, User
    from accounts.services import create_ou
    from assets.models import Device, Product, ThingModel
    from connectivity import protocol as p

    settings.RABBITMQ_AUTH_SECRET = SECRET
    settings.ALLOWED_HOSTS = ["*"]
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "device-login": "1000000/m"}
    owner = User.objects.get_or_create(username="bench-rabbit-owner", defaults={"phone": "+8613800000000"})[0]
    ou = OrganizationUnit.objects.filter(name="Bench RabbitMQ").first() or create_ou(SYSTEM, "Bench RabbitMQ", owner)
    model = ThingModel.objects.get_or_create(ou=ou, model_id="bench_rabbit", defaults={"name": "Bench"})[0]
    product = Product.objects.get_or_create(ou=ou, name="Bench RabbitMQ", defaults={"model": model})[0]
    device = Device.objects.get_or_create(ou=ou, product=product, device_key="bench-rabbit-1",
                                          defaults={"name": "Bench"})[0]
    client = Client()
    fields = p.mqtt_connect_fields(product.product_key, device.device_key, device.device_secret)
    forms = {
        "user": {"username": fields["username"], "password": fields["password"], "vhost": "/",
                 "client_id": fields["client_id"]},
        "topic": {"username": fields["username"], "vhost": "/", "resource": "topic", "name": "amq.topic",
                  "permission": "write",
                  "routing_key": f".sys.{product.product_key}.{device.device_key}.thing.measurepoint.post"},
    }
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine shared with other work)")
    for what, form in forms.items():
        worst: tuple[float, float, float] | None = None
        for _ in range(3):
            times = []
            started = time.perf_counter()
            for _ in range(args.requests):
                t0 = time.perf_counter()
                answer = client.post(f"/api/rabbitmq/auth/{SECRET}/{what}/", form, REMOTE_ADDR="127.0.0.1", secure=True)
                times.append(time.perf_counter() - t0)
                assert answer.content == b"allow", (answer.status_code, answer.content)
            rate = args.requests / (time.perf_counter() - started)
            times.sort()
            result = (rate, statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000)
            worst = result if worst is None or result[0] < worst[0] else worst
        assert worst is not None
        print(f"{what:6} {worst[0]:8.0f} requests/s (one process)  p50 {worst[1]:.2f} ms  p99 {worst[2]:.2f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
