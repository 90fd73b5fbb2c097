"""The EnOS device protocol: request and reply shapes, return codes, the login sign, MQTT names.

Pure functions and constants: no database, no I/O, so every transport and the simulator share
them.

The `msg` texts sent to devices stay English and untranslated, whatever the language of a console
user: device SDKs and their logs expect EnOS's English messages, and a device has no language. The
console may translate what it shows of them (status labels, its own messages around them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- return codes -----------------------------------------------------------------------------
# EnOS's own codes (device-connection reference: common return codes, sub-device login, topology,
# attributes, measure points) where EnOS defines one; the others are this portal's, in HTTP's spirit.
SUCCESS = 200
BAD_REQUEST = 400
NOT_LOGGED_IN = 401
NOT_FOUND = 404  # unknown method or service
METHOD_NOT_FOUND = NOT_FOUND
COMMAND_TIMEOUT = 408
TOO_MANY_REQUESTS = 429  # the SDK's ResponseCode.TOO_MANY_REQUESTS: too many failed logins
INTERNAL_ERROR = 500
DEVICE_OFFLINE = 503
DEVICE_KEY_EXISTS = 702  # thing.device.register
SUB_DEVICE_NOT_FOUND = 705  # "It failed to query device, not existed this device"
DEVICE_DISABLED = 723  # "Device is disable"
SUB_DEVICE_NOT_OF_GATEWAY = 740  # "Sub device not belong the gateway"
SIGN_CHECK_FAILED = 742  # "Sign check failed"
DYNAMIC_ACTIVATION_NOT_ALLOWED = 770  # "Dynamic activate is not allowed" (also: already activated)
SUB_DEVICE_DIRECT_LOGIN = 771  # "Sub device cannot connect to mqtt broker directly"
MESSAGE_TOO_LARGE = 1008
NO_PUBLISH_PERMISSION = 1009  # also: a message for a sub-device that is not logged in
TOPO_GET_FAILED = 1200  # "Parse error": e.g. the caller is not a gateway
INVALID_VALUE = 1204  # "Model validate failed": a point, attribute or event that does not fit the model
MEASUREPOINT_FORMAT_ERROR = 1206
ATTRIBUTE_UPDATE_FORMAT_ERROR = 1207
ATTRIBUTE_QUERY_FORMAT_ERROR = 1208
ATTRIBUTE_DELETE_FORMAT_ERROR = 1209
SUB_DEVICE_NO_PERMISSION = 1212  # "No sub-device permission": offline or not this gateway's
PAYLOAD_FORMAT_ERROR = 1220
PAYLOAD_EMPTY = 1251
TOPO_ADD_FAILED = 1255  # "add topo failure"
TOPO_DELETE_FAILED = 1256  # "Remove topo failure"
METHOD_TOPIC_MISMATCH = 1260  # "Methods not consistent"

MAX_MESSAGE_BYTES = 256 * 1024

# --- methods ----------------------------------------------------------------------------------
LOGIN = "login"  # the websocket transport's first message (MQTT logs in at CONNECT)
PING = "ping"
MEASUREPOINT_POST = "thing.measurepoint.post"
MEASUREPOINT_POST_BATCH = "thing.measurepoint.post.batch"
MEASUREPOINT_RESUME = "thing.measurepoint.resume"
MEASUREPOINT_RESUME_BATCH = "thing.measurepoint.resume.batch"
ATTRIBUTE_QUERY = "thing.attribute.query"
ATTRIBUTE_UPDATE = "thing.attribute.update"
ATTRIBUTE_DELETE = "thing.attribute.delete"
TAG_QUERY = "thing.tag.query"
TAG_UPDATE = "thing.tag.update"
TAG_DELETE = "thing.tag.delete"
TSL_TEMPLATE_GET = "thing.tsltemplate.get"
COMBINE_LOGIN = "combine.login"
COMBINE_LOGIN_BATCH = "combine.login.batch"
COMBINE_LOGOUT = "combine.logout"
COMBINE_DISABLE = "combine.disable"  # downstream notices to a gateway about a sub-device
COMBINE_ENABLE = "combine.enable"
COMBINE_DELETE = "combine.delete"
TOPO_ADD = "thing.topo.add"
TOPO_GET = "thing.topo.get"
TOPO_DELETE = "thing.topo.delete"
DEVICE_REGISTER = "thing.device.register"
ACTIVATE_INFO = "thing.activate.info"
OFFLINE = "offline"  # not a device method: the name traces give to a session ending
EVENT_RE = re.compile(r"^thing\.event\.([A-Za-z_][A-Za-z0-9_]{0,63})\.post\Z")
SERVICE_PREFIX = "thing.service."

STATIC_ACTIVATION = 2  # securemode=2: signed with the deviceSecret
DYNAMIC_ACTIVATION = 3  # securemode=3: signed with the productSecret; the deviceSecret comes back
SIGNED_FIELDS = ("clientId", "deviceKey", "productKey", "timestamp")


class ProtocolError(Exception):
    """A message that cannot be processed; becomes an error reply with `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Request:
    id: str
    method: str
    params: Any
    version: str = "1.0"
    # the websocket transport names a gateway's sub-device here (MQTT names it in the topic)
    product_key: str | None = None
    device_key: str | None = None
    # the request's other top-level fields (e.g. a batch's skipInvalidMeasurepoints)
    options: dict = field(default_factory=dict)


_REQUEST_FIELDS = frozenset({"id", "version", "method", "params", "productKey", "deviceKey"})


def parse_request(content: Any) -> Request:
    if not isinstance(content, dict):
        raise ProtocolError(PAYLOAD_FORMAT_ERROR, "A request must be a JSON object {id, version, method, params}.")
    method = content.get("method")
    if not isinstance(method, str) or not method:
        raise ProtocolError(BAD_REQUEST, "The request has no method.")
    params = content.get("params", {})
    if params is None:
        params = {}
    raw_id = content.get("id")
    product_key, device_key = content.get("productKey"), content.get("deviceKey")
    return Request(
        id="" if raw_id is None else str(raw_id), method=method, params=params,
        version=str(content.get("version") or "1.0"),
        product_key=product_key if isinstance(product_key, str) else None,
        device_key=device_key if isinstance(device_key, str) else None,
        options={k: v for k, v in content.items() if k not in _REQUEST_FIELDS},
    )


def decode_payload(payload: bytes | str) -> Any:
    """An MQTT message's JSON content; ProtocolError 1251 when it is empty, 1220 when it is not JSON."""
    if not payload:
        raise ProtocolError(PAYLOAD_EMPTY, "The payload is empty.")
    try:
        content = json.loads(payload)
    except ValueError:
        content = None
    if content is None:
        raise ProtocolError(PAYLOAD_FORMAT_ERROR, "The payload is not JSON.")
    return content


def reply(request_id: str, code: int = SUCCESS, data: Any = None, message: str = "") -> dict:
    return {"id": request_id, "code": code, "data": data if data is not None else {},
            "message": message or ("success" if code == SUCCESS else "")}


def request(request_id: str, method: str, params: Any, version: str = "1.0") -> dict:
    return {"id": request_id, "version": version, "method": method, "params": params}


def is_reply(content: Any) -> bool:
    """A device's answer to a command: it carries a code and no method."""
    return isinstance(content, dict) and "method" not in content and "code" in content


# --- the login sign ---------------------------------------------------------------------------

def sign_content(fields: Mapping[str, Any]) -> str:
    """The signed text: each of clientId, deviceKey, productKey, timestamp as name+value, sorted."""
    return "".join(f"{name}{fields[name]}" for name in sorted(SIGNED_FIELDS))


# signmethod → digest; EnOS's "hmac" names are plain digests of the signed text + secret
SIGN_DIGESTS = {"sha256": "sha256", "hmacsha256": "sha256", "sha1": "sha1", "hmacsha1": "sha1",
                "md5": "md5", "hmacmd5": "md5"}


def compute_sign(fields: Mapping[str, Any], secret: str, sign_method: str = "sha256") -> str:
    digest = SIGN_DIGESTS.get(sign_method.lower())
    if digest is None:
        raise ProtocolError(BAD_REQUEST, f"signmethod {sign_method!r} is not supported: use one of "
                                         f"{', '.join(sorted(SIGN_DIGESTS))}.")
    return hashlib.new(digest, (sign_content(fields) + secret).encode()).hexdigest()


def sign_matches(fields: Mapping[str, Any], secret: str, given: str, sign_method: str = "sha256") -> bool:
    """EnOS devices send the hex upper-case, SDKs often lower-case: accept either."""
    if not isinstance(given, str):
        return False
    try:
        expected = compute_sign(fields, secret, sign_method)
    except ProtocolError:
        return False
    return hmac.compare_digest(expected, given.strip().lower())


def timestamp_ms(timestamp: Any) -> float | None:
    """A login's timestamp as milliseconds since the epoch: the SDK sends decimals
    (`1796160900313.864`) and, in combine.login.batch, seconds; both are accepted."""
    try:
        stamp = float(str(timestamp).strip())
    except ValueError:
        return None
    if stamp != stamp or stamp in (float("inf"), float("-inf")) or stamp < 0:
        return None
    return stamp * 1000 if stamp < 1e11 else stamp  # < 1e11 ms would be 1973: it is seconds


def timestamp_format_problem(timestamp: Any) -> str | None:
    if timestamp_ms(timestamp) is None:
        return f"timestamp {timestamp!r} is not milliseconds since the epoch"
    return None


def timestamp_problem(timestamp: Any, window_seconds: int, now_ms: int | None = None) -> str | None:
    """Why a login's timestamp (ms or s since the epoch) is refused, or None when it is fresh."""
    stamp = timestamp_ms(timestamp)
    if stamp is None:
        return f"timestamp {timestamp!r} is not milliseconds since the epoch"
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - stamp) > window_seconds * 1000:
        return f"timestamp is more than {window_seconds} s away from the server time"
    return None


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class LoginRequest:
    """The fields of a login, whichever transport carried them."""

    product_key: str
    device_key: str
    client_id: str
    timestamp: str
    sign: str
    secure_mode: int = STATIC_ACTIVATION
    sign_method: str = "sha256"

    @classmethod
    def from_params(cls, params: Any) -> LoginRequest:
        if not isinstance(params, dict):
            raise ProtocolError(BAD_REQUEST, "login params must be an object")
        missing = [name for name in (*SIGNED_FIELDS, "sign") if params.get(name) in (None, "")]
        if missing:
            raise ProtocolError(BAD_REQUEST, f"login params lack {', '.join(missing)}")
        try:
            secure_mode = int(params.get("secureMode", STATIC_ACTIVATION))
        except (TypeError, ValueError):
            raise ProtocolError(BAD_REQUEST, "secureMode must be 2 or 3") from None
        return cls(product_key=str(params["productKey"]), device_key=str(params["deviceKey"]),
                   client_id=str(params["clientId"]), timestamp=str(params["timestamp"]),
                   sign=str(params["sign"]), secure_mode=secure_mode,
                   sign_method=str(params.get("signMethod", "sha256")))

    def signed_fields(self) -> dict[str, str]:
        return {"clientId": self.client_id, "deviceKey": self.device_key, "productKey": self.product_key,
                "timestamp": self.timestamp}

    def traced(self) -> dict[str, Any]:
        """What a trace may show of a login: never the sign."""
        return {**self.signed_fields(), "secureMode": self.secure_mode, "signMethod": self.sign_method}


def login_params(product_key: str, device_key: str, secret: str, *, client_id: str | None = None,
                 timestamp: int | None = None, secure_mode: int = STATIC_ACTIVATION,
                 sign_method: str = "sha256") -> dict[str, Any]:
    """A device's signed login params (used by the simulator and tests)."""
    fields = {"clientId": client_id or device_key, "deviceKey": device_key, "productKey": product_key,
              "timestamp": str(timestamp if timestamp is not None else now_ms())}
    return {**fields, "signMethod": sign_method, "secureMode": secure_mode,
            "sign": compute_sign(fields, secret, sign_method)}


# --- MQTT ---------------------------------------------------------------------------------------

MQTT_CLIENT_ID_RE = re.compile(r"^(?P<id>[^|]{1,64})\|(?P<options>[^|]*)\|\Z")


def parse_mqtt_credentials(client_id: str | None, username: str | None, password: str | None) -> LoginRequest:
    """CONNECT as EnOS wants it: clientId `{id}|securemode=2,signmethod=sha256,timestamp={ms}|`,
    username `{deviceKey}&{productKey}`, password = the sign."""
    match = MQTT_CLIENT_ID_RE.match(client_id or "")
    if not match:
        raise ProtocolError(BAD_REQUEST, "clientId must be {id}|securemode=2,signmethod=sha256,timestamp={ms}|")
    options: dict[str, str] = {}
    for part in match["options"].split(","):
        name, _, value = part.strip().partition("=")
        if name:
            options[name.lower()] = value.strip()
    if not username or "&" not in username:
        raise ProtocolError(BAD_REQUEST, "username must be {deviceKey}&{productKey}")
    device_key, _, product_key = username.partition("&")
    try:
        secure_mode = int(options.get("securemode", STATIC_ACTIVATION))
    except ValueError:
        raise ProtocolError(BAD_REQUEST, "securemode must be 2 or 3") from None
    if not options.get("timestamp"):
        raise ProtocolError(BAD_REQUEST, "the clientId lacks timestamp=")
    return LoginRequest(product_key=product_key, device_key=device_key, client_id=match["id"],
                        timestamp=options["timestamp"], sign=password or "", secure_mode=secure_mode,
                        sign_method=options.get("signmethod", "sha256"))


def mqtt_connect_fields(product_key: str, device_key: str, secret: str, *, client_id: str | None = None,
                        timestamp: int | None = None, secure_mode: int = STATIC_ACTIVATION) -> dict[str, str]:
    """clientId, username and password a device sends at CONNECT (simulator and tests)."""
    params = login_params(product_key, device_key, secret, client_id=client_id, timestamp=timestamp,
                          secure_mode=secure_mode)
    return {
        "client_id": f"{params['clientId']}|securemode={secure_mode},signmethod=sha256,"
                     f"timestamp={params['timestamp']}|",
        "username": f"{device_key}&{product_key}",
        "password": params["sign"].upper(),
    }


@dataclass(frozen=True)
class Topic:
    """One EnOS topic: whose it is and which method it carries."""

    product_key: str
    device_key: str
    method: str
    is_reply: bool = False
    extra: dict = field(default_factory=dict)


_SYS_RE = re.compile(r"^/(?P<root>sys|ext/session)/(?P<pk>[^/]+)/(?P<dk>[^/]+)/(?P<rest>.+)\Z")


def parse_topic(topic: str) -> Topic | None:
    """`/sys/{pk}/{dk}/thing/measurepoint/post` → Topic(pk, dk, "thing.measurepoint.post")."""
    match = _SYS_RE.match(topic or "")
    if not match:
        return None
    rest = match["rest"]
    is_reply = rest.endswith("_reply")
    if is_reply:
        rest = rest[: -len("_reply")]
    if not rest or "+" in rest or "#" in rest:
        return None
    return Topic(product_key=match["pk"], device_key=match["dk"], method=rest.replace("/", "."), is_reply=is_reply)


def topic_for(product_key: str, device_key: str, method: str, *, reply: bool = False) -> str:
    """The topic a method travels on (with `_reply` for its answer)."""
    root = "ext/session" if method.startswith("combine.") or method == ACTIVATE_INFO else "sys"
    return f"/{root}/{product_key}/{device_key}/{method.replace('.', '/')}" + ("_reply" if reply else "")


def device_topic_filters(product_key: str, device_key: str) -> list[str]:
    """The MQTT filters that cover every topic of one device."""
    return [f"/sys/{product_key}/{device_key}/#", f"/ext/session/{product_key}/{device_key}/#"]


def filter_within_device(topic_filter: str, product_key: str, device_key: str) -> bool:
    """Whether a SUBSCRIBE filter stays inside one device's topics (no wildcard above them)."""
    for prefix in (f"/sys/{product_key}/{device_key}/", f"/ext/session/{product_key}/{device_key}/"):
        if topic_filter.startswith(prefix) and len(topic_filter) > len(prefix):
            return True
    return False
