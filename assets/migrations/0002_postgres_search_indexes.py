"""Trigram indexes for contains-search by name/deviceKey, and a GIN index on tags (PostgreSQL only).

Django's icontains on PostgreSQL compares UPPER(col::text), so the indexes are on that
expression. On SQLite (the embedded default) this migration does nothing.
"""

from django.db import migrations

INDEXES = [
    "CREATE INDEX IF NOT EXISTS device_name_trgm ON assets_device USING gin (UPPER(name::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS device_key_trgm ON assets_device USING gin (UPPER(device_key::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS device_tags_gin ON assets_device USING gin (tags jsonb_path_ops)",
]
DROPS = ["DROP INDEX IF EXISTS device_name_trgm", "DROP INDEX IF EXISTS device_key_trgm",
         "DROP INDEX IF EXISTS device_tags_gin"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for sql in INDEXES:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in DROPS:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("assets", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
