"""Benchmark: the RabbitMQ HTTP auth backend endpoints, as the portal answers them (in-process, no socket):
through the handler the portal's ASGI app routes them to (URL routing, the view, the database; no middleware:
connectivity/transports/rabbitmq/handler.py) and, for comparison, through Django's whole middleware stack.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_rabbit python bench/rabbitmq_auth.py --requests 2000

Prints requests/s, p50/p99 and the portal process's CPU time per request (what a loaded machine's waits
do not blur) per endpoint (user: the EnOS sign check, one indexed lookup; topic: the
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
    from django.core.handlers.base import BaseHandler
    from django.core.signals import request_finished, request_started
    from django.test import Client, RequestFactory

    from accounts.actors import SYSTEM
    from accounts.models import OrganizationUnit, User
    from accounts.services import create_ou
    from assets.models import Device, Product, ThingModel
    from connectivity import protocol as p
    from connectivity.transports.rabbitmq.handler import WithoutMiddleware

    class LeanHandler(WithoutMiddleware, BaseHandler):
        pass

    lean = LeanHandler()
    lean.load_middleware()
    factory = RequestFactory()

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

    def through_stack(what: str, form: dict):
        return client.post(f"/api/rabbitmq/auth/{SECRET}/{what}/", form, REMOTE_ADDR="127.0.0.1", secure=True)

    def lean_path(what: str, form: dict):
        # as a server does: request_started/finished (the database connection goes back to the pool)
        request_started.send(sender=LeanHandler)
        try:
            return lean.get_response(factory.post(f"/api/rabbitmq/auth/{SECRET}/{what}/", form,
                                                  REMOTE_ADDR="127.0.0.1"))
        finally:
            request_finished.send(sender=LeanHandler)

    runs = [(what, form, "no middleware", lean_path) for what, form in forms.items()]
    runs += [(what, form, "whole stack", through_stack) for what, form in forms.items()]
    for what, form, path, ask in runs:
        worst: tuple[float, float, float, float] | None = None
        for _ in range(3):
            times = []
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.requests):
                t0 = time.perf_counter()
                answer = ask(what, form)
                times.append(time.perf_counter() - t0)
                assert answer.content == b"allow", (answer.status_code, answer.content)
            rate = args.requests / (time.perf_counter() - started)
            cpu_ms = (time.process_time() - cpu) * 1000 / args.requests
            times.sort()
            result = (rate, statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000, cpu_ms)
            worst = result if worst is None or result[0] < worst[0] else worst
        assert worst is not None
        print(f"{what:6} {path:14} {worst[0]:6.0f} requests/s (one process)  p50 {worst[1]:.2f} ms  "
              f"p99 {worst[2]:.2f} ms  portal CPU {worst[3]:.2f} ms/request")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
