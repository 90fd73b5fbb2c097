"""What each job action does to a chunk of devices: the one mapping from action to callable.

Every adapter takes the job's actor, the chunk's devices, the job's parameters and the job's id, and returns
an Outcome (done ids, failed {id: message}, skipped {id: message}); the messages are codes with parameters
(fleet.outcome_messages), rendered in the reader's language when read. The asset actions are set-based
(assets.bulk: a few queries a chunk, one audit event per device carrying the job's id; the engine also stamps
it as the request ID); a message trace is started device by device. They run inside the engine's transaction
that also records the executions' outcomes, so a worker killed mid-chunk leaves neither.

The actions that talk to devices (invoke a service, set measure points) cannot run in a transaction: they
send every command of the chunk first, then wait for the replies together until the per-execution timeout.
Migrate is not a job action: it is the console's Move flow with its SMS code (assets.migration).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from accounts.errors import DomainError
from assets import bulk
from assets.models import Device
from connectivity import services as connectivity_services
from connectivity.models import CommandInvocation, CommandStatus
from tracing import services as tracing_services

from .models import JobAction
from .outcome_messages import Message, from_text

COMMAND_OFFLINE = Message("command_offline")
TIMEOUT_TEXT = re.compile(r"No reply within (\S+) s\.")  # connectivity's timeout (handlers.commands)


@dataclass
class Outcome:
    done: list[int] = field(default_factory=list)
    failed: dict[int, Message] = field(default_factory=dict)
    skipped: dict[int, Message] = field(default_factory=dict)
    # device id → command invocation id, for the actions that reach devices
    invocations: dict[int, int] = field(default_factory=dict)
    retryable: set[int] = field(default_factory=set)  # failures worth another attempt (timeouts, device errors)


def _message(error: Exception) -> Message:
    return from_text(str(getattr(error, "message", "") or error))


def _each(devices: list[Device], act: Callable[[Device], Any]) -> Outcome:
    outcome = Outcome()
    for device in devices:
        pk = device.pk  # a deleted instance forgets its pk
        try:
            act(device)
        except DomainError as error:
            outcome.failed[pk] = _message(error)
        else:
            outcome.done.append(pk)
    return outcome


def _bulk(result: bulk.BulkOutcome) -> Outcome:
    """assets.bulk answers texts (msgids, the engine runs it untranslated): back to codes, once per text."""
    known: dict[str, Message] = {}

    def coded(texts: dict[int, str]) -> dict[int, Message]:
        for text in set(texts.values()) - known.keys():
            known[text] = from_text(str(text))
        return {pk: known[text] for pk, text in texts.items()}

    return Outcome(done=list(result.done), failed=coded(result.failed), skipped=coded(result.skipped))


def _ids(devices: list[Device]) -> list[int]:
    return [device.pk for device in devices]


# the set-based ones take device ids (the engine runs them on a chunk it picked, changed and recorded in one
# transaction: fleet.engine.run_bulk_chunk)
def enable_devices(actor: Any, device_ids: list[int], params: dict, *, job_id: str) -> Outcome:
    return _bulk(bulk.set_enabled(actor, device_ids, True, job_id=job_id))


def disable_devices(actor: Any, device_ids: list[int], params: dict, *, job_id: str) -> Outcome:
    return _bulk(bulk.set_enabled(actor, device_ids, False, job_id=job_id))


def delete_devices(actor: Any, device_ids: list[int], params: dict, *, job_id: str) -> Outcome:
    return _bulk(bulk.delete_devices(actor, device_ids, job_id=job_id))


def add_tags(actor: Any, device_ids: list[int], params: dict, *, job_id: str) -> Outcome:
    return _bulk(bulk.add_tags(actor, device_ids, dict(params.get("tags") or {}), job_id=job_id))


def remove_tags(actor: Any, device_ids: list[int], params: dict, *, job_id: str) -> Outcome:
    return _bulk(bulk.remove_tags(actor, device_ids, list(params.get("keys") or []), job_id=job_id))


def set_attributes(actor: Any, device_ids: list[int], params: dict, *, job_id: str) -> Outcome:
    return _bulk(bulk.set_attributes(actor, device_ids, dict(params.get("attributes") or {}), job_id=job_id))


def start_traces(actor: Any, devices: list[Device], params: dict, *, job_id: str) -> Outcome:
    duration = timedelta(minutes=float(params.get("minutes") or 10))
    return _each(devices, lambda device: tracing_services.start_trace(actor, device, duration))


# --- actions that reach devices ---------------------------------------------------------------------

def _send(actor: Any, device: Device, params: dict, timeout: float) -> CommandInvocation:
    if "service" in params:
        return connectivity_services.invoke_service(actor, device, params["service"], params.get("params") or {},
                                                    timeout=timeout, wait=False)
    # connectivity sends measure points only waiting for the reply: one device at a time (see the README)
    return connectivity_services.set_measurepoints(actor, device, params.get("values") or {}, timeout=timeout)


def command_devices(actor: Any, devices: list[Device], params: dict, *, job_id: str, timeout: float,
                    known: dict[int, int] | None = None,
                    sent: Callable[[dict[int, int]], None] | None = None) -> Outcome:
    """Send the chunk's commands, then wait for all replies until `timeout`. `known`: invocations sent by an
    earlier attempt whose worker stopped (device id → invocation id): those are waited for, not sent again.
    `sent` is told the invocations before the wait, so a worker killed while waiting leaves them known."""
    outcome = Outcome()
    known = known or {}
    for device in devices:
        if device.pk in known:
            outcome.invocations[device.pk] = known[device.pk]
            continue
        try:
            invocation = _send(actor, device, params, timeout)
        except DomainError as error:
            outcome.failed[device.pk] = _message(error)
            continue
        outcome.invocations[device.pk] = invocation.pk
    if sent is not None:
        sent(outcome.invocations)
    deadline = time.monotonic() + timeout
    waiting = dict(outcome.invocations)
    pause = 0.05
    while waiting:
        rows = CommandInvocation.objects.filter(pk__in=list(waiting.values())).exclude(
            status=CommandStatus.PENDING).values_list("device_id", "status", "message", "code")
        for device_id, status, message, code in rows:
            waiting.pop(device_id, None)
            _settle(outcome, device_id, status, message, code)
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 1.5, 0.5)
    for device_id, invocation_id in waiting.items():  # no reply in time: close them as the console does
        invocation = connectivity_services.wait_for_reply(CommandInvocation.objects.get(pk=invocation_id), 0)
        _settle(outcome, device_id, invocation.status, invocation.message, invocation.code)
    return outcome


def _settle(outcome: Outcome, device_id: int, status: str, message: str, code: int | None) -> None:
    if status == CommandStatus.OK:
        outcome.done.append(device_id)
    elif status == CommandStatus.OFFLINE:
        outcome.skipped[device_id] = COMMAND_OFFLINE
    else:
        outcome.failed[device_id] = command_error(status, message, code)
        outcome.retryable.add(device_id)


def command_error(status: str, message: str, code: int | None) -> Message:
    """A command's failure: its code and the device's words; a timeout as a message of ours."""
    timeout = TIMEOUT_TEXT.fullmatch(message or "")
    if status == CommandStatus.TIMEOUT and timeout and code is not None:
        return Message.of("command_timeout", code=code, seconds=timeout.group(1))
    if code is None:
        return from_text(message or "")
    return Message.of("command_error", code=code, message=(message or "")[:400])


BULK_ACTIONS: dict[str, Callable[..., Outcome]] = {
    JobAction.ENABLE: enable_devices,
    JobAction.DISABLE: disable_devices,
    JobAction.DELETE: delete_devices,
    JobAction.ADD_TAGS: add_tags,
    JobAction.REMOVE_TAGS: remove_tags,
    JobAction.SET_ATTRIBUTES: set_attributes,
}


def _on_devices(action: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """A set-based action called with the devices of a claimed chunk (a lease the engine took before)."""
    def run(actor: Any, devices: list[Device], params: dict, *, job_id: str) -> Outcome:
        return action(actor, _ids(devices), params, job_id=job_id)
    return run


# every action that changes the portal only (run in the transaction that records its outcomes), on devices
ASSET_ACTIONS: dict[str, Callable[..., Outcome]] = {
    **{name: _on_devices(action) for name, action in BULK_ACTIONS.items()},
    JobAction.START_TRACE: start_traces,
}
COMMAND_ACTIONS: dict[str, Callable[..., Outcome]] = {
    JobAction.INVOKE_SERVICE: command_devices,
    JobAction.SET_MEASUREPOINTS: command_devices,
}
