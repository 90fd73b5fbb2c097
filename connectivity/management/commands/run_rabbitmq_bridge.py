"""`manage.py run_rabbitmq_bridge`: consume device messages and connection events from RabbitMQ."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectivity.conf import rabbitmq_amqp_url, rabbitmq_shards
from connectivity.transports.rabbitmq.bridge import Bridge


class Command(BaseCommand):
    help = ("Bridge devices connected to RabbitMQ's MQTT plugin to the portal: their messages, replies and "
            "connection events. Run N of them with --index 0..N-1 --count N.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default=None, help="AMQP URL (default RABBITMQ_AMQP_URL).")
        parser.add_argument("--index", type=int, default=0, help="This bridge's number, 0..count-1.")
        parser.add_argument("--count", type=int, default=1, help="How many bridges run side by side.")
        parser.add_argument("--shards", type=int, default=None,
                            help="Queues device messages are hashed over (default RABBITMQ_SHARDS or 8; "
                                 "the same for every bridge).")
        parser.add_argument("--prefetch", type=int, default=200, help="Unacknowledged messages per consumer.")
        parser.add_argument("--queue-type", choices=("classic", "quorum"), default="classic",
                            help="Type of the shard and event queues when first declared (quorum on a 3-node "
                                 "cluster in production; an existing queue keeps its type).")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or rabbitmq_amqp_url()
        if not url:
            raise CommandError("Set RABBITMQ_AMQP_URL (amqp://user:password@host:5672/%2F) or pass --url.")
        index, count = options["index"], options["count"]
        if not 0 <= index < count:
            raise CommandError("--index must be within 0..count-1.")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        logging.getLogger("pika").setLevel(logging.WARNING)
        bridge = Bridge(url, index=index, count=count, shards=options["shards"] or rabbitmq_shards(),
                        prefetch=options["prefetch"], queue_type=options["queue_type"])
        stopped = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopped.set())
        bridge.start()
        if bridge.wait_ready(timeout=60):
            self.stdout.write(f"RabbitMQ bridge {index}/{count} consuming", ending="\n")
            self.stdout.flush()
        stopped.wait()
        bridge.stop()
