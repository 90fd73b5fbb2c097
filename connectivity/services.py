"""Connectivity's domain operations for the rest of the portal: what views, the API, admin actions,
tasks and other apps call. Each takes the acting user first and is audited.

The device side of the protocol lives in `connectivity.handlers` (one handler per EnOS method,
one dispatch table); the transports that carry it in `connectivity.transports`.
"""

from __future__ import annotations

from .handlers.commands import (
    MAX_COMMAND_TIMEOUT,
    MEASUREPOINT_GET,
    MEASUREPOINT_SET,
    claim_command,
    gateway_notices,
    get_measurepoints,
    invoke_service,
    kick_devices,
    record_command_reply,
    send_notices,
    set_measurepoints,
    wait_for_reply,
)
from .handlers.session import (
    STALE_REASON,
    LoginRefused,
    authenticate,
    close_session,
    end_stale_sessions,
    forget_sessions,
    open_session,
    touch_sessions,
)

__all__ = [
    "MAX_COMMAND_TIMEOUT", "MEASUREPOINT_GET", "MEASUREPOINT_SET", "STALE_REASON", "LoginRefused",
    "authenticate", "claim_command", "close_session", "end_stale_sessions", "forget_sessions",
    "get_measurepoints", "invoke_service", "kick_devices", "gateway_notices", "send_notices", "open_session",
    "record_command_reply", "set_measurepoints", "touch_sessions", "wait_for_reply",
]
