"""Text messages (migration codes) through a pluggable backend chosen by settings.SMS_BACKEND.

- ConsoleBackend: the embedded default, writes the message to the portal's log; refused in production
  (DEBUG=0) unless SMS_ALLOW_CONSOLE is set, since the log then holds live verification codes;
- FileBackend: appends one JSON line per message to settings.SMS_FILE_PATH (demos, integration tests);
- LocmemBackend: keeps messages in `outbox` in this process (tests);
- HttpGatewayBackend: POSTs {"to", "message"} as JSON to settings.SMS_HTTP_URL with a bearer token,
  the shape most SMS providers' HTTP APIs (or a small adapter in front of them) accept.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

# what LocmemBackend sent, oldest first: {"to", "message"} dicts
outbox: list[dict[str, str]] = []


class SmsDeliveryError(Exception):
    """The message could not be handed to the provider; the text says why."""


class SmsBackend:
    def send(self, to: str, message: str) -> None:
        raise NotImplementedError


class ConsoleBackend(SmsBackend):
    def send(self, to: str, message: str) -> None:
        if not settings.SMS_ALLOW_CONSOLE:
            # the message holds a verification code: it must not land in a production log
            logger.error("SMS to %s not sent: SMS_BACKEND is the console backend, which writes codes to the log; "
                         "set SMS_BACKEND to a real provider (or SMS_ALLOW_CONSOLE=1 for a demo)", to)
            raise SmsDeliveryError(_("No SMS provider is configured on this portal: the code cannot be sent. "
                                     "Ask the portal's operator to set one up."))
        # a demo's one line that matters (the migration code) must not drown in the log: a banner
        # of its own, the message alone on its line
        logger.warning("SMS (console backend: no message was sent)\n%s\n  SMS to %s: %s\n%s",
                       CONSOLE_BANNER, to, message, CONSOLE_BANNER)


CONSOLE_BANNER = "=" * 72


class FileBackend(SmsBackend):
    _lock = threading.Lock()

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, to: str, message: str) -> None:
        line = json.dumps({"to": to, "message": message, "sent_at": datetime.now(UTC).isoformat()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class LocmemBackend(SmsBackend):
    def send(self, to: str, message: str) -> None:
        outbox.append({"to": to, "message": message})


class HttpGatewayBackend(SmsBackend):
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float | None = None) -> None:
        self.url = url if url is not None else settings.SMS_HTTP_URL
        self.token = token if token is not None else settings.SMS_HTTP_TOKEN
        self.timeout = timeout if timeout is not None else settings.SMS_HTTP_TIMEOUT
        if not self.url:
            raise ImproperlyConfigured("SMS_HTTP_URL must be set to use HttpGatewayBackend")

    def send(self, to: str, message: str) -> None:
        body = json.dumps({"to": to, "message": message}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - configured URL
                status = response.status
                detail = response.read(300).decode("utf-8", "replace").strip()
        except urllib.error.HTTPError as error:
            detail = error.read(300).decode("utf-8", "replace").strip()
            raise SmsDeliveryError(_("The SMS gateway refused the message: HTTP %(status)s") % {"status": error.code}
                                   + (f" ({detail})" if detail else "")) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                raise SmsDeliveryError(_("The SMS gateway did not answer within %(seconds)s s.")
                                       % {"seconds": self.timeout}) from None
            raise SmsDeliveryError(_("The SMS gateway could not be reached: %(reason)s") % {"reason": reason}) from None
        if not 200 <= status < 300:  # a redirect urllib followed to a non-2xx answer
            raise SmsDeliveryError(_("The SMS gateway refused the message: HTTP %(status)s") % {"status": status}
                                   + f" ({detail})")


def get_backend() -> SmsBackend:
    return import_string(settings.SMS_BACKEND)()


def send_sms(to: str, message: str) -> None:
    """Send one message; raises SmsDeliveryError when the backend could not deliver it."""
    get_backend().send(to, message)


def mask_phone(phone: str) -> str:
    """What the console may show of a phone number: its last two digits."""
    return f"•••• {phone[-2:]}" if len(phone) > 2 else "••••"
