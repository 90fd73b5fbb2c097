"""Session heartbeats: sessions of a server process that died end after three missed beats."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('assets', '0004_device_table_indexes'),
        ('connectivity', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='devicesession',
            name='seen_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddIndex(
            model_name='devicesession',
            index=models.Index(fields=['seen_at'], name='session_seen'),
        ),
    ]
