"""Migration (Move) of devices to another OU: request → SMS code → confirm → one locked transaction.

Every door (console, API) calls these. The rules:
- *Get Code* validates first: the devices are visible and all in one OU (the source), the
  requester may write there, the target OU exists, is not the source and its owner has a phone.
- The code goes by SMS to the target OU's owner (a Celery task draws it: the code never crosses
  the broker). It is valid CODE_LIFETIME, single use, bound to the request, and
  MAX_FAILED_ATTEMPTS wrong entries end the request. Resends are throttled, and every code texted
  counts against the target phone's, the requester's and the client address's quotas (quota.py).
- Confirm locks the request and the devices (ordered by pk, so two movers cannot deadlock),
  re-checks that every device is still in the source OU, and moves them with a constant number
  of set-based UPDATEs however many sub-devices follow a gateway. Any refusal rolls the move
  back: no device changes OU unless all of them do.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext

from accounts import audit
from accounts.actors import is_system
from accounts.errors import AccessDenied, Conflict, DomainError
from accounts.models import OrganizationUnit
from accounts.permissions import CHANGE, can
from accounts.sms import SmsDeliveryError, send_sms

from ..groups import drop_moved_members
from ..models import Device, MigrationRequest, MigrationStatus, ModelShare, Product, ProductShare
from ..signals import devices_migrated
from . import codes
from .quota import Throttled, claim_code_sms, wait_text

logger = logging.getLogger(__name__)

MAX_DEVICES_PER_REQUEST = 1000  # chosen devices; a gateway's sub-devices come on top, without limit
REQUEST_LIFETIME = timedelta(hours=1)  # codes can be re-sent within it; after it, start again
REQUEST_WINDOW = timedelta(minutes=10)
MAX_REQUESTS_PER_WINDOW = 10  # per requester: each request texts someone, so it is rate-limited


class NotFound(DomainError):
    """What the user may not see, or does not exist: doors answer 404."""

    status = 404


__all__ = ["NotFound", "Throttled"]  # Throttled lives in quota.py; doors know it from here


# --- reading ------------------------------------------------------------------------------------

def selected_devices(actor: Any, asset_ids: Sequence[str]) -> list[Device]:
    """The devices a user chose, in their order, each with `n_sub_devices`; unseen ones are NotFound."""
    asset_ids = list(dict.fromkeys(a for a in asset_ids if isinstance(a, str) and a))
    if not asset_ids:
        raise DomainError(_("Select at least one device to migrate."), code="no_devices", field="deviceAssetIds")
    if len(asset_ids) > MAX_DEVICES_PER_REQUEST:
        raise DomainError(_("At most %(maximum)d devices can be migrated at once "
                            "(a gateway's sub-devices do not count).") % {"maximum": MAX_DEVICES_PER_REQUEST},
                          code="too_many_devices",
                          field="deviceAssetIds")
    found = {
        d.asset_id: d
        for d in Device.objects.visible_to(actor).filter(asset_id__in=asset_ids)
        .select_related("product", "ou").annotate(n_sub_devices=Count("sub_devices"))
    }
    missing = [a for a in asset_ids if a not in found]
    if missing:
        raise NotFound(_("Device not found: %(devices)s.") % {"devices": ", ".join(missing[:10])},
                       code="device_not_found",
                       field="deviceAssetIds")
    return [found[a] for a in asset_ids]


def get_request_for(actor: Any, request_id: Any) -> MigrationRequest:
    """A migration request, for its requester only: anyone else gets NotFound, as for unseen devices."""
    found = MigrationRequest.objects.select_related("source_ou", "target_ou", "target_ou__owner").filter(
        pk=_request_pk(request_id), requester_id=getattr(actor, "pk", None)).first()
    if found is None or not getattr(actor, "is_authenticated", False):
        raise NotFound(_("Migration request not found."), code="not_found")
    return found


def attempts_left(request: MigrationRequest) -> int:
    return max(0, codes.MAX_FAILED_ATTEMPTS - request.failed_attempts)


def resend_available_at(request: MigrationRequest) -> datetime | None:
    last = request.result.get("send_requested_at")
    return datetime.fromisoformat(last) + codes.RESEND_INTERVAL if last else None


# --- Get Code -----------------------------------------------------------------------------------

def _target_ou(target_ou_id: Any, source: OrganizationUnit) -> OrganizationUnit:
    ou_id = target_ou_id.strip() if isinstance(target_ou_id, str) else ""
    if not ou_id:
        raise DomainError(_("Enter the ID of the OU the devices should move to."), code="required",
                          field="targetOuId")
    # any OU may be a target: the requester usually belongs only to the source
    target = OrganizationUnit.objects.select_related("owner").filter(ou_id=ou_id).first()
    if target is None:
        raise DomainError(_("No OU has the ID %(ou)s. Check the target OU's ID.") % {"ou": ou_id}, code="ou_not_found",
                          field="targetOuId")
    if target.pk == source.pk:
        raise DomainError(_("The devices already belong to OU %(name)s (%(ou)s); enter another OU's ID.")
                          % {"name": source.name, "ou": source.ou_id}, code="same_ou", field="targetOuId")
    if not target.owner.phone:
        raise DomainError(_("The owner of OU %(name)s has no phone number, so no verification code can be "
                            "sent. Ask them to add a phone number to their account first.") % {"name": target.name},
                          code="owner_without_phone", field="targetOuId")
    return target


def request_migration(actor: Any, asset_ids: Sequence[str], target_ou_id: str, *,
                      include_sub_devices: bool = True, now: datetime | None = None,
                      client_ip: str | None = None) -> MigrationRequest:
    """*Get Code*: validate, create the request, and text a code to the target OU's owner.

    `client_ip` (accounts.throttle.client_ip of the request) adds the per-address SMS quota.
    """
    now = now or timezone.now()
    devices = selected_devices(actor, asset_ids)
    source = devices[0].ou
    if any(d.ou_id != source.pk for d in devices):
        raise DomainError(_("All devices of one migration must belong to the same OU."), code="mixed_ous",
                          field="deviceAssetIds")
    if not can(actor, CHANGE, source.pk):
        raise AccessDenied()
    target = _target_ou(target_ou_id, source)
    recent = MigrationRequest.objects.filter(requester=actor, created_at__gte=now - REQUEST_WINDOW)
    if recent.count() >= MAX_REQUESTS_PER_WINDOW:
        oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
        wait = int((oldest + REQUEST_WINDOW - now).total_seconds()) + 1 if oldest else 60
        raise Throttled(_("You started %(count)d migrations in the last %(minutes)d minutes; try again in %(wait)s.")
                        % {"count": MAX_REQUESTS_PER_WINDOW, "minutes": REQUEST_WINDOW.seconds // 60,
                           "wait": wait_text(wait)}, retry_after=wait)
    claim_code_sms(actor, target, client_ip)
    device_ids = sorted(d.pk for d in devices)
    by_pk = {d.pk: d for d in devices}
    with transaction.atomic():
        request = MigrationRequest.objects.create(
            requester=actor, source_ou=source, target_ou=target, device_ids=device_ids,
            device_set_hash=codes.device_set_hash(device_ids, target.pk, include_sub_devices),
            include_sub_devices=include_sub_devices, created_at=now,
            result={
                "asset_ids": [by_pk[pk].asset_id for pk in device_ids],
                "sub_devices_at_request": sum(d.n_sub_devices for d in devices),
                "send_requested_at": now.isoformat(),
                # the SMS is written in the requester's language, by a worker that has no request
                "language": translation.get_language() or settings.LANGUAGE_CODE,
            },
        )
        audit.record(actor, "migration.request", ou=source, object_type="migration", object_id=str(request.pk),
                     object_repr=str(request),
                     after={"target": target.ou_id, "devices": request.result["asset_ids"],
                            "include_sub_devices": include_sub_devices})
        _enqueue_code(request.pk)
    return request


def _enqueue_code(request_pk: int) -> None:
    from .tasks import send_migration_code  # the task module imports this one

    send_migration_code.delay_on_commit(request_pk)


def resend_code(actor: Any, request_id: Any, *, now: datetime | None = None,
                client_ip: str | None = None) -> MigrationRequest:
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked_request(actor, request_id)
        refusal = _refuse_unless_open(request, now)
        if refusal is None:
            available = resend_available_at(request)
            if available is not None and now < available:
                wait = int((available - now).total_seconds() + 0.999)
                refusal = Throttled(_("A new code can be sent once a minute; try again in %(wait)s.")
                                    % {"wait": wait_text(wait)},
                                    retry_after=wait, code="resend_throttled")
            else:
                try:
                    claim_code_sms(actor, request.target_ou, client_ip)
                except Throttled as error:
                    refusal = error
            if refusal is None:
                request.result = {**request.result, "send_requested_at": now.isoformat()}
                request.result.pop("delivery_error", None)
                request.save(update_fields=["result"])
                _enqueue_code(request.pk)
    if refusal is not None:
        raise refusal
    return request


def send_code(request_id: int, *, now: datetime | None = None) -> str | None:
    """Draw a new code, keep its hash, text it; the task's body. Returns the code (None: nothing to do)."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (MigrationRequest.objects.select_for_update()
                   .select_related("target_ou__owner", "source_ou", "requester").filter(pk=request_id).first())
        if request is None or request.status != MigrationStatus.PENDING:
            logger.info("No code sent for migration request %s: it is gone or no longer pending", request_id)
            return None
        code = codes.generate_code()
        request.code_hash = codes.hash_code(code, _binding(request))
        request.code_sent_at = now
        request.expires_at = now + codes.CODE_LIFETIME
        request.result.pop("delivery_error", None)
        request.save(update_fields=["code_hash", "code_sent_at", "expires_at", "result"])
    # the text and a delivery error (shown in the requester's dialog) are in the requester's language
    try:
        with translation.override(request.result.get("language") or settings.LANGUAGE_CODE):
            send_sms(request.target_ou.owner.phone, _sms_text(request, code))
    except SmsDeliveryError as error:
        MigrationRequest.objects.filter(pk=request.pk).update(
            result={**request.result, "delivery_error": str(error)})
        raise
    return code


def _sms_text(request: MigrationRequest, code: str) -> str:
    """What the owner authorises, in the portal's words only.

    No free text a requester controls (usernames, OU names: an attacker's OU could be named
    "call +1 555… to claim a refund"): only the OU IDs the portal generates, a count and the code.
    """
    count = len(request.device_ids)
    return ngettext(
        "EnOS Device Portal: a request to move %(count)d device from OU %(source)s into your OU %(target)s. "
        "Verification code: %(code)s. Valid for %(minutes)d minutes; never share it. "
        "Did not expect this? Ignore this message.",
        "EnOS Device Portal: a request to move %(count)d devices from OU %(source)s into your OU %(target)s. "
        "Verification code: %(code)s. Valid for %(minutes)d minutes; never share it. "
        "Did not expect this? Ignore this message.",
        count) % {"count": count, "source": request.source_ou.ou_id, "target": request.target_ou.ou_id,
                  "code": code, "minutes": int(codes.CODE_LIFETIME.total_seconds() // 60)}


# --- checking the code --------------------------------------------------------------------------

def _binding(request: MigrationRequest) -> str:
    return codes.binding(request.pk, request.requester_id, request.target_ou_id, request.device_set_hash)


def _request_pk(request_id: Any) -> int:
    try:
        return int(request_id)
    except (TypeError, ValueError):
        return 0


def _locked_request(actor: Any, request_id: Any) -> MigrationRequest:
    """The request, locked until the caller's transaction ends; NotFound for anyone but its requester."""
    found = (MigrationRequest.objects.select_for_update(of=("self",))
             .select_related("source_ou", "target_ou", "target_ou__owner")
             .filter(pk=_request_pk(request_id), requester_id=getattr(actor, "pk", None)).first())
    if found is None or not getattr(actor, "is_authenticated", False):
        raise NotFound(_("Migration request not found."), code="not_found")
    return found


CLOSED_MESSAGES = {
    MigrationStatus.DONE: (_lazy("This migration was already carried out: a code works only once."), "already_done"),
    MigrationStatus.FAILED: (_lazy("This migration failed and is closed; start a new migration."), "request_failed"),
    MigrationStatus.LOCKED: (format_lazy(_lazy("This migration was ended after {count} wrong codes; "
                                               "start a new migration."), count=codes.MAX_FAILED_ATTEMPTS),
                             "request_locked"),
    MigrationStatus.EXPIRED: (_lazy("This migration request expired; start a new migration."), "request_expired"),
}


def _refuse_unless_open(request: MigrationRequest, now: datetime) -> DomainError | None:
    """Why the request cannot go on, or None. Closes a request whose lifetime ran out."""
    if request.status == MigrationStatus.PENDING and now >= request.created_at + REQUEST_LIFETIME:
        request.status = MigrationStatus.EXPIRED
        request.completed_at = now
        request.save(update_fields=["status", "completed_at"])
    if request.status != MigrationStatus.PENDING:
        message, code = CLOSED_MESSAGES[MigrationStatus(request.status)]
        return Conflict(message, code=code)
    return None


def _refuse_code(request: MigrationRequest, raw_code: Any, now: datetime) -> DomainError | None:
    """Why this code does not open the request, or None. Counts wrong codes (saved by the caller's commit)."""
    refusal = _refuse_unless_open(request, now)
    if refusal is not None:
        return refusal
    code = codes.normalize_code(raw_code)
    if code is None:
        return DomainError(_("Enter the %(digits)d-digit code from the SMS.") % {"digits": codes.CODE_DIGITS},
                           code="invalid_code",
                           field="code")
    if not request.code_hash:
        return Conflict(_("The code has not been sent yet; wait a moment for the SMS, or ask for a new code."),
                        code="code_not_sent")
    if request.expires_at is None or now >= request.expires_at:
        minutes = int(codes.CODE_LIFETIME.total_seconds() // 60)
        return Conflict(_("The code has expired (codes are valid for %(minutes)d minutes); ask for a new code.")
                        % {"minutes": minutes},
                        code="code_expired", field="code")
    if request.device_set_hash != codes.device_set_hash(request.device_ids, request.target_ou_id,
                                                        request.include_sub_devices):
        return Conflict(_("This migration request does not match its devices any more; start a new migration."),
                        code="request_altered")
    if codes.code_matches(code, _binding(request), request.code_hash):
        return None
    request.failed_attempts += 1
    fields = ["failed_attempts"]
    if request.failed_attempts >= codes.MAX_FAILED_ATTEMPTS:
        request.status = MigrationStatus.LOCKED
        request.completed_at = now
        fields += ["status", "completed_at"]
    request.save(update_fields=fields)
    if request.status == MigrationStatus.LOCKED:
        return Conflict(_("Wrong code. After %(count)d wrong codes this migration is ended; start a new migration.")
                        % {"count": codes.MAX_FAILED_ATTEMPTS}, code="request_locked", field="code")
    left = attempts_left(request)
    return DomainError(ngettext("Wrong code; %(count)d attempt left.", "Wrong code; %(count)d attempts left.", left)
                       % {"count": left}, code="wrong_code",
                       field="code")


def check_code(actor: Any, request_id: Any, code: Any, *, now: datetime | None = None) -> MigrationRequest:
    """The console's *OK* after typing the code: checks it (wrong ones count) without using it up."""
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked_request(actor, request_id)
        refusal = _refuse_code(request, code, now)
    if refusal is not None:
        raise refusal
    return request


def confirm_migration(actor: Any, request_id: Any, code: Any, *, now: datetime | None = None) -> MigrationRequest:
    """The final *OK*: the code is used up and the devices move, all of them or none."""
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked_request(actor, request_id)
        refusal = _refuse_code(request, code, now)
        if refusal is None:
            try:
                with transaction.atomic():  # a savepoint: a refused move leaves every device where it was
                    outcome = move_devices(actor, request, now=now)
            except DomainError as error:
                refusal = error
                request.status = MigrationStatus.FAILED
                request.result = {**request.result, "error": error.message, "error_code": error.code}
            else:
                request.status = MigrationStatus.DONE
                request.result = {**request.result, **outcome}
            request.completed_at = now
            request.save(update_fields=["status", "result", "completed_at"])
    if refusal is not None:
        raise refusal
    return request


# --- the move -----------------------------------------------------------------------------------

def move_devices(actor: Any, request: MigrationRequest, *, now: datetime) -> dict[str, Any]:
    """Move the request's devices in the caller's transaction; raises Conflict if any has changed.

    The number of queries does not depend on how many devices move.
    """
    source_pk, target_pk = request.source_ou_id, request.target_ou_id
    if is_system(actor, system_allowed=False) or not can(actor, CHANGE, source_pk):
        raise AccessDenied(_("You no longer have write access to the devices' OU; nothing was moved."))
    chosen = list(request.device_ids)
    # FOR UPDATE waits for a concurrent mover; once it commits, the rows read here are its result
    locked = list(Device.objects.select_for_update(of=("self",)).filter(pk__in=chosen).order_by("pk")
                  .values_list("pk", "asset_id", "ou_id", "product_id"))
    gone = set(chosen) - {pk for pk, *_ in locked}
    elsewhere = [asset_id for _, asset_id, ou_pk, _ in locked if ou_pk != source_pk]
    if gone or elsewhere:
        names = dict(zip(request.device_ids, request.result.get("asset_ids", []), strict=False))
        changed = sorted([names.get(pk, str(pk)) for pk in gone] + elsewhere)
        raise Conflict(ngettext("%(count)d of the devices was deleted or moved to another OU since the code was "
                                "requested (%(devices)s). Nothing was moved; start a new migration.",
                                "%(count)d of the devices were deleted or moved to another OU since the code was "
                                "requested (%(devices)s). Nothing was moved; start a new migration.", len(changed))
                       % {"count": len(changed), "devices": ", ".join(changed[:10])},
                       code="devices_changed", details={"deviceAssetIds": changed})
    # any chosen device with sub-devices is a gateway: its sub-devices follow it, or are detached and stay
    followers = list(Device.objects.select_for_update(of=("self",))
                     .filter(gateway_id__in=chosen, ou_id=source_pk).exclude(pk__in=chosen).order_by("pk")
                     .values_list("pk", "product_id"))
    chosen_set = Device.objects.filter(pk__in=chosen, ou_id=source_pk)
    # a chosen sub-device whose gateway stays behind leaves that gateway
    detached_chosen = chosen_set.filter(gateway__isnull=False).exclude(gateway_id__in=chosen).update(gateway=None)
    if request.include_sub_devices:
        moving = Device.objects.filter(Q(pk__in=chosen) | Q(gateway_id__in=chosen), ou_id=source_pk)
        left_behind = 0
        moved_ids = chosen + [pk for pk, _ in followers]
        product_ids = {p for *_, p in locked} | {p for _, p in followers}
    else:
        left_behind = (Device.objects.filter(gateway_id__in=chosen, ou_id=source_pk).exclude(pk__in=chosen)
                       .update(gateway=None))
        moving = chosen_set
        moved_ids = chosen
        product_ids = {p for *_, p in locked}
    moved = moving.update(ou_id=target_pk, updated_at=now)
    drop_moved_members(actor, moved_ids, request.source_ou, request.pk)  # a static group holds its OU's devices
    if moved != len(moved_ids):
        # a device attached to a moving gateway after the lock (adding does not lock the gateway) moved too
        logger.warning("Migration %s moved %s devices, %s expected", request.pk, moved, len(moved_ids))
    shared_products, shared_models = _share_missing(product_ids, target_pk)
    outcome = {
        "moved": moved,
        "moved_devices": len(chosen),
        "moved_sub_devices": len(followers) if request.include_sub_devices else 0,
        "detached_sub_devices": left_behind,
        "detached_from_gateway": detached_chosen,
        "shared_products": shared_products,
        "shared_models": shared_models,
    }
    target, source = request.target_ou, request.source_ou
    summary = {"request": request.pk, "devices": request.result.get("asset_ids", []), **outcome}
    audit.record(actor, "device.migrate_out", ou=source, object_type="migration", object_id=str(request.pk),
                 object_repr=f"{_devices_en(moved)} moved to {target.name} ({target.ou_id})",
                 after={"target": target.ou_id, **summary})
    audit.record(actor, "device.migrate_in", ou=target, object_type="migration", object_id=str(request.pk),
                 object_repr=f"{_devices_en(moved)} moved in from {source.name} ({source.ou_id})",
                 after={"source": source.ou_id, **summary})
    transaction.on_commit(lambda: devices_migrated.send(
        sender=Device, device_ids=moved_ids, source_ou_id=source_pk, target_ou_id=target_pk))
    return outcome



def _devices_en(count: int) -> str:
    # the audit log is a record kept in English, whoever's language the request was in
    return f"{count} device" if count == 1 else f"{count} devices"


def _share_missing(product_ids: set[int], target_pk: int) -> tuple[list[str], list[str]]:
    """Share read-only to the target each product (and model) it lacks, once however many devices use it."""
    products = list(Product.objects.filter(pk__in=product_ids)
                    .values_list("pk", "product_key", "ou_id", "model_id", "model__model_id", "model__ou_id"))
    foreign_products = {pk: key for pk, key, ou_pk, *_ in products if ou_pk != target_pk}
    foreign_models = {m_pk: m_id for *_, m_pk, m_id, m_ou in products if m_ou != target_pk}
    new_products = _share_to(target_pk, ProductShare, "product_id", foreign_products)
    new_models = _share_to(target_pk, ModelShare, "model_id", foreign_models)
    return sorted(foreign_products[pk] for pk in new_products), sorted(foreign_models[pk] for pk in new_models)


def _share_to(target_pk: int, share: type[ProductShare] | type[ModelShare], shared_id: str,
              ids: Collection[int]) -> list[int]:
    """Of `ids` (products or models), those the target had no share of, now shared to it."""
    if not ids:
        return []
    have = set(share.objects.filter(ou_id=target_pk, **{f"{shared_id}__in": ids}).values_list(shared_id, flat=True))
    new = sorted(set(ids) - have)
    share.objects.bulk_create([share(ou_id=target_pk, **{shared_id: pk}) for pk in new], ignore_conflicts=True)
    return new
