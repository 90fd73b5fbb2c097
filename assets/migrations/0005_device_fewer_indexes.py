"""Three device indexes that no query needs, dropped: each device insert or update wrote them all.

- assets_device_ou_id_…: ou_id alone; every index of Device.Meta.indexes starts with ou_id.
- assets_device_product_id_…: product_id alone; device_key_unique_in_product starts with it.
- assets_device_asset_id_…_like: the varchar_pattern_ops twin PostgreSQL gets for unique=True, for
  LIKE 'prefix%'; asset IDs are only compared whole (=, IN). Uniqueness moves to a named constraint,
  created before the old one goes, so asset_id is never without it.

Measured on 1,000,000 devices (bench/batch.py): a 100,000-row batch update wrote 16 indexes per row.
"""

import django.db.models.deletion
from django.db import migrations, models

import assets.models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('assets', '0004_device_table_indexes'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='device',
            constraint=models.UniqueConstraint(fields=('asset_id',), name='device_asset_id_unique'),
        ),
        migrations.AlterField(
            model_name='device',
            name='asset_id',
            field=models.CharField(default=assets.models.generate_asset_id, editable=False, max_length=32, verbose_name='asset ID'),
        ),
        migrations.AlterField(
            model_name='device',
            name='ou',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='devices', to='accounts.organizationunit'),
        ),
        migrations.AlterField(
            model_name='device',
            name='product',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='devices', to='assets.product'),
        ),
    ]
