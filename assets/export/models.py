"""ExportJob: a big export running in Celery, its progress and the file it leaves (removed after retention)."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit
from accounts.permissions import OUScopedQuerySet


class ExportFormat(models.TextChoices):
    XLSX = "xlsx", _("Excel (one .xlsx per product, zipped)")
    CSV = "csv", _("CSV (one file)")


class ExportStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


class ExportJob(models.Model):
    """One export too big to answer at once. `params` are the filters as they were asked (the console's
    or the API's query parameters), read again by the worker through the same code path."""

    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                           related_name="export_jobs")
    requested_by = models.ForeignKey("accounts.User", verbose_name=_("requested by"), null=True,
                                     on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(verbose_name=_("source"), max_length=10, default="console")  # console or api
    query = models.TextField(verbose_name=_("query"), blank=True)  # what the user asked, for people
    params = models.JSONField(verbose_name=_("parameters"), default=dict, blank=True)
    language = models.CharField(verbose_name=_("language"), max_length=16, blank=True)
    format = models.CharField(verbose_name=_("format"), max_length=10, choices=ExportFormat.choices)
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=ExportStatus.choices,
                              default=ExportStatus.RUNNING)
    progress = models.PositiveIntegerField(verbose_name=_("progress"), default=0)  # devices written
    total = models.PositiveIntegerField(verbose_name=_("total"), default=0)  # devices matched when asked
    file_path = models.CharField(verbose_name=_("file path"), max_length=500, blank=True)
    filename = models.CharField(verbose_name=_("filename"), max_length=255, blank=True)
    error = models.TextField(verbose_name=_("error"), blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now, editable=False)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    objects = OUScopedQuerySet.as_manager()

    class Meta:
        app_label = "assets"
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["ou", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_format_display()} export of {self.total} devices"

    @property
    def percent(self) -> int:
        return 100 if self.status == ExportStatus.DONE else (100 * self.progress // self.total if self.total else 0)
