"""What connectivity tells listeners (observability's alerts) about devices, without knowing them.

Sent inside the transaction that made the change (a receiver's writes commit or roll back with it), with
`send_robust`: a listener's failure never refuses a login or keeps a device online.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

# device_ids: list[int], at: datetime — these devices went offline (no session holds them any more)
devices_went_offline = Signal()
# device_id: int, at: datetime — the device came online (it was offline)
device_came_online = Signal()
# device_id: int, code: int, at: datetime — a login of this known device was refused (wrong sign …)
login_refused = Signal()
# rows: list[LatestRow] — latest values (measure points, events) were stored
values_stored = Signal()


def send(signal: Signal, **kwargs: Any) -> None:
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            logger.error("a listener of a connectivity signal failed: %r", receiver, exc_info=result)
