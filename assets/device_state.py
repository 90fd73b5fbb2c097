"""Whether a device is enabled, and its status: the `Disablement` table (a disabled device has a row), the
Device queryset and manager that read it as if `enabled` were a column, and the status filters and counts.
Re-exported by assets.models, where the rest of the device lives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import Case, Exists, OuterRef, Q, Value, When
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit
from accounts.permissions import OUScopedQuerySet

if TYPE_CHECKING:
    from .models import Device


class DeviceStatus(models.TextChoices):
    """API values are EnOS's; labels are what the console shows."""

    DISABLED = "disable", _("Disabled")
    INACTIVE = "inactive", _("Inactive")
    ONLINE = "online", _("Online")
    OFFLINE = "offline", _("Offline")


def disabled_q(prefix: str = "") -> Q:
    """Is disabled: has a Disablement row (`prefix` reaches the device from another model, e.g. "device__")."""
    return Q(**{f"{prefix}disablement__isnull": False})


def disablement_of_device() -> Exists:
    """The device's Disablement row, matched on its OU too: PostgreSQL then derives the OU's constant and reads
    only that OU's rows (the `disablement_ou` index) when it starts from them."""
    return Exists(Disablement.objects.filter(device_id=OuterRef("pk"), ou_id=OuterRef("ou_id")))


def status_q(status: str) -> Q:
    """The filter for one status: indexed device columns (activated_at, online) and the Disablement table."""
    enabled = Q(enabled=True)
    active = enabled & Q(activated_at__isnull=False)
    return {
        DeviceStatus.DISABLED: Q(disablement_of_device()),  # a semi-join (NOT on the annotation is not)
        DeviceStatus.INACTIVE: enabled & Q(activated_at__isnull=True),
        DeviceStatus.ONLINE: active & Q(online=True),
        DeviceStatus.OFFLINE: active & Q(online=False),
    }[DeviceStatus(status)]


STATUS_EXPRESSION = Case(
    When(enabled=False, then=Value(DeviceStatus.DISABLED.value)),
    When(activated_at__isnull=True, then=Value(DeviceStatus.INACTIVE.value)),
    When(online=True, then=Value(DeviceStatus.ONLINE.value)),
    default=Value(DeviceStatus.OFFLINE.value),
    output_field=models.CharField(),
)


class DeviceQuerySet(OUScopedQuerySet):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Device]:
        """As Django's, and the devices made with enabled=False get their Disablement rows."""
        created = super().bulk_create(objs, *args, **kwargs)
        disabled = [Disablement(device_id=device.pk, ou_id=device.ou_id) for device in created
                    if device.pk is not None and not device.__dict__.get("_enabled", True)]
        if disabled:
            Disablement.objects.bulk_create(disabled, ignore_conflicts=True)
        return created

    def update(self, **kwargs: Any) -> int:
        """As Django's; `enabled` (not a column) writes the devices' Disablement rows, and a new OU moves them
        along (one more statement, before the devices leave this queryset's filter)."""
        new_ou = kwargs.get("ou_id", kwargs.get("ou"))
        if "enabled" not in kwargs and new_ou is None:
            return super().update(**kwargs)
        enabled = kwargs.pop("enabled", None)
        new_ou = getattr(new_ou, "pk", new_ou)
        with transaction.atomic(using=self.db, savepoint=False):
            marks = Disablement.objects.using(self.db).filter(device_id__in=self.values("pk"))
            rows = list(self.values_list("pk", "ou_id")) if enabled is False else []
            if new_ou is not None:
                marks.update(ou_id=new_ou)
            if enabled is True:
                marks.delete()
            count = super().update(**kwargs) if kwargs else len(rows) if enabled is False else self.count()
            if enabled is False:
                Disablement.objects.using(self.db).bulk_create(
                    [Disablement(device_id=pk, ou_id=new_ou or ou_id) for pk, ou_id in rows], ignore_conflicts=True)
        return count

    def with_status(self):
        return self.annotate(status_value=STATUS_EXPRESSION)

    def with_status_in(self, status: str):
        return self.filter(status_q(status))

    def status_counts(self) -> dict[str, int]:
        """Total and one count per status, in a single query. The Disablement rows are joined once (LEFT JOIN,
        a hash join over an OU) rather than asked per device and status (four subplans, 100,000 probes each)."""
        own_ou = models.FilteredRelation("disablement", condition=Q(disablement__ou_id=models.F("ou_id")))
        counted = self.order_by().alias(mark=own_ou, disabled_mark=models.F("mark__device_id"))
        enabled, active = Q(disabled_mark__isnull=True), Q(disabled_mark__isnull=True, activated_at__isnull=False)
        counts = counted.aggregate(
            # aliases must not collide with field names ("online"), hence the prefix
            n_total=models.Count("pk"),
            **{f"n_{DeviceStatus.DISABLED.value}": models.Count("pk", filter=Q(disabled_mark__isnull=False)),
               f"n_{DeviceStatus.INACTIVE.value}": models.Count("pk", filter=enabled & Q(activated_at__isnull=True)),
               f"n_{DeviceStatus.ONLINE.value}": models.Count("pk", filter=active & Q(online=True)),
               f"n_{DeviceStatus.OFFLINE.value}": models.Count("pk", filter=active & Q(online=False))},
        )
        return {key.removeprefix("n_"): value for key, value in counts.items()}


class DeviceManager(models.Manager.from_queryset(DeviceQuerySet)):
    """Every device query carries `enabled` (no Disablement row), so it filters, sorts and reads like a column."""

    def get_queryset(self) -> DeviceQuerySet:
        return super().get_queryset().annotate(enabled=~disablement_of_device())


class Disablement(models.Model):
    """A disabled device. Disabled is the exception (enabled devices have no row), and it lives in this narrow
    table rather than as a column of the device: disabling 100,000 devices writes 100,000 small rows here instead
    of rewriting 100,000 wide device rows and each of their thirteen indexes (7.5 s on 1,000,000 devices).

    No foreign-key constraints in the database: their check locks each referenced device row (FOR KEY SHARE), a
    WAL record per device and the first one of each device page a full-page image (240 MB of a 100,000-device
    disable's 640 MB). Every row is written by a statement that reads its device in the same transaction, Django
    deletes a device's row with the device, and every read starts from the device (`disablement_of_device`,
    the status counts' join), so a row left by a device deleted while it was being disabled is never seen."""

    device = models.OneToOneField("assets.Device", verbose_name=_("device"), on_delete=models.CASCADE, primary_key=True,
                                  related_name="disablement", db_constraint=False)
    # the device's OU (moved with it): `status:disabled` in an OU starts from the OU's rows here, and the
    # status counts join only those
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="+",
                           db_index=False, db_constraint=False)

    class Meta:
        verbose_name = _("disablement")
        verbose_name_plural = _("disablements")
        indexes = [models.Index(fields=["ou", "device"], name="disablement_ou")]

    def __str__(self) -> str:
        return str(self.device_id)
