"""The endpoints RabbitMQ's rabbitmq_auth_backend_http calls, each answering `allow` or `deny` (plain text).

rabbitmq.conf (docs/rabbitmq.md), the secret being RABBITMQ_AUTH_SECRET:

    auth_backends.1 = internal          # the bridges' and operators' own users
    auth_backends.2 = http              # devices
    auth_http.http_method = post
    auth_http.user_path     = http://portal:8000/api/rabbitmq/auth/<secret>/user/
    auth_http.vhost_path    = http://portal:8000/api/rabbitmq/auth/<secret>/vhost/
    auth_http.resource_path = http://portal:8000/api/rabbitmq/auth/<secret>/resource/
    auth_http.topic_path    = http://portal:8000/api/rabbitmq/auth/<secret>/topic/

- user: username `{deviceKey}&{productKey}`, password = the sign, and the MQTT `client_id`
  (`{id}|securemode=2,signmethod=sha256,timestamp={ms}|`): the EnOS sign check the other transports
  make (refusals traced on the device, failed logins rate-limited per deviceKey);
- vhost: the devices' virtual host (RABBITMQ_VHOST, "/");
- resource: the MQTT plugin's own subscription queues of this client and amq.topic;
- topic: a device publishes and subscribes on its own /sys/{pk}/{dk}/… and /ext/session/{pk}/{dk}/…
  topics only (a gateway also on its sub-devices'); RabbitMQ closes a connection whose publish is refused.

Only the brokers may call: the secret in the path (wrong ones are counted per address and
rate-limited) and the caller's address within RABBITMQ_AUTH_ALLOWED_NETWORKS. Off (404) while no
secret is set. Cost: the user check is one indexed lookup (the device with its product); vhost and
resource need none; topic none for the device's own topics, one for a gateway's sub-device.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import lru_cache, wraps

from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import throttle
from assets.models import Device, Disablement, Product

from ... import protocol as p
from ...conf import rabbitmq_auth_networks, rabbitmq_auth_secret
from ...handlers.base import trace
from ...handlers.session import LoginRefused
from ...handlers.session import authenticate as check_login
from .topology import DEVICE_EXCHANGE, SUBSCRIPTION_QUEUE_PREFIX, topic_of

SECRET_SCOPE = "rabbitmq-auth-secret-ip"  # wrong secrets per caller address
VHOST = "/"


def allow(granted: bool) -> HttpResponse:
    return HttpResponse(b"allow" if granted else b"deny", content_type="text/plain")


@lru_cache(maxsize=8)
def _networks(setting: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())


def caller_allowed(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(rabbitmq_auth_networks()))


def broker_endpoint(view: Callable[[HttpRequest], bool]) -> Callable[[HttpRequest, str], HttpResponse]:
    """POST from an allowed address with the secret in the path; the view's decision as allow/deny."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, secret: str) -> HttpResponse:
        configured = rabbitmq_auth_secret()
        if not configured:
            raise Http404("RabbitMQ auth endpoints are off: set RABBITMQ_AUTH_SECRET.")
        address = request.META.get("REMOTE_ADDR")
        if not caller_allowed(address):
            return HttpResponse(b"deny", content_type="text/plain", status=403)
        if not hmac.compare_digest(secret.encode(), configured.encode()):
            # wrong secrets are counted per address, and past the limit not even compared; the broker's own
            # calls (the right secret) cost no cache round trip: guessing a 128-bit secret is not a way in
            rule = [(SECRET_SCOPE, throttle.ip_key(address))]
            locked = throttle.check_all(rule)
            if not locked.allowed:
                return HttpResponse(b"deny", content_type="text/plain", status=429,
                                    headers={"Retry-After": str(locked.retry_after)})
            throttle.hit_all(rule)
            return HttpResponse(b"deny", content_type="text/plain", status=403)
        return allow(view(request))

    return wrapper


# what the sign check reads of a device and its product (the rest is deferred: read only if ever touched)
_DEVICE_FIELDS = ("id", "ou", "product", "asset_id", "device_key", "device_secret", "gateway", "activated_at")
_PRODUCT_FIELDS = ("id", "ou", "product_key", "product_secret", "dynamic_activation")


def _fields(model: type, names: tuple[str, ...]) -> list:
    """The model's fields of these names, in the model's order (Model.from_db takes values in that order)."""
    return [field for field in model._meta.concrete_fields if field.name in names]


@lru_cache(maxsize=1)
def _device_sql() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    device_fields, product_fields = _fields(Device, _DEVICE_FIELDS), _fields(Product, _PRODUCT_FIELDS)
    quote = connection.ops.quote_name
    disabled = (f"SELECT 1 FROM {quote(Disablement._meta.db_table)} x "
                f"WHERE x.{quote(Disablement._meta.pk.column)} = d.{quote(Device._meta.pk.column)}")
    columns = ", ".join([*(f"d.{quote(f.column)}" for f in device_fields),
                         *(f"p.{quote(f.column)}" for f in product_fields), f"NOT EXISTS ({disabled})"])
    sql = (f"SELECT {columns} FROM {quote(Device._meta.db_table)} d JOIN {quote(Product._meta.db_table)} p "
           f"ON p.{quote(Product._meta.pk.column)} = d.{quote(Device._meta.get_field('product').column)} "
           f"WHERE p.{quote(Product._meta.get_field('product_key').column)} = %s "
           f"AND d.{quote(Device._meta.get_field('device_key').column)} = %s LIMIT 1")
    return sql, tuple(f.attname for f in device_fields), tuple(f.attname for f in product_fields)


def find_device(product_key: str, device_key: str) -> Device | None:
    """The device of a triple with its product: one indexed lookup, its SQL made once (not per request as
    the ORM would), only the columns the sign check reads."""
    sql, device_columns, product_columns = _device_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [product_key, device_key])
        row = cursor.fetchone()
    if row is None:
        return None
    device = Device.from_db(connection.alias, device_columns, row[:len(device_columns)])
    device.product = Product.from_db(connection.alias, product_columns, row[len(device_columns):-1])
    device.enabled = bool(row[-1])
    return device


def _device_of(username: str) -> tuple[str, str] | None:
    """(productKey, deviceKey) of an MQTT username `{deviceKey}&{productKey}`."""
    device_key, sep, product_key = username.partition("&")
    return (product_key, device_key) if sep and device_key and product_key else None


@broker_endpoint
def user(request: HttpRequest) -> bool:
    form = request.POST
    try:
        login = p.parse_mqtt_credentials(form.get("client_id"), form.get("username"), form.get("password"))
        check_login(login, find=find_device)
    except (p.ProtocolError, LoginRefused):
        return False
    return True


@broker_endpoint
def vhost(request: HttpRequest) -> bool:
    return request.POST.get("vhost") == VHOST and _device_of(request.POST.get("username", "")) is not None


@broker_endpoint
def resource(request: HttpRequest) -> bool:
    form = request.POST
    kind, name, permission = form.get("resource"), form.get("name", ""), form.get("permission")
    if kind == "exchange":
        return name == DEVICE_EXCHANGE and permission in ("read", "write")
    client_id = form.get("client_id", "")
    return kind == "queue" and bool(client_id) and name.startswith(f"{SUBSCRIPTION_QUEUE_PREFIX}{client_id}") \
        and name.removeprefix(f"{SUBSCRIPTION_QUEUE_PREFIX}{client_id}") in ("qos0", "qos1")


def _owned_prefixes(product_key: str, device_key: str) -> tuple[str, str]:
    return f".sys.{product_key}.{device_key}.", f".ext.session.{product_key}.{device_key}."


def _key_owner(key: str) -> tuple[str, str] | None:
    """(productKey, deviceKey) a routing key or binding key names (keys of one word each)."""
    parts = key.split(".")
    if len(parts) > 4 and parts[1] == "sys":
        return parts[2], parts[3]
    if len(parts) > 5 and parts[1:3] == ["ext", "session"]:
        return parts[3], parts[4]
    return None


def topic_allowed(username: str, key: str) -> bool:
    owner = _device_of(username)
    if owner is None:
        return False
    if any(key.startswith(prefix) and len(key) > len(prefix) for prefix in _owned_prefixes(*owner)):
        return True
    target = _key_owner(key)
    if target is None or "*" in target or "#" in target:
        return False
    # a gateway's sub-device (whether it is logged in through it is the bridge's question)
    return Device.objects.filter(product__product_key=target[0], device_key=target[1],
                                 gateway__product__product_key=owner[0], gateway__device_key=owner[1]).exists()


@broker_endpoint
def topic(request: HttpRequest) -> bool:
    form = request.POST
    username, key = form.get("username", ""), form.get("routing_key", "")
    if form.get("name") != DEVICE_EXCHANGE or form.get("permission") not in ("read", "write"):
        return False
    if topic_allowed(username, key):
        return True
    owner = _device_of(username)
    device_id = None if owner is None else (
        Device.objects.filter(product__product_key=owner[0], device_key=owner[1]).values_list("pk", flat=True).first())
    if device_id is not None:
        shown = topic_of(key) or key
        doing = "publish to" if form.get("permission") == "write" else "subscribe to"
        trace(device_id, "up", shown, "error", code=p.NO_PUBLISH_PERMISSION,
              message=f"No permission to {doing} {shown}: RabbitMQ closes the connection.")
    return False
