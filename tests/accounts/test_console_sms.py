"""The console SMS backend writes verification codes to the log: in production (DEBUG=0, hence
SMS_ALLOW_CONSOLE off unless set) it refuses, with a clear error and without logging the code."""

from __future__ import annotations

import logging

import pytest

from accounts import sms


def test_the_console_backend_refuses_when_not_allowed(settings, caplog):
    settings.SMS_BACKEND = "accounts.sms.ConsoleBackend"
    settings.SMS_ALLOW_CONSOLE = False
    with caplog.at_level(logging.INFO, logger="accounts.sms"), \
            pytest.raises(sms.SmsDeliveryError, match="No SMS provider is configured on this portal"):
        sms.send_sms("+8613800000001", "Verification code: 123456")
    assert "123456" not in caplog.text
    assert "SMS_BACKEND is the console backend" in caplog.text
    assert caplog.records[-1].levelno == logging.ERROR


def test_the_console_backend_logs_the_message_when_allowed(settings, caplog):
    settings.SMS_BACKEND = "accounts.sms.ConsoleBackend"
    settings.SMS_ALLOW_CONSOLE = True
    with caplog.at_level(logging.INFO, logger="accounts.sms"):
        sms.send_sms("+8613800000001", "Verification code: 654321")
    assert "654321" in caplog.text


def test_other_backends_do_not_depend_on_the_console_switch(settings, tmp_path):
    settings.SMS_ALLOW_CONSOLE = False
    settings.SMS_BACKEND = "accounts.sms.FileBackend"
    settings.SMS_FILE_PATH = tmp_path / "sms.jsonl"
    sms.send_sms("+1", "code 111111")
    assert "111111" in settings.SMS_FILE_PATH.read_text()
