"""Thing models, products, their read-only shares to other OUs, and devices."""

from __future__ import annotations

import secrets
import string
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganizationUnit
from accounts.permissions import CHANGE, VIEW, OUScopedQuerySet, ou_ids_with

from .datatypes import check_feature_definition
from .device_state import (  # noqa: F401 - re-exported: the device's state lives there
    STATUS_EXPRESSION,
    DeviceManager,
    DeviceQuerySet,
    DeviceStatus,
    Disablement,
    disabled_q,
    disablement_of_device,
    status_q,
)
from .validators import validate_device_key, validate_device_name, validate_tags, validate_timezone

if TYPE_CHECKING:
    from accounts.permissions import AnyUser

ALPHANUMERIC = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def generate_product_key() -> str:
    return random_token(8)


def generate_product_secret() -> str:
    return random_token(16)


def generate_device_secret() -> str:
    return random_token(20)


def generate_asset_id() -> str:
    return random_token(8)


def generate_device_key() -> str:
    return random_token(10)


class SharedQuerySet(OUScopedQuerySet):
    """Products and models are visible to their owner OU and to the OUs they are shared to."""

    share_relation = ""  # the reverse name of the share model

    def visible_to(self, user: AnyUser):
        ids = ou_ids_with(user, VIEW)
        if ids is None:
            return self
        if not ids:
            return self.none()
        ids = sorted(ids)
        shared = Q(**{f"{self.share_relation}__ou__in": ids})
        return self.filter(Q(ou__in=ids) | Q(pk__in=self.model.objects.filter(shared).values("pk")))

    def in_ou(self, ou: OrganizationUnit):
        """What an OU's lists show: its own and those shared to it."""
        return self.filter(Q(ou=ou) | Q(**{f"{self.share_relation}__ou": ou})).distinct()

    def writable_by(self, user: AnyUser):
        # a shared copy is never writable by the target: only the owner OU's writers
        return self._restrict(user, CHANGE)


class ThingModelQuerySet(SharedQuerySet):
    share_relation = "shares"


class ProductQuerySet(SharedQuerySet):
    share_relation = "shares"


class ThingModel(models.Model):
    """A device model: attributes, measure points, services and events."""

    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                           related_name="thing_models")
    model_id = models.CharField(_("model ID"), max_length=64)
    name = models.CharField(verbose_name=_("name"), max_length=100)
    description = models.TextField(verbose_name=_("description"), blank=True)
    attributes = models.JSONField(verbose_name=_("attributes"), default=list, blank=True)
    measurepoints = models.JSONField(_("measure points"), default=list, blank=True)
    services = models.JSONField(verbose_name=_("services"), default=list, blank=True)
    events = models.JSONField(verbose_name=_("events"), default=list, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now, editable=False)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    objects = ThingModelQuerySet.as_manager()

    class Meta:
        verbose_name = _("thing model")
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["ou", "model_id"], name="model_id_unique_in_ou")]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_id})"

    @property
    def public_id(self) -> str:
        return self.model_id

    def clean(self) -> None:
        problems: list[str] = []
        for section in ("attributes", "measurepoints", "events"):
            features = getattr(self, section)
            if not isinstance(features, list):
                problems.append(f"{section} must be a list")
                continue
            seen: set[str] = set()
            for index, feature in enumerate(features):
                problems += check_feature_definition(feature, f"{section}[{index}]")
                ident = feature.get("identifier") if isinstance(feature, dict) else None
                if ident in seen:
                    problems.append(f"{section}[{index}]: identifier {ident!r} is used twice")
                seen.add(ident)
        if not isinstance(self.services, list):
            problems.append("services must be a list")
        else:
            for index, service in enumerate(self.services):
                if not isinstance(service, dict) or not service.get("identifier"):
                    problems.append(f"services[{index}]: a service needs an identifier")
                    continue
                for param_index, param in enumerate(service.get("input", [])):
                    problems += check_feature_definition(param, f"services[{index}].input[{param_index}]")
        if problems:
            raise ValidationError(problems)

    def feature(self, section: str, identifier: str) -> dict | None:
        for feature in getattr(self, section):
            if feature.get("identifier") == identifier:
                return feature
        return None


class ProductType(models.TextChoices):
    DEVICE = "Device", _("Device")
    GATEWAY = "Gateway", _("Gateway")


class DataFormat(models.TextChoices):
    JSON = "Json", "JSON"
    CUSTOM = "Custom", _("Custom")


class Product(models.Model):
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="products")
    product_key = models.CharField(verbose_name=_("productKey"), max_length=32, unique=True,
                                   default=generate_product_key, editable=False)
    product_secret = models.CharField(verbose_name=_("productSecret"), max_length=32, default=generate_product_secret,
                                      editable=False)
    name = models.CharField(verbose_name=_("name"), max_length=100)
    description = models.TextField(verbose_name=_("description"), blank=True)
    product_type = models.CharField(verbose_name=_("product type"), max_length=10, choices=ProductType.choices,
                                    default=ProductType.DEVICE)
    data_format = models.CharField(verbose_name=_("data format"), max_length=10, choices=DataFormat.choices,
                                   default=DataFormat.JSON)
    model = models.ForeignKey(ThingModel, verbose_name=_("model"), on_delete=models.PROTECT, related_name="products")
    dynamic_activation = models.BooleanField(verbose_name=_("dynamic activation"), default=False)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now, editable=False)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.product_key})"

    @property
    def public_id(self) -> str:
        return self.product_key

    @property
    def is_gateway(self) -> bool:
        return self.product_type == ProductType.GATEWAY


class ProductShare(models.Model):
    """Read-only access of another OU to a product (made when devices migrate there)."""

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="shares")
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                           related_name="shared_products")
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("product share")
        verbose_name_plural = _("product shares")
        constraints = [models.UniqueConstraint(fields=["product", "ou"], name="product_shared_once_per_ou")]

    def __str__(self) -> str:
        return f"{self.product} shared to {self.ou.name}"


class ModelShare(models.Model):
    model = models.ForeignKey(ThingModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="shares")
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE,
                           related_name="shared_models")
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("model share")
        verbose_name_plural = _("model shares")
        constraints = [models.UniqueConstraint(fields=["model", "ou"], name="model_shared_once_per_ou")]

    def __str__(self) -> str:
        return f"{self.model} shared to {self.ou.name}"


class AssetType(models.TextChoices):
    DEVICE = "Device", _("Device")
    GATEWAY = "Gateway", _("Gateway")
    SUB_DEVICE = "Sub-device", _("Sub-device")


class Device(models.Model):
    # No single-column indexes on ou and product (db_index=False): every index of Meta.indexes starts
    # with ou, and device_key_unique_in_product with product, so lookups by either (including the
    # PROTECT checks) use those; a separate one is only more to write on every device insert and update.
    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.PROTECT, related_name="devices",
                           db_index=False)
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="devices",
                                db_index=False)
    # unique through Meta.constraints, not unique=True: on PostgreSQL unique=True also builds a second,
    # varchar_pattern_ops index for LIKE 'prefix%', and asset IDs are only ever compared whole
    asset_id = models.CharField(_("assetId"), max_length=32, default=generate_asset_id, editable=False)
    device_key = models.CharField(verbose_name=_("deviceKey"), max_length=64, validators=[validate_device_key])
    device_secret = models.CharField(verbose_name=_("deviceSecret"), max_length=64, default=generate_device_secret,
                                     editable=False)
    name = models.CharField(verbose_name=_("name"), max_length=64, validators=[validate_device_name])
    description = models.CharField(verbose_name=_("description"), max_length=500, blank=True)
    timezone = models.CharField(verbose_name=_("time zone"), max_length=64, default="+08:00",
                                validators=[validate_timezone])
    attributes = models.JSONField(verbose_name=_("attributes"), default=dict, blank=True)
    tags = models.JSONField(verbose_name=_("tags"), default=dict, blank=True, validators=[validate_tags])
    gateway = models.ForeignKey(
        "self", verbose_name=_("gateway"), null=True, blank=True, on_delete=models.SET_NULL, related_name="sub_devices"
    )
    activated_at = models.DateTimeField(verbose_name=_("activated at"), null=True, blank=True)
    online = models.BooleanField(verbose_name=_("online"), default=False)
    last_online_at = models.DateTimeField(verbose_name=_("last online at"), null=True, blank=True)
    last_offline_at = models.DateTimeField(verbose_name=_("last offline at"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now, editable=False)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    objects = DeviceManager()

    class Meta:
        base_manager_name = "objects"  # a device reached through a foreign key knows `enabled` too
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "device_key"], name="device_key_unique_in_product"),
            models.UniqueConstraint(fields=["asset_id"], name="device_asset_id_unique"),
            models.CheckConstraint(condition=~Q(gateway=models.F("pk")), name="device_not_its_own_gateway"),
        ]
        indexes = [
            # the device table: newest first, keyset-paginated, optionally narrowed by status/product
            models.Index(fields=["ou", "-created_at", "-id"], name="device_ou_created"),
            # activated_at included: status counts become index-only scans (no 20,000-page heap read); `enabled`
            # is not a column (see Disablement), so disabling rewrites no device row and none of these indexes
            models.Index(fields=["ou", "online", "-created_at", "-id"], include=["activated_at"],
                         name="device_ou_status"),
            # lists across several OUs (or a superuser's) walk this instead of sorting every row
            models.Index(fields=["-created_at", "-id"], name="device_created"),
            models.Index(fields=["ou", "product", "-created_at", "-id"], name="device_ou_product"),
            models.Index(fields=["ou", "name", "id"], name="device_ou_name"),
            models.Index(fields=["ou", "device_key", "id"], name="device_ou_key"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.device_key})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        creating = self._state.adding
        super().save(*args, **kwargs)
        if creating and not self.__dict__.get("_enabled", True):
            Disablement.objects.create(device=self, ou_id=self.ou_id)

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.pop("_enabled", None)  # read again on the next access
        super().refresh_from_db(*args, **kwargs)

    @property
    def public_id(self) -> str:
        return self.asset_id

    @property
    def enabled(self) -> bool:
        """No Disablement row; read with the device (the manager's annotation), else asked once."""
        if "_enabled" not in self.__dict__:
            self._enabled = self.pk is None or not Disablement.objects.filter(device_id=self.pk).exists()
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        # set by the manager's annotation when read, or by Device(enabled=False) before the first save;
        # the state of a saved device changes only through assets.services / assets.bulk
        self._enabled = bool(value)

    @property
    def status(self) -> DeviceStatus:
        if not self.enabled:
            return DeviceStatus.DISABLED
        if self.activated_at is None:
            return DeviceStatus.INACTIVE
        return DeviceStatus.ONLINE if self.online else DeviceStatus.OFFLINE

    @property
    def asset_type(self) -> AssetType:
        if self.gateway_id is not None:
            return AssetType.SUB_DEVICE
        if self.product.is_gateway:
            return AssetType.GATEWAY
        return AssetType.DEVICE

    @property
    def masked_secret(self) -> str:
        return "•" * 8

    def triple(self) -> dict[str, str]:
        return {
            "productKey": self.product.product_key,
            "deviceKey": self.device_key,
            "deviceSecret": self.device_secret,
        }


class MigrationStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the code")
    DONE = "done", _("Migrated")
    FAILED = "failed", _("Failed")
    LOCKED = "locked", _("Too many wrong codes")
    EXPIRED = "expired", _("Expired")


class MigrationRequest(models.Model):
    """A Move of devices to another OU, waiting for the SMS code sent to the target OU's owner.

    The code is stored hashed and bound to the requester, the device set and the target OU.
    """

    requester = models.ForeignKey("accounts.User", verbose_name=_("requester"), on_delete=models.CASCADE,
                                  related_name="migration_requests")
    source_ou = models.ForeignKey(OrganizationUnit, verbose_name=_("source OU"), on_delete=models.CASCADE,
                                  related_name="+")
    target_ou = models.ForeignKey(OrganizationUnit, verbose_name=_("target OU"), on_delete=models.CASCADE,
                                  related_name="+")
    device_ids = models.JSONField(verbose_name=_("devices"), default=list)  # sorted Device pks chosen by the requester
    device_set_hash = models.CharField(verbose_name=_("device set hash"),
                                       max_length=64)  # sha256 of the sorted ids + target: the binding
    include_sub_devices = models.BooleanField(verbose_name=_("include sub devices"), default=True)
    code_hash = models.CharField(verbose_name=_("code hash"), max_length=128, blank=True)
    code_sent_at = models.DateTimeField(verbose_name=_("code sent at"), null=True, blank=True)
    expires_at = models.DateTimeField(verbose_name=_("expires at"), null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(verbose_name=_("failed attempts"), default=0)
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=MigrationStatus.choices,
                              default=MigrationStatus.PENDING)
    result = models.JSONField(verbose_name=_("result"), default=dict,
                              blank=True)  # counts, shares made, the refusal message
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now, editable=False)
    completed_at = models.DateTimeField(verbose_name=_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("migration request")
        verbose_name_plural = _("migration requests")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requester", "status", "-created_at"])]

    def __str__(self) -> str:
        return f"Move of {len(self.device_ids)} device(s) to {self.target_ou.ou_id}"


class BatchOperation(models.TextChoices):
    IMPORT = "import", _("Batch Import")
    UPDATE = "update", _("Batch Update")


class BatchStatus(models.TextChoices):
    PARSING = "parsing", _("Parsing")
    PARSED = "parsed", _("Parsed")
    APPLYING = "applying", _("Applying")
    APPLIED = "applied", _("Applied")
    FAILED = "failed", _("Failed")


class BatchJob(models.Model):
    """One uploaded template: parsed, validated, then applied in one transaction."""

    ou = models.ForeignKey(OrganizationUnit, verbose_name=_("OU"), on_delete=models.CASCADE, related_name="batch_jobs")
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="batch_jobs")
    operation = models.CharField(verbose_name=_("operation"), max_length=10, choices=BatchOperation.choices)
    requested_by = models.ForeignKey("accounts.User", verbose_name=_("requested by"), null=True,
                                     on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=BatchStatus.choices,
                              default=BatchStatus.PARSING)
    filename = models.CharField(verbose_name=_("filename"), max_length=255)
    upload_path = models.CharField(verbose_name=_("upload path"), max_length=500,
                                   blank=True)  # the stored upload, removed when done
    total_rows = models.PositiveIntegerField(verbose_name=_("total rows"), default=0)
    valid_rows = models.PositiveIntegerField(verbose_name=_("valid rows"), default=0)
    invalid_rows = models.PositiveIntegerField(verbose_name=_("invalid rows"), default=0)
    applied_rows = models.PositiveIntegerField(verbose_name=_("applied rows"), default=0)
    progress = models.PositiveSmallIntegerField(verbose_name=_("progress"), default=0)  # percent of the current phase
    message = models.TextField(verbose_name=_("message"), blank=True)  # the file-level refusal, in words
    problems = models.TextField(verbose_name=_("problems"), blank=True)  # errmsg.txt: one line per problem
    result = models.JSONField(verbose_name=_("result"), default=dict, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=now, editable=False)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    objects = OUScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("batch job")
        verbose_name_plural = _("batch jobs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["ou", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} of {self.filename}"


from .export.models import ExportFormat, ExportJob, ExportStatus  # noqa: E402, F401 - its own module
from .group_models import DeviceGroup, DeviceGroupMember, GroupKind  # noqa: E402, F401 - groups refer to Device
