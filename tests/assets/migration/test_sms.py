"""SMS backends: console (log), file (JSON lines), locmem (tests), and an HTTP gateway tested
against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts import sms


class Gateway(BaseHTTPRequestHandler):
    """A provider stand-in: records requests, answers with the status the test sets."""

    answer_status = 200
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        self.send_response(type(self).answer_status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "quota exceeded"}' if type(self).answer_status >= 400 else b'{"id": "m-1"}')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def gateway_url() -> Iterator[str]:
    Gateway.received = []
    Gateway.answer_status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True,
                              kwargs={"poll_interval": 0.05})  # shutdown() waits out one poll (0.5 s by default)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/sms"
    server.shutdown()
    server.server_close()


def test_the_console_backend_logs_the_message(settings, caplog):
    settings.SMS_BACKEND = "accounts.sms.ConsoleBackend"
    with caplog.at_level(logging.INFO, logger="accounts.sms"):
        sms.send_sms("+8613800000001", "Verification code: 123456")
    assert "+8613800000001" in caplog.text and "123456" in caplog.text


def test_the_file_backend_appends_json_lines(settings, tmp_path):
    settings.SMS_BACKEND = "accounts.sms.FileBackend"
    settings.SMS_FILE_PATH = tmp_path / "outbox" / "sms.jsonl"
    sms.send_sms("+1", "first")
    sms.send_sms("+2", "second")
    lines = [json.loads(line) for line in settings.SMS_FILE_PATH.read_text().splitlines()]
    assert [(line["to"], line["message"]) for line in lines] == [("+1", "first"), ("+2", "second")]
    assert all(line["sent_at"] for line in lines)


def test_the_locmem_backend_keeps_an_outbox(sms_outbox):
    sms.send_sms("+1", "hello")
    assert sms_outbox == [{"to": "+1", "message": "hello"}]


def test_the_http_gateway_posts_json_with_a_bearer_token(settings, gateway_url):
    settings.SMS_BACKEND = "accounts.sms.HttpGatewayBackend"
    settings.SMS_HTTP_URL = gateway_url
    settings.SMS_HTTP_TOKEN = "s3cret-token"
    sms.send_sms("+8613800000001", "Verification code: 654321")
    [request] = Gateway.received
    assert request["path"] == "/v1/sms"
    assert request["headers"]["Authorization"] == "Bearer s3cret-token"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"] == {"to": "+8613800000001", "message": "Verification code: 654321"}


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_the_http_gateway_raises_a_clear_error_on_a_refusal(gateway_url, status):
    Gateway.answer_status = status
    backend = sms.HttpGatewayBackend(url=gateway_url, token="t")
    with pytest.raises(sms.SmsDeliveryError) as error:
        backend.send("+1", "x")
    assert f"HTTP {status}" in str(error.value) and "quota exceeded" in str(error.value)


def test_an_unreachable_gateway_is_a_clear_error(gateway_url):
    from tests.processes import free_port

    backend = sms.HttpGatewayBackend(url=f"http://127.0.0.1:{free_port()}/sms", token="t", timeout=2)
    with pytest.raises(sms.SmsDeliveryError, match="could not be reached"):
        backend.send("+1", "x")


def test_a_slow_gateway_times_out(gateway_url, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(Gateway, "do_POST", lambda self: release.wait(5))
    backend = sms.HttpGatewayBackend(url=gateway_url, token="t", timeout=0.5)
    try:
        with pytest.raises(sms.SmsDeliveryError, match="did not answer within 0.5 s"):
            backend.send("+1", "x")
    finally:
        release.set()


def test_the_http_gateway_needs_a_url(settings):
    settings.SMS_HTTP_URL = ""
    with pytest.raises(ImproperlyConfigured, match="SMS_HTTP_URL"):
        sms.HttpGatewayBackend()


def test_phones_are_masked_for_display():
    assert sms.mask_phone("+8613800000001") == "•••• 01"
    assert "138" not in sms.mask_phone("+8613800000001")
