"""Device groups: named per OU, static (an explicit list of the OU's devices) or dynamic (a saved query,
evaluated whenever it is read, so always current). Imported by assets.models."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit
from accounts.permissions import OUScopedQuerySet


class GroupKind(models.TextChoices):
    STATIC = "static", _("Static")
    DYNAMIC = "dynamic", _("Dynamic")


class DeviceGroup(models.Model):
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                           related_name="device_groups")
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=500, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=GroupKind.choices, default=GroupKind.STATIC)
    query = models.TextField(_("query"), blank=True)  # dynamic groups only: the device query language
    devices = models.ManyToManyField("assets.Device", verbose_name=_("devices"), through="DeviceGroupMember",
                                     related_name="device_groups")
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now, editable=False)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    objects = OUScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("device group")
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["ou", "name"], name="group_name_unique_in_ou")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_dynamic(self) -> bool:
        return self.kind == GroupKind.DYNAMIC

    @property
    def reference(self) -> str:
        """How a query names this group: `group:"name"` (quotes and backslashes escaped)."""
        escaped = self.name.replace("\\", "\\\\").replace('"', '\\"')
        return f'group:"{escaped}"'


class DeviceGroupMember(models.Model):
    """A device in a static group (always a device of the group's OU)."""

    group = models.ForeignKey(DeviceGroup, verbose_name=_("group"), on_delete=models.CASCADE, related_name="members")
    device = models.ForeignKey("assets.Device", verbose_name=_("device"), on_delete=models.CASCADE,
                               related_name="group_memberships")
    added_at = models.DateTimeField(verbose_name=_("added at"), default=now, editable=False)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("added by"), null=True, blank=True,
                                 on_delete=models.SET_NULL,
                                 related_name="+")

    class Meta:
        verbose_name = _("device group member")
        constraints = [models.UniqueConstraint(fields=["group", "device"], name="device_once_per_group")]
        indexes = [models.Index(fields=["device", "group"], name="group_member_device")]

    def __str__(self) -> str:
        return f"{self.device_id} in {self.group_id}"
