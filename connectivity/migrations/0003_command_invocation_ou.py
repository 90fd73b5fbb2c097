"""Command invocations record the OU that issued them: they stay with it when the device migrates.

Existing invocations are taken as issued by their device's present OU (one set-based UPDATE),
then the column becomes required.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def issued_by_the_devices_ou(apps, schema_editor) -> None:
    CommandInvocation = apps.get_model("connectivity", "CommandInvocation")
    Device = apps.get_model("assets", "Device")
    CommandInvocation.objects.filter(ou__isnull=True).update(
        ou_id=Subquery(Device.objects.filter(pk=OuterRef("device_id")).values("ou_id")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('assets', '0005_device_fewer_indexes'),
        ('connectivity', '0002_session_heartbeat'),
    ]

    operations = [
        migrations.AddField(
            model_name='commandinvocation',
            name='ou',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
                                    related_name='command_invocations', to='accounts.organizationunit'),
        ),
        migrations.RunPython(issued_by_the_devices_ou, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name='commandinvocation',
            name='ou',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                    related_name='command_invocations', to='accounts.organizationunit'),
        ),
    ]
