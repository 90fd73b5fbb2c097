"""ASGI entry point: HTTP through Django, websockets through Channels routes of each app.

Browser sockets go through the origin check and the session auth; devices (no Origin, no
cookie: they sign their login) take their own path around that stack. Under DEBUG the static
files are served here too, so `run_portal` under daphne needs no web server in front. Importing
this module prepares a server process (enos_portal.servers.tune_server_process).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enos_portal.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from connectivity.routing import with_device_sockets  # noqa: E402
from connectivity.transports.rabbitmq.handler import with_broker_auth  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402
from .servers import tune_server_process  # noqa: E402

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_application = ASGIStaticFilesHandler(django_asgi_app)
else:
    http_application = django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": with_broker_auth(http_application),  # RabbitMQ's auth calls skip the middleware stack
        "websocket": with_device_sockets(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)

tune_server_process()
