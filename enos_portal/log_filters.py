"""Logging filters that keep the portal's log to one line per request.

Every request already has its access line (the server's: daphne's `runserver`, daphne or uvicorn in
production). Django adds a second record for each 4xx (`django.request`: "Not Found: /x",
"Forbidden (Permission denied): /x") and, for a PermissionDenied or a SuspiciousOperation, a full
traceback of an answer the portal meant to give. These filters drop the duplicate and the traceback
of expected answers; a 5xx keeps both, since it is a defect someone must read.
"""

from __future__ import annotations

import logging


def _expected_answer(record: logging.LogRecord) -> bool:
    status = getattr(record, "status_code", None)
    return isinstance(status, int) and status < 500


class DropClientErrorDuplicates(logging.Filter):
    """Drop `django.request`'s record of a 4xx answer: the access line already says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "django.request" and _expected_answer(record))


class NoTracebackForClientErrors(logging.Filter):
    """Keep a 4xx record (e.g. `django.security.csrf`'s reason) on one line, without its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _expected_answer(record):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True


class QuietWebsocketLines(logging.Filter):
    """The development server's websocket lines, one per socket that matters.

    daphne's `runserver` writes HANDSHAKING, then CONNECT (or REJECT), then DISCONNECT for every
    websocket: the handshake line is dropped (the next line says how it ended), and so are device
    sockets' CONNECT and DISCONNECT: `run_portal` keeps ~90 simulated devices connected, and a
    device's connections are in the console (its status, connection history and message trace).
    A refused device socket (REJECT) keeps its line.
    """

    DEVICE_PATH = "/ws/device/"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "django.channels.server" or not isinstance(record.msg, str):
            return True
        if record.msg.startswith("WebSocket HANDSHAKING"):
            return False
        if record.msg.startswith(("WebSocket CONNECT", "WebSocket DISCONNECT")) and isinstance(record.args, dict):
            return not str(record.args.get("path", "")).startswith(self.DEVICE_PATH)
        return True
