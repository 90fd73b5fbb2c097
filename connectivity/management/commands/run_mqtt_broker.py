"""`manage.py run_mqtt_broker`: the portal's own MQTT broker (EnOS topics and sign, port 11883)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand

from connectivity.conf import mqtt_bind, mqtt_port
from connectivity.transports.mqtt.broker import serve


class Command(BaseCommand):
    help = "Run the MQTT broker devices connect to (EnOS clientId/username/password sign, per-device topics)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=None, help="Address to listen on (default MQTT_BIND or 127.0.0.1).")
        parser.add_argument("--port", type=int, default=None, help="Port (default MQTT_PORT or 11883).")

    def handle(self, *args: Any, **options: Any) -> None:
        from enos_portal.servers import tune_server_process

        tune_server_process()  # a long-running server holding thousands of connections
        asyncio.run(serve(options["bind"] or mqtt_bind(), options["port"] or mqtt_port()))
