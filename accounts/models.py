"""Users, organization units (OUs), memberships with roles, and the audit log.

Access to an OU's assets is a django-guardian object permission on the OU itself, kept in
direct-foreign-key tables; devices, products and models follow their `ou`. 100,000 devices
never mean 100,000 permission rows.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .time_zones import is_time_zone

phone_validator = RegexValidator(r"^\+[1-9][0-9]{6,14}\Z",
                                 _("Enter the phone number in E.164 form, e.g. +8613800000000."))


def validate_time_zone(value: str) -> None:
    """An IANA time zone name the server knows (blank: follow the browser)."""
    if value and not is_time_zone(value):
        raise ValidationError(_("%(zone)s is not a time zone this portal knows."), code="invalid_time_zone",
                              params={"zone": value})


class User(AbstractUser):
    phone = models.CharField(verbose_name=_("phone"), max_length=16, blank=True, validators=[phone_validator])
    # the console shows every time in this zone; blank: in the browser's (told by a cookie)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, validators=[validate_time_zone],
                                 help_text=_("An IANA time zone name; blank follows the browser."))


def generate_ou_id() -> str:
    # EnOS OU ids look like o15589291276191: "o" and 14 digits.
    return "o" + "".join(secrets.choice("0123456789") for _ in range(14))


class OrganizationUnit(models.Model):
    ou_id = models.CharField(_("OU ID"), max_length=32, unique=True, default=generate_ou_id, editable=False)
    name = models.CharField(verbose_name=_("name"), max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT,
                              related_name="owned_ous")
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organization unit")
        ordering = ["name"]
        permissions = [
            ("view_assets", _("Read access to Asset Management")),
            ("change_assets", _("Write access to Asset Management")),
            ("manage_members", _("Manage the OU's members")),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ou_id})"


class Role(models.TextChoices):
    OU_ADMIN = "ou_admin", _("OU admin")
    ASSET_MANAGER = "asset_manager", _("Asset manager")
    ASSET_VIEWER = "asset_viewer", _("Asset viewer")


ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.OU_ADMIN: ("view_assets", "change_assets", "manage_members"),
    Role.ASSET_MANAGER: ("view_assets", "change_assets"),
    Role.ASSET_VIEWER: ("view_assets",),
}
OU_PERMISSIONS: tuple[str, ...] = ("view_assets", "change_assets", "manage_members")


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE,
                             related_name="memberships")
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(verbose_name=_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "ou"], name="one_membership_per_user_and_ou")]
        ordering = ["ou__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.ou.name} as {self.get_role_display()}"


class OUUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(OrganizationUnit, verbose_name=_("object"), on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("OU user permission")


class OUGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(OrganizationUnit, verbose_name=_("object"), on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = _("OU group permission")


class AuditEvent(models.Model):
    """One write, by whom, on what, before and after. Append-only and written in bulk (an INSERT … SELECT of
    one event per device), so it carries only the indexes some read needs and no foreign-key constraints:

    - (ou, -created_at) and (ou, action, -created_at, -id): the OU audit page and the API, whose OU
      filter is their leading column (so no index on ou alone);
    - created_at: the newest first over many OUs (the admin for a superuser, the API across OUs), its date
      filter, and the purge by age;
    - action, pattern ops: the admin's action family (`action LIKE 'membership.%'`) over every OU, and an
      exact action across OUs (the pattern index serves `=` too, so no plain index beside it);
    - actor: the SET_NULL when a user is deleted (and the actor filter);
    - (object_type, object_id): an object's history.

    actor and ou are not constrained in the database (db_constraint=False): the deferred checks cost a
    lookup per row at COMMIT, and the log only ever refers to rows that exist when it is written. Django
    still applies on_delete=SET_NULL when a user is deleted; OUs are never deleted (devices PROTECT them).
    """

    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True,
                              on_delete=models.SET_NULL, db_constraint=False)
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), null=True, blank=True, on_delete=models.SET_NULL,
                           db_index=False, db_constraint=False)
    action = models.CharField(verbose_name=_("action"), max_length=50)
    object_type = models.CharField(verbose_name=_("object type"), max_length=50, blank=True)
    object_id = models.CharField(verbose_name=_("object ID"), max_length=64, blank=True)
    object_repr = models.CharField(verbose_name=_("object repr"), max_length=200, blank=True)
    before = models.JSONField(verbose_name=_("before"), null=True, blank=True)
    after = models.JSONField(verbose_name=_("after"), null=True, blank=True)
    request_id = models.CharField(verbose_name=_("request ID"), max_length=36, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["ou", "-created_at"]), models.Index(fields=["object_type", "object_id"]),
                   # the OU audit log filtered by action, newest first (keyset on created_at, id)
                   models.Index(fields=["ou", "action", "-created_at", "-id"], name="audit_ou_action_time"),
                   # LIKE 'family.%' and = (opclasses apply on PostgreSQL; elsewhere a plain index)
                   models.Index(fields=["action"], name="audit_action_pattern", opclasses=["varchar_pattern_ops"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_repr}"
