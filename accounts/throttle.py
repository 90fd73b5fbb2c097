"""Rate limits for every door where a secret is guessed or a message is sent.

One primitive, counters in the cache alias "throttle" (Redis when REDIS_URL is set, so every
worker and process shares them; per-process memory in the embedded default):

    decision = throttle.hit("device-login", f"{product_key}/{device_key}")
    if not decision.allowed:
        refuse(retry_after=decision.retry_after)

- ``hit(scope, key)`` counts one event and says whether it was within the limit;
- ``check(scope, key)`` says whether the next event would be refused, without counting;
- ``hit_all([(scope, key), ...])`` checks every rule first and counts only when all allow
  (a refusal by one rule does not use up the others); ``check_all`` checks several;
- ``clear(scope, key)`` forgets the count (e.g. after a successful login, if wanted).

A scope names what is limited; its limit comes from ``settings.THROTTLE_RATES[scope]``
("N/period": "20/m", "5/h", "20/d", "10/15m"), overridable per scope with the THROTTLE_RATES
environment variable ("device-login=10/m,sms-phone=3/h"), or is passed as ``limit=``/``period=``.
A window starts at the first event and lasts ``period``; ``retry_after`` is the whole seconds
until it ends. Counting is atomic (``cache.add`` then ``cache.incr``), so concurrent workers never
let more than ``limit`` events through a window.

Failed-attempt limits (a guessed secret) check before verifying and count only failures:

    rules = [("device-login", f"{product_key}/{device_key}"), ("device-login-ip", ip)]
    locked = throttle.check_all(rules)
    if not locked.allowed:
        refuse(retry_after=locked.retry_after)   # do not even verify the sign: a lucky guess teaches nothing
    if not sign_ok:
        throttle.hit_all(rules)
        refuse()

When the cache cannot be reached, a decision refuses (fail closed, retry_after 30 s) unless the
caller passes ``fail_open=True`` (the API's plain request rates do).

The client's address: ``client_ip(request)`` for Django requests and ``client_ip_from_scope(scope)``
for channels' ASGI scopes. It is REMOTE_ADDR (the ASGI client) unless ``settings.TRUSTED_PROXY_COUNT``
says how many reverse proxies append to X-Forwarded-For; then the address the outermost trusted
proxy saw. IPv6 clients are keyed by their /64 network (one host usually holds a whole /64).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError

CACHE_ALIAS = "throttle"
UNAVAILABLE_RETRY_AFTER = 30  # seconds: what a refusal says while the cache cannot be reached
CACHE_ERRORS = (RedisError, OSError)
_KEY_PREFIX = "throttle"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
logger = logging.getLogger(__name__)
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds


@dataclass(frozen=True)
class Decision:
    """What a throttle said: `allowed`, and if not, `retry_after` whole seconds to wait."""

    allowed: bool
    count: int
    limit: int
    retry_after: int = 0
    scope: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def parse_rate(text: str) -> Rate:
    """ "20/m" → Rate(20, 60); "10/15m" → Rate(10, 900). ImproperlyConfigured when it is not a rate."""
    match = _RATE.match(text or "")
    if not match:
        raise ImproperlyConfigured(f"A rate is 'N/period' such as 20/m, 5/h, 10/15m or 20/d; got {text!r}")
    limit, count, unit = match.groups()
    period = int(count or 1) * _UNITS[unit]
    if period <= 0:
        raise ImproperlyConfigured(f"A rate's period must be positive; got {text!r}")
    return Rate(int(limit), period)


def rate_for(scope: str) -> Rate:
    rates: Mapping[str, str] = getattr(settings, "THROTTLE_RATES", {})
    if scope not in rates:
        raise ImproperlyConfigured(f"No rate for throttle scope {scope!r}: add it to settings.THROTTLE_RATES")
    return parse_rate(rates[scope])


def _cache() -> BaseCache:
    return caches[CACHE_ALIAS]


def _seconds(period: int | float | timedelta) -> int:
    seconds = period.total_seconds() if isinstance(period, timedelta) else period
    return max(1, math.ceil(seconds))


def _rate(scope: str, limit: int | None, period: int | float | timedelta | None) -> Rate:
    if limit is not None and period is not None:
        return Rate(int(limit), _seconds(period))
    configured = rate_for(scope)
    return Rate(configured.limit if limit is None else int(limit),
                configured.period if period is None else _seconds(period))


def _keys(scope: str, key: str, period: int) -> tuple[str, str]:
    # hashed: the cache never holds phone numbers or usernames in clear, and any key is a valid cache key;
    # the period is part of it, so two rates on one scope never share a counter
    digest = hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()[:40]
    base = f"{_KEY_PREFIX}:{scope}:{period}:{digest}"
    return f"{base}:n", f"{base}:t"


def _retry_after(started: Any, period: int, now: float) -> int:
    if not isinstance(started, int | float):
        return period
    return max(1, math.ceil(started + period - now))


def _decide(scope: str, count: int, rate: Rate, started: Any, now: float) -> Decision:
    if count <= rate.limit:
        return Decision(True, count, rate.limit, 0, scope)
    return Decision(False, count, rate.limit, _retry_after(started, rate.period, now), scope)


def _unavailable(scope: str, rate: Rate, error: Exception, fail_open: bool) -> Decision:
    logger.error("throttle %s: the throttle cache is unavailable (%s); %s", scope, error,
                 "allowing" if fail_open else "refusing")
    return Decision(fail_open, 0, rate.limit, 0 if fail_open else UNAVAILABLE_RETRY_AFTER, scope)


def hit(scope: str, key: str, limit: int | None = None, period: int | float | timedelta | None = None, *,
        now: float | None = None, fail_open: bool = False) -> Decision:
    """Count one event of `key` in `scope`; refused once more than `limit` fall in one window.

    When the cache cannot be reached the event is refused (retry in UNAVAILABLE_RETRY_AFTER s),
    or allowed with `fail_open` (plain request rates, where refusing everything is the worse harm).
    """
    rate = _rate(scope, limit, period)
    now = time.time() if now is None else now
    try:
        return _hit(scope, str(key), rate, now)
    except CACHE_ERRORS as error:
        return _unavailable(scope, rate, error, fail_open)


def _hit(scope: str, key: str, rate: Rate, now: float) -> Decision:
    count_key, start_key = _keys(scope, key, rate.period)
    cache = _cache()
    for _ in range(3):
        if cache.add(count_key, 1, timeout=rate.period):
            cache.set(start_key, now, timeout=rate.period)
            return _decide(scope, 1, rate, now, now)
        try:
            count = cache.incr(count_key)
        except ValueError:  # the window ended between add and incr: start the next one
            continue
        if count == 1:
            # Django's Redis incr checks EXISTS then INCRs: a key that expired in between is created
            # anew without a timeout. Give it one, or the count would never end.
            cache.touch(count_key, timeout=rate.period)
            cache.set(start_key, now, timeout=rate.period)
            return _decide(scope, 1, rate, now, now)
        return _decide(scope, count, rate, cache.get(start_key), now)
    raise RuntimeError(f"throttle {scope}: the cache neither adds nor increments {count_key}")


def check(scope: str, key: str, limit: int | None = None, period: int | float | timedelta | None = None, *,
          now: float | None = None, fail_open: bool = False) -> Decision:
    """Would one more event of `key` be allowed? Counts nothing."""
    rate = _rate(scope, limit, period)
    now = time.time() if now is None else now
    count_key, start_key = _keys(scope, str(key), rate.period)
    try:
        values = _cache().get_many([count_key, start_key])
    except CACHE_ERRORS as error:
        return _unavailable(scope, rate, error, fail_open)
    count = int(values.get(count_key) or 0)
    return _decide(scope, count + 1, rate, values.get(start_key), now)


Rule = tuple[str, str] | tuple[str, str, int, int | float | timedelta]


def check_all(rules: Iterable[Rule], *, now: float | None = None, fail_open: bool = False) -> Decision:
    """check() for several rules: the refusal with the longest wait, or allowed. Counts nothing."""
    now = time.time() if now is None else now
    decisions = [check(*rule, now=now, fail_open=fail_open) for rule in rules]
    refused = [d for d in decisions if not d.allowed]
    if refused:
        return max(refused, key=lambda d: d.retry_after)
    return max(decisions, key=lambda d: d.count / max(d.limit, 1), default=Decision(True, 0, 0))


def hit_all(rules: Iterable[Rule], *, now: float | None = None, fail_open: bool = False) -> Decision:
    """Apply several rules to one event: counted only if every rule allows it.

    Each rule is (scope, key) or (scope, key, limit, period). Returns the refusal with the longest
    wait, or the allowing decision closest to its limit.
    """
    now = time.time() if now is None else now
    rules = [tuple(rule) for rule in rules]
    checked = check_all(rules, now=now, fail_open=fail_open)
    if not checked.allowed:
        return checked
    decisions = [hit(*rule, now=now, fail_open=fail_open) for rule in rules]
    refused = [d for d in decisions if not d.allowed]
    if refused:  # another worker got there between the check and the count
        return max(refused, key=lambda d: d.retry_after)
    return max(decisions, key=lambda d: d.count / max(d.limit, 1), default=Decision(True, 0, 0))


def clear(scope: str, key: str, limit: int | None = None, period: int | float | timedelta | None = None) -> None:
    rate = _rate(scope, limit, period)
    _cache().delete_many(list(_keys(scope, str(key), rate.period)))


def reset_all() -> None:
    """Forget every count and login lockout in the throttle cache: tests, or an operator's unlock-all.

    On Redis only this alias's keys go (its KEY_PREFIX): the database may hold the channel layer and
    the Celery broker too, so no FLUSHDB.
    """
    cache = _cache()
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=cache.make_key("*"), count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])
    else:
        cache.clear()


# --- who is asking ------------------------------------------------------------------------------

def ip_key(address: str | None) -> str:
    """The address a per-client limit counts: an IPv4 address, or an IPv6 address's /64 network.

    An IPv4-mapped IPv6 address counts as its IPv4 address. Anything unparsable is "unknown"
    (all such clients share one counter rather than escaping the limit).
    """
    try:
        ip = ipaddress.ip_address((address or "").strip().split("%")[0])
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def _forwarded_client(remote_addr: str | None, forwarded_for: str | None) -> str:
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            # each trusted proxy appends the address it saw; what lies left of the outermost one is forgeable
            return ip_key(hops[-min(proxies, len(hops))])
    return ip_key(remote_addr)


def client_ip(request: Any) -> str:
    """The client of a Django (or DRF) request, as ip_key() shows it."""
    meta = getattr(request, "META", {})
    return _forwarded_client(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))


def client_ip_from_scope(scope: Mapping[str, Any]) -> str:
    """The client of an ASGI (channels) connection scope, as ip_key() shows it."""
    client = scope.get("client") or (None,)
    forwarded = None
    for name, value in scope.get("headers") or ():
        if name.lower() == b"x-forwarded-for":
            forwarded = value.decode("latin-1") if forwarded is None else f"{forwarded},{value.decode('latin-1')}"
    return _forwarded_client(client[0], forwarded)
