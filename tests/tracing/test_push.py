"""Pushes are batched: a burst of logs for a device becomes a few group_sends, in order, not one per log."""

from __future__ import annotations

import asyncio
import time

import pytest

from tracing import push


class RecordingLayer:
    """Stands in for channels-redis: remembers each group_send (and costs what one costs)."""

    def __init__(self, cost: float = 0.004) -> None:
        self.cost = cost
        self.sends: list[tuple[str, dict]] = []

    async def group_send(self, group: str, event: dict) -> None:
        await asyncio.sleep(self.cost)
        self.sends.append((group, event))


@pytest.fixture
def layer(monkeypatch) -> RecordingLayer:
    layer = RecordingLayer()
    monkeypatch.setattr(push, "get_channel_layer", lambda: layer)
    return layer


def logs(trace: int, first: int, count: int) -> list[dict]:
    return [{"type": "trace.logs", "trace": trace, "logs": [{"seq": s}]} for s in range(first, first + count)]


def test_a_burst_goes_out_in_a_few_sends_per_group_in_seq_order(layer):
    pusher = push.Pusher()
    for event in logs(7, 1, 150):
        pusher.publish("trace.device.1", event)
    for event in logs(8, 1, 150):
        pusher.publish("trace.device.2", event)
    assert pusher.wait_idle(5)
    by_group: dict[str, list[int]] = {}
    for group, event in layer.sends:
        by_group.setdefault(group, []).extend(log["seq"] for log in event["logs"])
    assert by_group == {"trace.device.1": list(range(1, 151)), "trace.device.2": list(range(1, 151))}
    assert len(layer.sends) <= 6  # a handful of sends for 300 logs


def test_a_send_never_carries_more_than_the_batch_limit(layer):
    pusher = push.Pusher()
    for event in logs(7, 1, 3 * push.MAX_LOGS_PER_EVENT):
        pusher.publish("trace.device.1", event)
    assert pusher.wait_idle(5)
    assert max(len(event["logs"]) for _, event in layer.sends) <= push.MAX_LOGS_PER_EVENT


def test_the_first_event_after_a_quiet_spell_goes_out_at_once(layer):
    pusher = push.Pusher()
    started = time.monotonic()
    pusher.publish("trace.device.1", logs(7, 1, 1)[0])
    while not layer.sends:
        time.sleep(0.001)
    assert time.monotonic() - started < push.FLUSH_INTERVAL


def test_other_events_keep_their_place_between_logs(layer):
    pusher = push.Pusher()
    pusher.publish("g", logs(7, 1, 1)[0])
    pusher.publish("g", {"type": "trace.ended", "trace": {"id": 7}})
    pusher.publish("g", logs(7, 2, 1)[0])
    assert pusher.wait_idle(5)
    assert [event["type"] for _, event in layer.sends] == ["trace.logs", "trace.ended", "trace.logs"]


def test_with_the_in_memory_layer_and_no_watcher_here_nothing_is_queued(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)
    try:
        pusher = push.Pusher()
        pusher.publish("g", logs(7, 1, 1)[0])
        assert pusher.wait_idle(0) and not pusher._pending
    finally:
        channel_layers.backends.pop("default", None)


def test_a_server_process_sends_from_its_own_event_loop_not_a_second_thread(layer):
    """A drain on a loop of its own would wait for the GIL at each Redis round trip while the
    server's loop is busy; where a consumer registered the server's loop, the sends run there."""
    import threading

    server_loop = asyncio.new_event_loop()
    server_thread = threading.Thread(target=server_loop.run_forever, name="server-loop", daemon=True)
    server_thread.start()
    sent_on: list[str] = []
    plain_send = layer.group_send

    async def group_send(group: str, event: dict) -> None:
        sent_on.append(threading.current_thread().name)
        await plain_send(group, event)

    layer.group_send = group_send
    try:
        pusher = push.Pusher()
        pusher.register_consumer_loop(server_loop)
        pusher.publish("trace.device.1", logs(7, 1, 1)[0])
        assert pusher.wait_idle(5)
        assert sent_on == ["server-loop"] and pusher._own_loop is None
    finally:
        server_loop.call_soon_threadsafe(server_loop.stop)
        server_thread.join(5)
        server_loop.close()
