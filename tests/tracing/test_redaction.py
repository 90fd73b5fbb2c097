"""A trace log never keeps the traced device's own secrets (its deviceSecret, its product's
productSecret), wherever a device put them: nested values, keys, raw frames, bytes, the message
text, a truncated preview. A reset secret is masked from the next message on, in every process."""

from __future__ import annotations

import json

import pytest

from assets import services as assets
from tracing.active import ActiveTraces
from tracing.models import TraceLog
from tracing.payloads import clean_payload, maskable_secrets, redact

from .conftest import send


def stored_text() -> str:
    return json.dumps([[log.message, log.payload] for log in TraceLog.objects.order_by("seq")])


def test_the_device_secret_is_masked_anywhere_in_a_payload(device, trace):
    secret = device.device_secret
    send(device, "thing.measurepoint.post", payload={
        "params": {"measurepoints": {"note": f"my secret is {secret}!", "list": ["a", [{"deep": secret}]]},
                   secret: "as a key"},
    })
    send(device, "raw", payload=f"not json: {secret}")
    send(device, "raw", payload=json.dumps({"id": "1", "params": {"echo": f"x{secret}x"}}))
    send(device, "raw", payload=f"bytes {secret}".encode())
    send(device, "thing.service.restart", outcome="error", code=1000, message=f"device said {secret}")

    assert secret not in stored_text()
    logs = list(TraceLog.objects.order_by("seq"))
    measure = logs[0].payload["params"]
    assert measure["measurepoints"] == {"note": "my secret is ***!", "list": ["a", [{"deep": "***"}]]}
    assert measure["***"] == "as a key"
    assert logs[1].payload == "not json: ***"
    assert logs[2].payload == {"id": "1", "params": {"echo": "x***x"}}
    assert logs[3].payload == "bytes ***"
    assert logs[4].message == "device said ***"


def test_the_product_secret_is_masked_too(device, trace):
    product_secret = device.product.product_secret
    send(device, payload={"params": {"text": f"ps={product_secret}"}})
    assert product_secret not in stored_text()
    assert TraceLog.objects.get().payload == {"params": {"text": "ps=***"}}


def test_a_truncated_payload_keeps_no_secret_in_its_preview(settings, device, trace):
    settings.TRACE_PAYLOAD_LIMIT = 200
    send(device, payload={"params": {"blob": ("y" * 50 + device.device_secret) * 100}})
    payload = TraceLog.objects.get().payload
    assert payload["truncated"] is True
    assert "y***y" in payload["preview"] and device.device_secret not in payload["preview"]


def test_another_devices_secret_is_not_this_traces_business(device, gateway, trace):
    # only the traced device's own secrets are known here; a credential key still hides any value
    send(device, payload={"params": {"peer": gateway.device_secret, "deviceSecret": gateway.device_secret}})
    assert TraceLog.objects.get().payload == {"params": {"peer": gateway.device_secret, "deviceSecret": "***"}}


def test_a_reset_secret_is_masked_from_the_next_message_on(writer, device, trace,
                                                           django_capture_on_commit_callbacks):
    old_secret = device.device_secret
    other_process = ActiveTraces(check_interval=0)  # another process's view of the traced set
    assert old_secret in other_process.get(device.pk).secrets

    with django_capture_on_commit_callbacks(execute=True):
        new_secret = assets.reset_secret(writer, device)

    assert new_secret in other_process.get(device.pk).secrets  # the stamp moved: it reloaded
    send(device, payload={"params": {"echo": new_secret}})
    assert TraceLog.objects.get().payload == {"params": {"echo": "***"}}


def test_redact_masks_secrets_inside_strings_without_touching_the_rest():
    secrets = maskable_secrets(["Abcdefgh12345678XYZW", None, ""])
    payload = {"a": ["Abcdefgh12345678XYZW-suffix", 7, None, True], "b": {"c": "plain"}}
    assert redact(payload, secrets=secrets) == {"a": ["***-suffix", 7, None, True], "b": {"c": "plain"}}


def test_secrets_too_short_to_be_generated_are_not_masked_inside_text():
    # the portal's secrets are 20+ random characters; masking "abc" everywhere would garble logs
    assert maskable_secrets(["abc", "abcdefgh"]) == ("abcdefgh",)
    assert clean_payload({"t": "abc abcdefgh"}, ["abc", "abcdefgh"]) == {"t": "abc ***"}


@pytest.mark.parametrize("secrets", [["longer-secret-value", "secret-value"], ["secret-value", "longer-secret-value"]])
def test_a_secret_inside_another_is_masked_whole(secrets):
    assert clean_payload("x longer-secret-value y", secrets) == "x *** y"
