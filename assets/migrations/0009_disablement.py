"""`enabled` moves out of the device row into the narrow Disablement table (one row per disabled device, with its
OU), so that disabling devices rewrites no device row and none of the device table's indexes; the status index
loses it."""

import django.db.models.deletion
from django.db import migrations, models


def disabled_to_rows(apps, schema_editor):
    schema_editor.execute("INSERT INTO assets_disablement (device_id, ou_id) SELECT id, ou_id FROM assets_device "
                          "WHERE enabled = %s", [False])


def rows_to_disabled(apps, schema_editor):
    schema_editor.execute("UPDATE assets_device SET enabled = %s WHERE id IN (SELECT device_id FROM assets_disablement)",
                          [False])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_audit_write_cost"),
        ("assets", "0008_export_job"),
    ]

    operations = [
        migrations.CreateModel(
            name="Disablement",
            fields=[
                ("device", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                                related_name="disablement", serialize=False, to="assets.device",
                                                verbose_name="device")),
                ("ou", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                         related_name="+", to="accounts.organizationunit", verbose_name="OU")),
            ],
            options={
                "verbose_name": "disablement",
                "verbose_name_plural": "disablements",
                "indexes": [models.Index(fields=["ou", "device"], name="disablement_ou")],
            },
        ),
        migrations.RunPython(disabled_to_rows, rows_to_disabled),
        migrations.AlterModelOptions(
            name="device",
            options={"base_manager_name": "objects", "ordering": ["-created_at", "-id"], "verbose_name": "device",
                     "verbose_name_plural": "devices"},
        ),
        migrations.RemoveIndex(
            model_name="device",
            name="device_ou_status",
        ),
        migrations.RemoveField(
            model_name="device",
            name="enabled",
        ),
        migrations.AddIndex(
            model_name="device",
            index=models.Index(fields=["ou", "online", "-created_at", "-id"], include=("activated_at",),
                               name="device_ou_status"),
        ),
    ]
