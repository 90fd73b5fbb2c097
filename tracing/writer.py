"""Writing trace logs off the device's path, in batches.

A traced message must not hold up the device's own handling for a database round trip per log,
and 200 traced messages a second must not cost 200 commits: `submit` queues the log and returns;
one writer thread per process writes whatever has queued in one transaction (a group commit),
then the next batch: what arrives within LINGER_SECONDS of a batch's first log goes with it.
The queue is bounded: past it, logs are counted as lost rather than letting memory grow.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time

from django.db import close_old_connections, connection

from .active import active_traces
from .services import PendingLog, write_logs

logger = logging.getLogger(__name__)

MAX_QUEUE = 20_000
MAX_BATCH = 500
# after the first log of a batch, wait this long for others: 200 traced devices a second then
# cost ~40 writes instead of 200 (each write's fixed cost — statement, binding, commit — is
# most of its cost), for at most this much latency
LINGER_SECONDS = 0.02
IDLE_CLOSE_SECONDS = 5.0  # a writer idle this long gives its database connection back
_RELEASE = object()


def write_with_retry(batch: list[PendingLog]) -> None:
    """Write a batch; logs refused because this process's traced set was stale go to the device's new trace."""
    refused = write_logs(batch)
    if not refused:
        return
    active_traces.invalidate()
    retry = []
    for item in refused:
        fresh = active_traces.get(item.entry.device_id)
        if fresh is not None and fresh.trace_id != item.entry.trace_id \
                and item.log.time.timestamp() < fresh.expires_ts:
            item.entry = fresh
            item.log.trace_id = fresh.trace_id
            retry.append(item)
    if retry:
        write_logs(retry)


class TraceWriter:
    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=MAX_QUEUE)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self.lost = 0
        self.batches = 0
        self._warned_at = 0.0
        self._tuned: object = None

    def submit(self, item: PendingLog) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.lost += 1
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                logger.warning("Trace writer overloaded: %s logs lost so far", self.lost)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every log submitted so far is written (tests, benchmarks, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def release(self, timeout: float = 5.0) -> None:
        """Write what is queued, then close the writer's database connection (before a database goes away)."""
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            self._queue.put(_RELEASE)
            self.wait_idle(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:  # after a fork the thread is gone although the object was copied
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="trace-writer", daemon=True)
                self._thread.start()

    def _tune_connection(self) -> None:
        """This connection writes trace logs only: let its commits skip the wait for the WAL flush.

        Trace logs are diagnostic data, not worth ~6 ms a commit: a crash may lose the last
        instant's logs; it never corrupts or reorders them. Other connections keep full durability.
        """
        if connection.vendor != "postgresql":
            return
        connection.ensure_connection()
        if connection.connection is not self._tuned:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO OFF")
            self._tuned = connection.connection

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_CLOSE_SECONDS)
            except queue.Empty:
                connection.close()
                continue
            batch = [first]
            deadline = time.monotonic() + LINGER_SECONDS
            while len(batch) < MAX_BATCH and first is not _RELEASE and batch[-1] is not _RELEASE:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            logs = [item for item in batch if item is not _RELEASE]
            try:
                if logs:
                    close_old_connections()
                    self._tune_connection()
                    write_with_retry(logs)
                    self.batches += 1
            except Exception:  # noqa: BLE001 - a failed batch is lost, the writer goes on
                logger.exception("Trace writer lost %s logs", len(logs))
                connection.close()
            finally:
                if len(logs) != len(batch):
                    connection.close()
                for _ in batch:
                    self._queue.task_done()


writer = TraceWriter()
atexit.register(writer.wait_idle, 2.0)
