"""Jobs' domain operations: start a job (its selection resolved to one execution per device) and cancel it.
Each takes the acting user first, writers only, audited. The engine (fleet.engine) runs what they start."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils.timezone import now
from django.utils.translation import gettext as _

from accounts import audit
from accounts.errors import Conflict, DomainError
from accounts.models import OrganizationUnit
from assets.groups import group_devices
from assets.models import Device, DeviceGroup
from assets.query import QueryError, apply_query, context_for, parse
from assets.services import require_write
from assets.validators import tag_problems

from .models import (
    DEVICE_ACTIONS,
    ExecutionState,
    Job,
    JobAction,
    JobExecution,
    JobState,
    OfflinePolicy,
    SelectionKind,
)
from .outcome_messages import Message

MAX_DEVICES = 200_000
CUTS_OFF = (JobAction.DISABLE, JobAction.DELETE)  # actions that end the devices' live sessions
MAX_STAGES = 10
MAX_TRACE_MINUTES = 3 * 24 * 60
MAX_TIMEOUT_SECONDS = 300.0


def job_snapshot(job: Job) -> dict[str, Any]:
    return {"action": job.action, "params": job.params, "selection": job.selection, "total": job.total,
            "stages": job.stages, "rate_per_minute": job.rate_per_minute, "state": job.state}


# --- checks -----------------------------------------------------------------------------------------

def _invalid(message: str, field: str) -> DomainError:
    return DomainError(message, code="invalid", field=field)


def clean_params(action: str, params: Any) -> dict[str, Any]:
    """The action's parameters, checked as far as they can be without a device."""
    params = params if isinstance(params, dict) else {}
    if action in (JobAction.ENABLE, JobAction.DISABLE, JobAction.DELETE):
        return {}
    if action == JobAction.ADD_TAGS:
        tags = params.get("tags")
        problems = tag_problems(tags) if tags else [_("Name at least one tag to add.")]
        if problems:
            raise _invalid(problems[0], "params")
        return {"tags": tags}
    if action == JobAction.REMOVE_TAGS:
        keys = params.get("keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise _invalid(_("Name at least one tag key to remove."), "params")
        return {"keys": keys}
    if action == JobAction.SET_ATTRIBUTES:
        attributes = params.get("attributes")
        if not isinstance(attributes, dict) or not attributes:
            raise _invalid(_("Name at least one attribute to set."), "params")
        return {"attributes": attributes}
    if action == JobAction.INVOKE_SERVICE:
        service = params.get("service")
        if not isinstance(service, str) or not service.strip():
            raise _invalid(_("Name the service to invoke."), "params")
        inputs = params.get("params") or {}
        if not isinstance(inputs, dict):
            raise _invalid(_("The service's inputs are an object of name: value pairs."), "params")
        return {"service": service.strip(), "params": inputs}
    if action == JobAction.SET_MEASUREPOINTS:
        values = params.get("values")
        if not isinstance(values, dict) or not values:
            raise _invalid(_("Name at least one measure point to set."), "params")
        return {"values": values}
    if action == JobAction.START_TRACE:
        minutes = params.get("minutes", 10)
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 1 <= minutes <= MAX_TRACE_MINUTES:
            raise _invalid(_("The trace duration must be between 1 minute and 3 days."), "params")
        return {"minutes": minutes}
    raise _invalid(_("Unknown action."), "action")


def clean_stages(stages: Sequence[Any] | None, in_percent: bool) -> list[int]:
    stages = list(stages or [])
    if in_percent and (not stages or stages[-1] != 100):
        stages.append(100)
    if len(stages) > MAX_STAGES:
        raise _invalid(_("A rollout has at most %(limit)d stages.") % {"limit": MAX_STAGES}, "stages")
    previous = 0
    for stage in stages:
        if isinstance(stage, bool) or not isinstance(stage, int) or stage <= previous or (in_percent and stage > 100):
            raise _invalid(_("Stages grow: each a whole number above the one before (percentages up to 100)."),
                           "stages")
        previous = stage
    return stages


def stage_cutoffs(total: int, stages: list[int], in_percent: bool) -> list[int]:
    """How many executions stages 0..n reach, cumulative; the last reaches every one."""
    cutoffs: list[int] = []
    for stage in stages:
        reach = max(1, math.ceil(total * stage / 100)) if in_percent else min(stage, total)
        if not cutoffs or reach > cutoffs[-1]:
            cutoffs.append(min(reach, total))
    if not cutoffs or cutoffs[-1] < total:
        cutoffs.append(total)
    return cutoffs


# --- selection --------------------------------------------------------------------------------------

def select_devices(actor: Any, ou: OrganizationUnit, kind: str, *, asset_ids: Sequence[str] | None = None,
                   query: str = "", group: DeviceGroup | None = None) -> QuerySet[Device]:
    """The devices of the OU the actor may change that the selection names."""
    devices = Device.objects.writable_by(actor).filter(ou=ou)
    if kind == SelectionKind.DEVICES:
        if not asset_ids:
            raise _invalid(_("Select at least one device."), "assetIds")
        return devices.filter(asset_id__in=list(asset_ids))
    if kind == SelectionKind.QUERY:
        try:
            return apply_query(devices, parse(query or ""), context_for(devices, actor))
        except QueryError as error:
            raise DomainError(error.message, code="invalid_query", field="query") from None
    if kind == SelectionKind.GROUP:
        if group is None or group.ou_id != ou.pk:
            raise _invalid(_("Choose a group of this OU."), "groupId")
        return devices.filter(pk__in=group_devices(actor, group).values("pk"))
    raise _invalid(_("Select devices, a query or a group."), "selection")


def _describe(kind: str, asset_ids: Sequence[str] | None, query: str, group: DeviceGroup | None) -> str:
    if kind == SelectionKind.DEVICES:
        return ", ".join(list(asset_ids or [])[:50]) + (" …" if len(asset_ids or []) > 50 else "")
    if kind == SelectionKind.QUERY:
        return query
    return group.name if group else ""


# --- start and cancel -------------------------------------------------------------------------------

def start_job(actor: Any, ou: OrganizationUnit, *, action: str, params: Any = None,
              selection_kind: str = SelectionKind.DEVICES, asset_ids: Sequence[str] | None = None, query: str = "",
              group: DeviceGroup | None = None, stages: Sequence[int] | None = None, stages_in_percent: bool = True,
              rate_per_minute: int = 0, timeout_seconds: float = 10.0, max_retries: int = 0,
              abort_failure_percent: float | None = None, abort_min_executions: int = 100,
              offline_policy: str = OfflinePolicy.SKIP, deadline: datetime | None = None) -> Job:
    """Create the job with one execution per selected device and hand it to the engine (after commit)."""
    require_write(actor, ou)
    if action not in JobAction.values:
        raise _invalid(_("Unknown action."), "action")
    params = clean_params(action, params)
    stages = clean_stages(stages, stages_in_percent)
    if not 0 < float(timeout_seconds) <= MAX_TIMEOUT_SECONDS:
        raise _invalid(_("The timeout is more than 0 and at most 300 seconds."), "timeoutSeconds")
    if offline_policy not in OfflinePolicy.values:
        raise _invalid(_("Offline devices are skipped or waited for."), "offlinePolicy")
    if offline_policy == OfflinePolicy.WAIT and (deadline is None or deadline <= now()):
        raise _invalid(_("Waiting for offline devices needs a deadline in the future."), "deadline")
    if abort_failure_percent is not None and not 0 < float(abort_failure_percent) <= 100:
        raise _invalid(_("The abort threshold is a percentage above 0 and at most 100."), "abortFailurePercent")
    devices = select_devices(actor, ou, selection_kind, asset_ids=asset_ids, query=query, group=group)
    total = devices.count()
    if total > MAX_DEVICES:
        raise _invalid(_("A job acts on at most %(limit)d devices.") % {"limit": MAX_DEVICES}, "selection")
    with transaction.atomic():
        job = Job.objects.create(
            ou=ou, created_by=actor, action=action, params=params, selection_kind=selection_kind,
            selection=_describe(selection_kind, asset_ids, query, group), state=JobState.RUNNING, stages=stages,
            stages_in_percent=stages_in_percent, rate_per_minute=rate_per_minute, timeout_seconds=timeout_seconds,
            max_retries=max_retries, abort_failure_percent=abort_failure_percent,
            abort_min_executions=abort_min_executions,
            offline_policy=offline_policy if action in DEVICE_ACTIONS else OfflinePolicy.SKIP, deadline=deadline,
            total=total, started_at=now())
        cutoffs = stage_cutoffs(total, stages, stages_in_percent)
        # a Disable or Delete in one stage takes the connected devices first: they are cut off within the first
        # chunks, their sessions ended together, while the rest (offline, nothing to end) follows
        connected_first = action in CUTS_OFF and len(cutoffs) == 1
        created = _create_executions(job, devices, cutoffs, connected_first=connected_first) if total else 0
        if not created:  # none matched (or those counted went meanwhile): no job
            transaction.set_rollback(True)
            raise _invalid(_("No device you may change matches the selection."), "selection")
        if created != total:  # the selection changed between the count and the copy
            Job.objects.filter(pk=job.pk).update(total=created)
            job.total = created
        audit.record(actor, "job.start", job, object_id=job.public_id, after=job_snapshot(job))
        from . import tasks  # the tasks module imports the engine, which imports this one

        transaction.on_commit(lambda: [tasks.run_job.delay(job.pk) for _ in range(drivers_for(job))])
    return job


def drivers_for(job: Job) -> int:
    """Tasks that drive the job side by side: on PostgreSQL a set-based action without a rate limit takes
    FLEET_BULK_DRIVERS (each step locks its own chunk, the others skip it); the others one (and every job on
    SQLite, whose writes are serial)."""
    from .actions import BULK_ACTIONS

    if (job.action in BULK_ACTIONS and not job.rate_per_minute
            and connection.features.has_select_for_update_skip_locked):
        return max(1, int(getattr(settings, "FLEET_BULK_DRIVERS", 2)))
    return 1


def _create_executions(job: Job, devices: QuerySet[Device], cutoffs: list[int], *,
                       connected_first: bool = False) -> int:
    """One pending execution per device of `devices`, numbered in id order (`connected_first`: the online ones
    first) into the stages `cutoffs` reach, in one INSERT … SELECT: nothing per device crosses the wire (100,000
    executions: ~1 s instead of ~9 s built in Python); the executions' ids follow that order, which is the
    order they are run in. The number created."""
    rows = devices.order_by().values(e_id=F("pk"), e_asset=F("asset_id"), e_name=F("name"), e_online=F("online"))
    select, params = rows.query.sql_with_params()
    order = "s.e_online DESC, s.e_id" if connected_first else "s.e_id"
    stage = " ".join(f"WHEN n <= {int(reach)} THEN {index}" for index, reach in enumerate(cutoffs[:-1]))
    stage = f"CASE {stage} ELSE {len(cutoffs) - 1} END" if stage else "0"
    no_params = "CAST('{}' AS jsonb)" if connection.vendor == "postgresql" else "'{}'"
    table = connection.ops.quote_name(JobExecution._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (job_id, device_id, asset_id, device_name, stage, state, attempts, lost_claims, "
            f"claimed_by, message, message_code, message_params) "
            f"SELECT %s, e_id, e_asset, substr(e_name, 1, 200), {stage}, %s, 0, 0, '', '', '', {no_params} "
            f"FROM (SELECT s.*, ROW_NUMBER() OVER (ORDER BY {order}) AS n FROM ({select}) s) numbered ORDER BY n",
            [job.pk, ExecutionState.PENDING, *params])
        return cursor.rowcount


def cancel_job(actor: Any, job: Job) -> Job:
    """Stop the job: executions not yet started are cancelled; those running finish and keep their outcome."""
    require_write(actor, job.ou_id)
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, state__in=[JobState.PENDING, JobState.RUNNING]).update(
            state=JobState.CANCELLED, finished_at=now(), **Message.of("job_cancelled_by", user=str(actor)).fields())
        if not changed:
            raise Conflict(_("Job %(job)s has already ended.") % {"job": job.public_id}, code="job_finished")
        cancelled = job.executions.filter(state=ExecutionState.PENDING).update(
            state=ExecutionState.CANCELLED, finished_at=now(), **Message("job_cancelled_executions").fields())
        job.refresh_from_db()
        audit.record(actor, "job.cancel", job, object_id=job.public_id, after={"cancelled_executions": cancelled})
    return job
