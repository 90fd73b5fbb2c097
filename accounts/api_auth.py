"""The API's authentication and request rates, counted in the "throttle" cache (accounts.throttle).

- ThrottledTokenAuthentication: DRF's TokenAuthentication, plus a count of wrong tokens per client
  address. DRF authenticates before it throttles, so without this a token guesser never meets a
  throttle. Past the limit (THROTTLE_RATES["api-token-failure-ip"]) every token from that address,
  right or wrong, is refused with 429 and Retry-After until the window ends: a guesser learns
  nothing from a lucky guess while locked.
- AnonRateThrottle / UserRateThrottle: DRF's, keyed by accounts.throttle.client_ip (DRF's own
  reading of X-Forwarded-For trusts any client that sends one) and counted atomically.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import ngettext
from rest_framework import exceptions, throttling
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.request import Request

from . import throttle

TOKEN_FAILURE_SCOPE = "api-token-failure-ip"


def _too_many_tokens(retry_after: int) -> exceptions.Throttled:
    return exceptions.Throttled(wait=retry_after, detail=ngettext(
        "Too many wrong API tokens from your address; try again in %(seconds)d second.",
        "Too many wrong API tokens from your address; try again in %(seconds)d seconds.",
        retry_after) % {"seconds": retry_after})


class ThrottledTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None  # no token offered: another authenticator (or none) decides
        address = throttle.client_ip(request)
        locked = throttle.check(TOKEN_FAILURE_SCOPE, address)
        if not locked.allowed:
            raise _too_many_tokens(locked.retry_after)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            counted = throttle.hit(TOKEN_FAILURE_SCOPE, address)
            if not counted.allowed:
                raise _too_many_tokens(counted.retry_after) from None
            raise


class _CountedRate:
    """DRF's rate parsing, scopes and cache keys; counting by accounts.throttle (atomic, any worker)."""

    decision: throttle.Decision | None = None

    def get_ident(self, request: Request) -> str:
        return throttle.client_ip(request)

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:  # type: ignore[attr-defined]
            return True
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if key is None:
            return True
        # fail open: a Redis outage must not turn every API call into a refusal
        self.decision = throttle.hit(f"api-{self.scope}", key,  # type: ignore[attr-defined]
                                     self.num_requests, self.duration,  # type: ignore[attr-defined]
                                     fail_open=True)
        return self.decision.allowed

    def wait(self) -> float | None:
        return self.decision.retry_after if self.decision is not None else None


class AnonRateThrottle(_CountedRate, throttling.AnonRateThrottle):
    """Requests without credentials, per client address."""


class UserRateThrottle(_CountedRate, throttling.UserRateThrottle):
    """Requests per user (per client address when anonymous)."""

