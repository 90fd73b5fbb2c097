"""The job engine: plain functions the Celery tasks call (and tests call directly).

`run_step(job_id)` does one step of a job: it claims a chunk of executions of the current stage with a
conditional UPDATE that stamps a fresh claim token (so the claim is atomic on every database; on PostgreSQL
the candidates are picked with SELECT … FOR UPDATE SKIP LOCKED so concurrent workers do not collide), runs
the action on them, records the outcomes, and checks the abort criteria. A claim holds a lease: a claim whose
lease expired (its worker died) is taken again once; a second loss fails the execution. An execution that is
done is never claimed again.

The set-based asset actions (enable, disable, delete, tags, attributes: `actions.BULK_ACTIONS`) need no lease:
their chunk (FLEET_BULK_CHUNK, 5,000) is picked, changed and recorded in one transaction, the executions'
row locks standing for the claim, so each execution is written once (pending → its outcome) and a worker
killed mid-chunk leaves neither the change nor the outcome: the chunk is simply pending again.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import translation
from django.utils.timezone import now

from accounts import audit
from accounts.actors import SYSTEM
from assets.models import Device, disabled_q
from connectivity.models import CommandInvocation
from enos_portal.id_lists import id_among

from . import actions
from .models import (
    FINISHED_JOB_STATES,
    ExecutionState,
    Job,
    JobExecution,
    JobState,
    OfflinePolicy,
)
from .outcome_messages import NO_MESSAGE, Message

LOST_TWICE = Message("worker_lost_twice")
OFFLINE = Message("device_offline")
DEADLINE = Message("deadline_passed")
GONE = Message("device_gone")
CREATOR_GONE = Message("creator_gone")
ABORTED_EXECUTIONS = Message("job_aborted_executions")


def setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:40]


def lease_for(job: Job) -> timedelta:
    seconds = setting("FLEET_LEASE_SECONDS", 60)
    if job.reaches_devices:
        seconds = max(seconds, job.timeout_seconds * 2 + 10)
    return timedelta(seconds=seconds)


def counts(job: Job | int) -> dict[str, int]:
    """Executions per state, every state present."""
    job_id = job if isinstance(job, int) else job.pk
    found = dict(JobExecution.objects.filter(job_id=job_id).order_by().values_list("state").annotate(n=Count("id")))
    return {state: found.get(state, 0) for state in ExecutionState.values}


# --- one step ---------------------------------------------------------------------------------------

def run_step(job_id: int, worker: str | None = None) -> float | None:
    """One step of the job; the seconds to wait before the next step, or None once the job has ended.
    Outcome messages are stored as codes and rendered when read, in the reader's language: the actions run
    with translation deactivated, so the texts they answer are their msgids (fleet.outcome_messages)."""
    with translation.override(None):
        return _run_step(job_id, worker)


def _run_step(job_id: int, worker: str | None) -> float | None:
    job = Job.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.state in FINISHED_JOB_STATES:
        return None
    at = now()
    Job.objects.filter(pk=job.pk).update(heartbeat_at=at)
    if job.deadline is not None and at >= job.deadline:
        _skip(job, Q(), DEADLINE)
    _fail_twice_lost(job, at)
    if job.reaches_devices and job.offline_policy == OfflinePolicy.SKIP:
        _skip(job, Q(stage__lte=job.current_stage) & (Q(device__online=False) | disabled_q("device__")), OFFLINE)
    allowed = _rate_allowance(job, at)
    if allowed <= 0:
        return 0.5
    if (job.action in actions.BULK_ACTIONS and job.created_by is not None
            and run_bulk_chunk(job, worker or worker_name(), min(allowed, bulk_chunk(job)))):
        return None if check_abort(job) else 0.0
    claimed = claim(job, worker or worker_name(), min(allowed, int(setting("FLEET_CHUNK", 50))))
    if claimed:
        execute(job, claimed)
        if check_abort(job):
            return None
        return 0.0
    return _advance(job)


def _skip(job: Job, where: Q, message: Message) -> int:
    return JobExecution.objects.filter(where, job=job, state=ExecutionState.PENDING).update(
        state=ExecutionState.SKIPPED, **message.fields(), finished_at=now())


def _fail_twice_lost(job: Job, at: Any) -> int:
    return JobExecution.objects.filter(job=job, state=ExecutionState.CLAIMED, lease_expires_at__lt=at,
                                       lost_claims__gte=1).update(
        state=ExecutionState.FAILED, **LOST_TWICE.fields(), finished_at=at)


def _rate_allowance(job: Job, at: Any) -> int:
    """How many executions may start now: `rate_per_minute` spread over windows of 6 s (60 s for slow rates)."""
    if not job.rate_per_minute:
        return 1_000_000
    window = 6 if job.rate_per_minute >= 100 else 60
    per_window = max(1, math.floor(job.rate_per_minute * window / 60))
    started = JobExecution.objects.filter(job=job, claimed_at__gte=at - timedelta(seconds=window)).count()
    return per_window - started


def _advance(job: Job) -> float | None:
    """Nothing to claim: wait for what runs or waits, or open the next stage, or end the job. Executions whose
    device is gone (deleted, or moved out of the job's OU) are skipped here; a chunk skips its own when it runs."""
    _skip(job, Q(device__isnull=True) | ~Q(device__ou_id=job.ou_id), GONE)
    open_now = JobExecution.objects.filter(job=job, stage__lte=job.current_stage,
                                           state__in=[ExecutionState.PENDING, ExecutionState.CLAIMED])
    if open_now.exists():
        return 1.0
    if check_abort(job):
        return None
    last = JobExecution.objects.filter(job=job).order_by("-stage").values_list("stage", flat=True).first() or 0
    if job.current_stage < last:
        Job.objects.filter(pk=job.pk, state=JobState.RUNNING, current_stage=job.current_stage).update(
            current_stage=job.current_stage + 1)
        return 0.0
    finish(job, JobState.COMPLETED, None)
    return None


def finish(job: Job, state: str, message: Message | None) -> bool:
    fields = message.fields() if message is not None else NO_MESSAGE
    ended = Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(state=state, **fields, finished_at=now())
    if ended:
        job.state = state
        audit.record(SYSTEM, f"job.{state}", job, object_id=job.public_id, after={"counts": counts(job),
                                                                                    "message": fields["message"]})
    return bool(ended)


# --- claims -----------------------------------------------------------------------------------------

def _claimable(job: Job, at: Any) -> Q:
    pending = Q(state=ExecutionState.PENDING, stage__lte=job.current_stage)
    if job.reaches_devices and job.offline_policy == OfflinePolicy.WAIT:
        pending &= Q(device__online=True)
    lost = Q(state=ExecutionState.CLAIMED, lease_expires_at__lt=at, lost_claims=0)
    return pending | lost


def claim(job: Job, worker: str, limit: int) -> list[JobExecution]:
    """Claim up to `limit` executions for this worker; those an expired lease held count one lost claim."""
    at = now()
    token = f"{worker}/{uuid.uuid4().hex[:16]}"[:64]
    lease = at + lease_for(job)
    candidates = JobExecution.objects.filter(_claimable(job, at), job=job).order_by("stage", "id")
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            ids = list(candidates.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[
                :limit])
        else:
            ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        # the same conditions again: on SQLite another worker may have claimed some of them since
        mine = JobExecution.objects.filter(_claimable(job, at), pk__in=ids)
        common = {"claimed_by": token, "claimed_at": at, "lease_expires_at": lease}
        mine.filter(state=ExecutionState.CLAIMED).update(state=ExecutionState.CLAIMED, **common,
                                                         lost_claims=1, attempts=_plus_one())
        mine.filter(state=ExecutionState.PENDING).update(state=ExecutionState.CLAIMED, **common,
                                                         attempts=_plus_one())
    return list(JobExecution.objects.filter(job=job, claimed_by=token, state=ExecutionState.CLAIMED))


def _plus_one() -> Any:
    from django.db.models import F

    return F("attempts") + 1


# --- a set-based chunk: picked, changed and recorded in one transaction ----------------------------

def bulk_chunk(job: Job) -> int:
    """Executions per step of a set-based action; with an abort criterion, at most its minimum, so the first
    check comes when the criterion can first be met."""
    chunk = int(setting("FLEET_BULK_CHUNK", 5000))
    if job.abort_failure_percent is not None:
        chunk = min(chunk, max(job.abort_min_executions, 1))
    return max(chunk, 1)


@dataclass(frozen=True)
class Picked:
    """An execution a set-based chunk holds (its row locked): what recording its outcome needs."""

    pk: int
    device_id: int | None
    attempts: int
    lost_claims: int


def run_bulk_chunk(job: Job, worker: str, limit: int) -> int:
    """Take up to `limit` pending executions of the current stage, run the action on their devices and record
    the outcomes, all in one transaction. The number of executions it ran.

    The executions are taken by one UPDATE that already marks them done (on PostgreSQL their ids picked with
    FOR UPDATE SKIP LOCKED: a concurrent driver takes others; SQLite's transactions are serial), so the common
    outcome costs no second write; those the action failed or skipped are set right after it."""
    at = now()
    token = f"{worker}/{uuid.uuid4().hex[:16]}"[:64]
    stamp = audit.request_id_var.set(job.public_id)  # every audit event the action writes names the job
    try:
        with transaction.atomic():
            executions = _take_as_done(job, token, at, limit)
            if not executions:
                return 0
            in_ou = list(Device.objects.filter(
                id_among(Device, "id", [e.device_id for e in executions if e.device_id is not None]),
                ou_id=job.ou_id).order_by().values_list("pk", flat=True))
            outcome = actions.BULK_ACTIONS[job.action](job.created_by, in_ou, job.params, job_id=job.public_id)
            # by id alone (not the job's claimable index, whose statistics lag a running job's states)
            _record(job, JobExecution.objects.filter(state=ExecutionState.DONE), executions, outcome, at=at,
                    done_recorded=True)
    except LostLease:
        return 0
    finally:
        audit.request_id_var.reset(stamp)
    return len(executions)


def _take_as_done(job: Job, token: str, at: Any, limit: int) -> list[Picked]:
    picked = JobExecution.objects.filter(job=job, state=ExecutionState.PENDING, stage__lte=job.current_stage)
    picked = picked.order_by("stage", "id")
    if connection.features.has_select_for_update_skip_locked:
        picked = picked.select_for_update(skip_locked=True, of=("self",))
    among, among_params = picked.values("pk")[:limit].query.sql_with_params()
    quote = connection.ops.quote_name
    no_params = "CAST('{}' AS jsonb)" if connection.vendor == "postgresql" else "'{}'"
    stamp = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(JobExecution._meta.db_table)} SET state = %s, message = '', message_code = '', "
            f"message_params = {no_params}, finished_at = %s, claimed_by = %s, claimed_at = %s, "
            f"attempts = attempts + 1 WHERE id IN ({among}) RETURNING id, device_id, attempts, lost_claims",
            # claimed_at counts an execution in the rate limit's window (and its index) only when there is one
            [ExecutionState.DONE, stamp, token, stamp if job.rate_per_minute else None, *among_params])
        return [Picked(*row) for row in sorted(cursor.fetchall())]


# --- running a chunk --------------------------------------------------------------------------------

class LostLease(Exception):
    """Another worker took these executions (our lease expired): undo what this chunk did."""


def execute(job: Job, executions: list[JobExecution]) -> None:
    token = executions[0].claimed_by
    by_device = {e.device_id: e for e in executions}
    devices = list(Device.objects.filter(pk__in=list(by_device), ou_id=job.ou_id)
                   .select_related("product__model", "gateway", "ou"))
    actor = job.created_by
    stamp = audit.request_id_var.set(job.public_id)  # every audit event the actions write names the job
    try:
        if actor is None:
            outcome = actions.Outcome(failed={d.pk: CREATOR_GONE for d in devices})
            _record(job, _claimed_by(job, token), executions, outcome)
        elif job.action in actions.ASSET_ACTIONS:
            try:
                with transaction.atomic():
                    outcome = actions.ASSET_ACTIONS[job.action](actor, devices, job.params, job_id=job.public_id)
                    _record(job, _claimed_by(job, token), executions, outcome)
            except LostLease:
                return
        else:
            known = _known_invocations(job, executions)

            def sent(invocations: dict[int, int]) -> None:
                for device_id, invocation_id in invocations.items():
                    JobExecution.objects.filter(pk=by_device[device_id].pk, claimed_by=token).update(
                        invocation_id=invocation_id)

            outcome = actions.COMMAND_ACTIONS[job.action](actor, devices, job.params, job_id=job.public_id,
                                                          timeout=job.timeout_seconds, known=known, sent=sent)
            try:
                _record(job, _claimed_by(job, token), executions, outcome)
            except LostLease:
                return
    finally:
        audit.request_id_var.reset(stamp)


def _known_invocations(job: Job, executions: list[JobExecution]) -> dict[int, int]:
    """Commands an earlier attempt already sent (its worker stopped): wait for them instead of sending twice."""
    known = {e.device_id: e.invocation_id for e in executions if e.invocation_id}
    for execution in executions:
        if execution.lost_claims and not execution.invocation_id and execution.device_id:
            earlier = (CommandInvocation.objects.filter(device_id=execution.device_id, requested_by=job.created_by,
                                                        created_at__gte=job.started_at)
                       .order_by("created_at").values_list("pk", flat=True).first())
            if earlier is not None:
                known[execution.device_id] = earlier
    return known


def _claimed_by(job: Job, token: str) -> Any:
    return JobExecution.objects.filter(job=job, claimed_by=token, state=ExecutionState.CLAIMED)


def _record(job: Job, mine: Any, executions: Sequence[JobExecution | Picked], outcome: actions.Outcome, *,
            at: Any = None, done_recorded: bool = False) -> None:
    """The outcomes, one UPDATE per (state, message) of those of `executions` still in `mine` (held by this
    worker; `done_recorded`: the done ones are marked already). LostLease when some were no longer held (an asset
    action's chunk rolls back)."""
    at = at or now()
    by_device = {e.device_id: e for e in executions}
    # by execution: a Delete job's devices are gone (the executions' device is null) by now
    pks = {device_id: execution.pk for device_id, execution in by_device.items()}
    changed = 0
    if done_recorded:
        changed += len(outcome.done)
    elif outcome.done:
        changed += mine.filter(id_among(JobExecution, "id", [pks[d] for d in outcome.done])).update(
            state=ExecutionState.DONE, **NO_MESSAGE, finished_at=at)
    # one UPDATE per (state, message): executions that share an outcome share it in one statement
    groups: dict[tuple[str, tuple[str, str]], list[int]] = defaultdict(list)
    messages: dict[tuple[str, str], Message] = {}

    def add(state: str, message: Message, device_id: int) -> None:
        messages.setdefault(message.key(), message)
        groups[(state, message.key())].append(device_id)

    for device_id, message in outcome.failed.items():
        execution = by_device.get(device_id)
        retry = (device_id in outcome.retryable and execution is not None
                 and execution.attempts - execution.lost_claims <= job.max_retries)
        add(ExecutionState.PENDING if retry else ExecutionState.FAILED, message, device_id)
    for device_id, message in outcome.skipped.items():
        add(ExecutionState.SKIPPED, message, device_id)
    answered = set(outcome.done) | set(outcome.failed) | set(outcome.skipped)
    for device_id in by_device:
        if device_id not in answered:  # the device left the OU or was deleted before its turn
            add(ExecutionState.SKIPPED, GONE, device_id)
    for (state, key), device_ids in groups.items():
        changed += mine.filter(id_among(JobExecution, "id", [pks[d] for d in device_ids])).update(
            state=state, **messages[key].fields(), finished_at=None if state == ExecutionState.PENDING else at,
            **({"claimed_by": "", "lease_expires_at": None, "invocation_id": None}
               if state == ExecutionState.PENDING else {}))
    deleted = [e.pk for e in executions if e.device_id is None]
    if deleted:
        changed += mine.filter(id_among(JobExecution, "id", deleted)).update(
            state=ExecutionState.SKIPPED, **GONE.fields(), finished_at=at)
    if changed < len(executions) and job.action in actions.ASSET_ACTIONS:
        raise LostLease()


# --- abort ------------------------------------------------------------------------------------------

def check_abort(job: Job) -> bool:
    """True when the job has ended (aborted now, or cancelled/aborted by someone else meanwhile)."""
    state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
    if state != JobState.RUNNING:
        return True
    if job.abort_failure_percent is None:
        return False
    tally = counts(job)
    failed, done = tally[ExecutionState.FAILED], tally[ExecutionState.DONE]
    finished = failed + done
    if finished < max(job.abort_min_executions, 1) or failed * 100 < job.abort_failure_percent * finished:
        return False
    message = Message.of("job_aborted", failed=failed, finished=finished, percent=round(failed * 100 / finished, 1),
                         threshold=job.abort_failure_percent)
    with transaction.atomic():
        if finish(job, JobState.ABORTED, message):
            job.executions.filter(state=ExecutionState.PENDING).update(
                state=ExecutionState.CANCELLED, **ABORTED_EXECUTIONS.fields(), finished_at=now())
    return True


# --- the engine's sweep -----------------------------------------------------------------------------

def stalled_jobs(at: Any | None = None) -> list[int]:
    """Running jobs no worker has driven lately (its worker died, or its next step was lost)."""
    at = at or now()
    stale = at - timedelta(seconds=setting("FLEET_DRIVER_STALE_SECONDS", 30))
    return list(Job.objects.filter(state=JobState.RUNNING).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)).values_list("pk", flat=True))
