"""Human labels of the audit log's actions (accounts.audit records them as dotted codes)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "device.create": _("Device created"),
    "device.update": _("Device edited"),
    "device.delete": _("Device deleted"),
    "device.enable": _("Device enabled"),
    "device.disable": _("Device disabled"),
    "device.secret_reveal": _("Device secret revealed"),
    "device.secret_reset": _("Device secret reset"),
    "device.sub_devices_add": _("Sub-devices added"),
    "device.sub_devices_remove": _("Sub-devices removed"),
    "device.service_invoke": _("Service invoked"),
    "device.measurepoints_set": _("Measure points set"),
    "device.measurepoints_get": _("Measure points requested"),
    "device.migrate_out": _("Devices moved out"),
    "device.migrate_in": _("Devices moved in"),
    "device.batch_import": _("Batch import applied"),
    "device.batch_update": _("Batch update applied"),
    "device.seed": _("Demo devices created"),
    "device.export": _("Devices exported"),
    "group.create": _("Group created"),
    "group.update": _("Group edited"),
    "group.delete": _("Group deleted"),
    "group.devices_add": _("Devices added to a group"),
    "group.devices_remove": _("Devices removed from a group"),
    "group.devices_migrated_out": _("Moved devices left a group"),
    "migration.request": _("Move requested"),
    "migration.resend": _("Move code sent again"),
    "batch.upload": _("Batch file uploaded"),
    "model.create": _("Model created"),
    "model.update": _("Model edited"),
    "model.delete": _("Model deleted"),
    "product.create": _("Product created"),
    "product.update": _("Product edited"),
    "product.delete": _("Product deleted"),
    "product.share": _("Product shared"),
    "trace.start": _("Trace started"),
    "trace.extend": _("Trace extended"),
    "trace.stop": _("Trace stopped"),
    "trace.expire": _("Trace expired"),
    "trace.end": _("Trace ended"),
    "ou.create": _("OU created"),
    "ou.update": _("OU changed"),
    "membership.set": _("Member role set"),
    "membership.remove": _("Member removed"),
    "user.update": _("User account changed"),
    "user.password_change": _("User password changed"),
    "user.set_time_zone": _("Time zone changed"),
    "ou_permission.grant": _("OU granted to a group"),
    "ou_permission.revoke": _("OU revoked from a group"),
    "alert_rule.create": _("Alert rule created"),
    "alert_rule.update": _("Alert rule edited"),
    "alert_rule.delete": _("Alert rule deleted"),
    "alert.acknowledge": _("Alert acknowledged"),
    "alert.resolve": _("Alert resolved"),
    "alert.webhook_secret_reset": _("Webhook secret reset"),
}


def action_label(action: str) -> str:
    """The action's label in the user's language; an unknown (newer) code shows as itself."""
    return str(ACTION_LABELS.get(action, action))
