"""What every handler shares: the trace hook, error replies, and the context of one request.

Every device message and refusal of a known device passes through `trace`; the dispatcher traces
each handler's reply, so a handler only builds its reply (and traces what else it touched, e.g.
the sub-device of a combine.login).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from accounts.actors import SYSTEM
from tracing.recorder import TracedMessage, record_message

from .. import protocol as p
from ..latest import LatestValueBuffer
from ..sessions import DeviceRef, ModelFeatures, Session

logger = logging.getLogger("connectivity")


def trace(device_id: int, direction: str, method: str, outcome: str, *, code: int | None = None,
          message: str = "", payload: Any = None) -> None:
    try:
        record_message(TracedMessage(device_id=device_id, direction=direction,  # type: ignore[arg-type]
                                     method=method, outcome=outcome, code=code,  # type: ignore[arg-type]
                                     message=message, payload=payload))
    except Exception:  # noqa: BLE001 - tracing must never break device traffic
        logger.exception("could not trace a message of device %s", device_id)


def error(device_id: int | None, request_id: str, method: str, code: int, message: str,
          payload: Any = None, data: Any = None) -> dict:
    """An error reply, traced on the device (handlers return `Refusal` instead: the dispatcher traces it)."""
    if device_id is not None:
        trace(device_id, "up", method, "error", code=code, message=message, payload=payload)
    return p.reply(request_id, code, data, message)


class Refusal(Exception):
    """A handler's error answer: becomes the reply `{code, message, data}` and an error trace."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@dataclass
class Context:
    """One request from a logged-in connection, and for whom it is."""

    session: Session
    target: DeviceRef  # the connection's own device, or a logged-in sub-device named by topic/params
    request: p.Request
    latest: LatestValueBuffer | None = None
    features: ModelFeatures | None = None

    @property
    def params(self) -> Any:
        return self.request.params

    def params_object(self) -> dict:
        if not isinstance(self.request.params, dict):
            raise Refusal(p.BAD_REQUEST, "params must be an object.")
        return self.request.params

    def require_gateway(self) -> None:
        if self.target.id != self.session.device.id or not self.session.device.is_gateway:
            raise Refusal(p.BAD_REQUEST, f"Only a gateway's own connection can send {self.request.method}.")


# who writes when a device changes its own record (attributes, tags, sub-devices): the system, on the
# device's behalf; assets audits it like any other edit
DEVICE_ACTOR: Any = SYSTEM
