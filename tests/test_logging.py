"""The portal's log: one line per request, no traceback for an answer the portal meant to give (4xx),
a 5xx kept whole, the periodic sweeps quiet, and the console SMS backend's message standing out."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.urls import reverse

from accounts import sms
from tests.conftest import client_for


@pytest.fixture
def portal_log() -> Iterator[io.StringIO]:
    """What the portal's configured console handler (settings.LOGGING) writes."""
    handler = next(h for h in logging.getLogger().handlers
                   if any(type(f).__name__ == "DropClientErrorDuplicates" for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def test_a_403_adds_no_line_and_no_traceback_to_the_access_line(viewer, device, portal_log):
    response = client_for(viewer).get(reverse("assets:device-edit", args=[device.asset_id]))
    assert response.status_code == 403
    # the server's access line is the request's one line; Django's "Forbidden (Permission denied)"
    # record and its traceback would be a second and a third
    assert portal_log.getvalue() == ""


def test_a_404_adds_no_line(viewer, portal_log):
    assert client_for(viewer).get("/no-such-page/").status_code == 404
    assert portal_log.getvalue() == ""


def test_a_server_error_keeps_its_traceback(portal_log):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("django.request").error("Internal Server Error: /x", exc_info=True,
                                                  extra={"status_code": 500})
    text = portal_log.getvalue()
    assert "Internal Server Error: /x" in text and "Traceback" in text and "RuntimeError: boom" in text


def test_a_security_refusal_stays_one_line(portal_log):
    try:
        raise ValueError("bad host")
    except ValueError:
        logging.getLogger("django.security.DisallowedHost").error("Invalid HTTP_HOST header", exc_info=True,
                                                                  extra={"status_code": 400})
    assert portal_log.getvalue().strip().count("\n") == 0
    assert "Invalid HTTP_HOST header" in portal_log.getvalue() and "Traceback" not in portal_log.getvalue()


def test_access_lines_are_written_once(portal_log):
    logging.getLogger("django.channels.server").info("HTTP GET / 200 [0.01, 127.0.0.1:5000]")
    logging.getLogger("django.server").info('"GET / HTTP/1.1" 200 10')
    lines = portal_log.getvalue().splitlines()
    assert len(lines) == 2 and "HTTP GET / 200" in lines[0] and "GET / HTTP/1.1" in lines[1]


def test_a_websocket_is_one_line_and_device_sockets_only_when_refused(portal_log):
    server = logging.getLogger("django.channels.server")
    for path in ("/ws/traces/7/", "/ws/device/"):
        details = {"path": path, "client": "127.0.0.1:5000"}
        server.info("WebSocket HANDSHAKING %(path)s [%(client)s]", details)
        server.info("WebSocket CONNECT %(path)s [%(client)s]", details)
        server.info("WebSocket DISCONNECT %(path)s [%(client)s]", details)
    server.info("WebSocket REJECT %(path)s [%(client)s]", {"path": "/ws/device/", "client": "127.0.0.1:5001"})
    lines = portal_log.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "WebSocket CONNECT /ws/traces/7/ [127.0.0.1:5000]", "WebSocket DISCONNECT /ws/traces/7/ [127.0.0.1:5000]",
        "WebSocket REJECT /ws/device/ [127.0.0.1:5001]"]


@pytest.mark.parametrize("name", ["celery.beat", "celery.worker.strategy", "celery.app.trace"])
def test_the_periodic_sweeps_log_only_warnings_by_default(name):
    logger = logging.getLogger(name)
    assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(logging.WARNING)


def test_the_console_sms_backend_writes_the_message_on_a_standout_line_of_its_own(settings, portal_log):
    settings.SMS_BACKEND = "accounts.sms.ConsoleBackend"
    settings.SMS_ALLOW_CONSOLE = True
    sms.send_sms("+8613800001001", "Verification code: 482913. Valid for 10 minutes.")
    lines = portal_log.getvalue().splitlines()
    at = lines.index("  SMS to +8613800001001: Verification code: 482913. Valid for 10 minutes.")
    assert lines[at - 1] == lines[at + 1] == sms.CONSOLE_BANNER
