"""On PostgreSQL, turn the raw sample tables into daily range-partitioned tables of the same columns.

Django cannot declare a partitioned table, so 0003 creates them as ordinary tables and this replaces
them (while still empty) by partitioned ones: primary key (entity, ts) as the b-tree, BRIN on ts.
SQLite keeps the ordinary tables. Partitions are created by telemetry.partitions.
"""

from django.db import migrations

TABLES = {"telemetry_gpusample": "gpu_id", "telemetry_sample": "series_id"}


def _aligned_columns(schema_editor, table, entity):
    """Column definitions with the key first, then widest types first: no alignment padding in a row."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attlen "
            "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            [f"{table}_template"],
        )
        columns = cursor.fetchall()
    key = {entity: 0, "ts": 1}
    columns.sort(key=lambda c: (key.get(c[0], 2), -c[3] if c[3] > 0 else 99, c[0]))
    return ", ".join(f"{name} {type_} {'NOT NULL' if notnull else 'NULL'}" for name, type_, notnull, _ in columns)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, entity in TABLES.items():
        schema_editor.execute(f"ALTER TABLE {table} RENAME TO {table}_template")
        schema_editor.execute(f"CREATE TABLE {table} ({_aligned_columns(schema_editor, table, entity)}) PARTITION BY RANGE (ts)")
        schema_editor.execute(f"DROP TABLE {table}_template")
        schema_editor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pk PRIMARY KEY ({entity}, ts)")
        schema_editor.execute(f"CREATE INDEX {table}_ts_brin ON {table} USING brin (ts)")


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, entity in TABLES.items():
        schema_editor.execute(f"ALTER TABLE {table} RENAME TO {table}_partitioned")
        schema_editor.execute(f"CREATE TABLE {table} (LIKE {table}_partitioned INCLUDING DEFAULTS)")
        schema_editor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({entity}, ts)")
        schema_editor.execute(f"DROP TABLE {table}_partitioned CASCADE")


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0003_samples")]
    operations = [migrations.RunPython(partition, unpartition)]
