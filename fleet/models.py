"""Bulk jobs: one action over a set of devices, tracked per device, rolled out in stages.

A Job is resolved to its JobExecutions (one per device) when it is created; the engine (fleet.engine)
claims executions atomically with a lease, so a killed worker's executions are taken up again (once)
and no execution that is done runs again.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit
from accounts.permissions import OUScopedQuerySet
from assets.models import Device

from .outcome_messages import render


def generate_job_id() -> str:
    return f"job-{secrets.token_hex(8)}"  # fits the audit event's request ID (36 characters)


class JobAction(models.TextChoices):
    ENABLE = "enable", _("Enable")
    DISABLE = "disable", _("Disable")
    DELETE = "delete", _("Delete")
    ADD_TAGS = "add_tags", _("Add tags")
    REMOVE_TAGS = "remove_tags", _("Remove tags")
    SET_ATTRIBUTES = "set_attributes", _("Set attributes")
    INVOKE_SERVICE = "invoke_service", _("Invoke a service")
    SET_MEASUREPOINTS = "set_measurepoints", _("Set measure points")
    START_TRACE = "start_trace", _("Start a message trace")


# actions that talk to the device: only these wait for offline devices or skip them
DEVICE_ACTIONS = frozenset({JobAction.INVOKE_SERVICE, JobAction.SET_MEASUREPOINTS})


class JobState(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    ABORTED = "aborted", _("Aborted")
    FAILED = "failed", _("Failed")


FINISHED_JOB_STATES = frozenset({JobState.COMPLETED, JobState.CANCELLED, JobState.ABORTED, JobState.FAILED})


class OfflinePolicy(models.TextChoices):
    SKIP = "skip", _("Skip offline devices")
    WAIT = "wait", _("Wait for them until the deadline")


class SelectionKind(models.TextChoices):
    DEVICES = "devices", _("Selected devices")
    QUERY = "query", _("Devices matching a query")
    GROUP = "group", _("A group")


class JobQuerySet(OUScopedQuerySet):
    def running(self) -> JobQuerySet:
        return self.filter(state=JobState.RUNNING)


class Job(models.Model):
    public_id = models.CharField(verbose_name=_("job ID"), max_length=36, unique=True, default=generate_job_id,
                                 editable=False)
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(verbose_name=_("action"), max_length=20, choices=JobAction.choices)
    params = models.JSONField(verbose_name=_("parameters"), default=dict, blank=True)
    selection_kind = models.CharField(verbose_name=_("selection"), max_length=10, choices=SelectionKind.choices)
    # what was asked, for people: the asset IDs, the query text, or the group's name
    selection = models.TextField(verbose_name=_("selection description"), blank=True)
    state = models.CharField(verbose_name=_("state"), max_length=10, choices=JobState.choices,
                             default=JobState.PENDING)
    # cumulative rollout: percentages of the devices ([1, 10, 100]) or counts ([10, 100, 1000])
    stages = models.JSONField(verbose_name=_("stages"), default=list, blank=True)
    stages_in_percent = models.BooleanField(verbose_name=_("stages in percent"), default=True)
    current_stage = models.PositiveIntegerField(verbose_name=_("current stage"), default=0)
    rate_per_minute = models.PositiveIntegerField(verbose_name=_("executions per minute"), default=0)  # 0: no limit
    timeout_seconds = models.FloatField(verbose_name=_("timeout per execution (s)"), default=10.0)
    max_retries = models.PositiveIntegerField(verbose_name=_("retries"), default=0)
    abort_failure_percent = models.FloatField(verbose_name=_("abort at failure percent"), null=True, blank=True)
    abort_min_executions = models.PositiveIntegerField(verbose_name=_("abort after at least"), default=100)
    offline_policy = models.CharField(verbose_name=_("offline devices"), max_length=5, choices=OfflinePolicy.choices,
                                      default=OfflinePolicy.SKIP)
    deadline = models.DateTimeField(verbose_name=_("deadline"), null=True, blank=True)
    total = models.PositiveIntegerField(verbose_name=_("devices"), default=0)
    message = models.CharField(verbose_name=_("message"), max_length=500, blank=True)  # why it ended so
    # the message as a code and its parameters, rendered in the reader's language (fleet.outcome_messages);
    # `message` keeps the source-language text (the only one on rows older than the codes)
    message_code = models.CharField(verbose_name=_("message code"), max_length=40, blank=True)
    message_params = models.JSONField(verbose_name=_("message parameters"), default=dict, blank=True)
    heartbeat_at = models.DateTimeField(verbose_name=_("driven at"), null=True, blank=True)  # engine's last step
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now, editable=False)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["ou", "-created_at"], name="job_ou_recent"),
                   models.Index(fields=["state"], name="job_state")]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.action})"

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_JOB_STATES

    @property
    def reaches_devices(self) -> bool:
        return self.action in DEVICE_ACTIONS

    @property
    def display_message(self) -> str:
        """Why the job ended so, in the active language."""
        return render(self.message_code, self.message_params, self.message)


class ExecutionState(models.TextChoices):
    PENDING = "pending", _("Pending")
    CLAIMED = "claimed", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")


FINISHED_EXECUTION_STATES = frozenset({ExecutionState.DONE, ExecutionState.FAILED, ExecutionState.SKIPPED,
                                       ExecutionState.CANCELLED})


class JobExecution(models.Model):
    """The job's action on one device. The device's asset ID and name are kept: a Delete job removes it."""

    # No database constraints and no index of the job's own (execution_claimable starts with it): a job over
    # 100,000 devices writes its executions in one INSERT, and the two per-row foreign-key checks at its commit
    # cost as much as the INSERT. The rows come from the devices and the job of that same transaction; deletes
    # go through Django (the job's executions with it; a deleted device's executions keep their asset ID and
    # name, the device set to null), and an execution whose device is gone is skipped as such by the engine.
    job = models.ForeignKey(Job, verbose_name=_("job"), on_delete=models.CASCADE, related_name="executions",
                            db_index=False, db_constraint=False)
    device = models.ForeignKey(Device, verbose_name=_("device"), null=True, on_delete=models.SET_NULL,
                               related_name="+", db_constraint=False)
    asset_id = models.CharField(verbose_name=_("asset ID"), max_length=64)
    device_name = models.CharField(verbose_name=_("device name"), max_length=200, blank=True)
    stage = models.PositiveIntegerField(verbose_name=_("stage"), default=0)
    state = models.CharField(verbose_name=_("state"), max_length=10, choices=ExecutionState.choices,
                             default=ExecutionState.PENDING)
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    lost_claims = models.PositiveIntegerField(verbose_name=_("lost claims"), default=0)  # leases that expired
    claimed_by = models.CharField(verbose_name=_("claimed by"), max_length=64, blank=True)
    claimed_at = models.DateTimeField(verbose_name=_("claimed at"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(verbose_name=_("lease expires at"), null=True, blank=True)
    invocation_id = models.BigIntegerField(verbose_name=_("command invocation"), null=True, blank=True)
    message = models.CharField(verbose_name=_("message"), max_length=500, blank=True)
    message_code = models.CharField(verbose_name=_("message code"), max_length=40, blank=True)
    message_params = models.JSONField(verbose_name=_("message parameters"), default=dict, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("job execution")
        verbose_name_plural = _("job executions")
        ordering = ["job", "id"]
        indexes = [models.Index(fields=["job", "state", "stage", "id"], name="execution_claimable"),
                   # only the executions a rate-limited job started (the others leave claimed_at empty)
                   models.Index(fields=["job", "claimed_at"], name="execution_rate_window",
                                condition=models.Q(claimed_at__isnull=False))]

    def __str__(self) -> str:
        return f"{self.job_id} → {self.asset_id}: {self.state}"

    @property
    def display_message(self) -> str:
        """The outcome's message in the active language."""
        return render(self.message_code, self.message_params, self.message)
