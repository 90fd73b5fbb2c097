"""The EnOS protocol helpers: the sign, MQTT credentials and topics (pure functions)."""

from __future__ import annotations

import hashlib

import pytest

from connectivity import protocol as p

FIELDS = {"clientId": "c1", "deviceKey": "dk", "productKey": "pk", "timestamp": "1700000000000"}


def test_the_sign_is_sha256_of_sorted_name_value_pairs_then_the_secret():
    expected = hashlib.sha256(b"clientIdc1deviceKeydkproductKeypktimestamp1700000000000secret").hexdigest()
    assert p.compute_sign(FIELDS, "secret") == expected
    assert p.sign_matches(FIELDS, "secret", expected.upper())
    assert not p.sign_matches(FIELDS, "other", expected)
    assert not p.sign_matches(FIELDS, "secret", None)  # type: ignore[arg-type]


def test_the_timestamp_window():
    assert p.timestamp_problem("1700000000000", 60, now_ms=1700000030000) is None
    assert "60 s" in p.timestamp_problem("1700000000000", 60, now_ms=1700000070000)
    assert "not milliseconds" in p.timestamp_problem("soon", 60)


def test_mqtt_credentials_as_enos_sends_them():
    fields = p.mqtt_connect_fields("pk", "dk", "secret", client_id="c1", timestamp=1700000000000)
    assert fields["client_id"] == "c1|securemode=2,signmethod=sha256,timestamp=1700000000000|"
    assert fields["username"] == "dk&pk"
    login = p.parse_mqtt_credentials(fields["client_id"], fields["username"], fields["password"])
    assert (login.product_key, login.device_key, login.client_id, login.timestamp) == ("pk", "dk", "c1",
                                                                                       "1700000000000")
    assert p.sign_matches(login.signed_fields(), "secret", login.sign)
    assert "sign" not in login.traced()


@pytest.mark.parametrize("client_id,username", [
    ("plain-client", "dk&pk"),
    ("c1|securemode=2,signmethod=sha256|", "dk&pk"),
    ("c1|securemode=2,signmethod=sha256,timestamp=1|", "no-ampersand"),
])
def test_malformed_mqtt_credentials_are_refused(client_id, username):
    with pytest.raises(p.ProtocolError):
        p.parse_mqtt_credentials(client_id, username, "x")


def test_topics_name_the_device_and_the_method():
    topic = p.topic_for("pk", "dk", "thing.event.fault.post")
    assert topic == "/sys/pk/dk/thing/event/fault/post"
    assert p.parse_topic(topic) == p.Topic("pk", "dk", "thing.event.fault.post")
    assert p.topic_for("pk", "dk", p.COMBINE_LOGIN, reply=True) == "/ext/session/pk/dk/combine/login_reply"
    assert p.parse_topic("/sys/pk/dk/thing/service/restart_reply").is_reply
    assert p.parse_topic("/other/pk/dk/x") is None
    assert p.parse_topic("/sys/pk/dk/#") is None


def test_subscriptions_must_stay_inside_the_device():
    assert p.filter_within_device("/sys/pk/dk/#", "pk", "dk")
    assert p.filter_within_device("/ext/session/pk/dk/combine/+", "pk", "dk")
    assert not p.filter_within_device("/sys/pk/+/#", "pk", "dk")
    assert not p.filter_within_device("/sys/#", "pk", "dk")
    assert not p.filter_within_device("/sys/pk/dk2/#", "pk", "dk")


def test_requests_are_parsed_and_replies_shaped():
    request = p.parse_request({"id": 5, "method": "thing.measurepoint.post", "params": None})
    assert (request.id, request.params, request.version) == ("5", {}, "1.0")
    with pytest.raises(p.ProtocolError):
        p.parse_request([1, 2])
    with pytest.raises(p.ProtocolError):
        p.parse_request({"id": "1"})
    assert p.reply("1") == {"id": "1", "code": 200, "data": {}, "message": "success"}
    assert p.is_reply({"id": "1", "code": 200}) and not p.is_reply({"id": "1", "method": "x"})


@pytest.mark.parametrize(("payload", "code"), [
    (b"", p.PAYLOAD_EMPTY), ("", p.PAYLOAD_EMPTY),
    (b"{not json", p.PAYLOAD_FORMAT_ERROR), (b"null", p.PAYLOAD_FORMAT_ERROR),
])
def test_an_mqtt_payload_that_is_empty_or_not_json_is_refused_with_its_code(payload, code):
    with pytest.raises(p.ProtocolError) as refusal:
        p.decode_payload(payload)
    assert refusal.value.code == code


def test_an_mqtt_payload_is_decoded_from_bytes_or_text():
    assert p.decode_payload(b'{"id": "1"}') == {"id": "1"} == p.decode_payload('{"id": "1"}')
    assert p.decode_payload(b"[1, 2]") == [1, 2]
