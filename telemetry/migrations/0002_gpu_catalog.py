from django.db import migrations

from telemetry.catalog import load_catalog


def seed_catalog(apps, schema_editor):
    load_catalog(apps.get_model("telemetry", "GpuModel"))


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0001_inventory")]
    operations = [migrations.RunPython(seed_catalog, migrations.RunPython.noop)]
