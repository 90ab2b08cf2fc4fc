"""Seed the cloud offer catalog from reference/data/cloud-gpu-prices.csv (published prices with source and date).

Rows whose GPU is not in the GpuModel catalog are skipped; the catalog names the GPUs offers can refer to."""

from django.db import migrations

from reference.catalog import load_cloud_prices

TERMS = {"on-demand", "spot", "capacity-block", "1-year", "3-year"}


def seed_offers(apps, schema_editor):
    GpuModel = apps.get_model("telemetry", "GpuModel")
    CloudOffer = apps.get_model("planner", "CloudOffer")
    models = {m.name: m for m in GpuModel.objects.all()}
    for p in load_cloud_prices():
        if p.gpu not in models or p.term not in TERMS:
            continue
        CloudOffer.objects.update_or_create(
            provider=p.provider,
            instance=p.offer,
            term=p.term,
            as_of=p.as_of,
            defaults={
                "gpu_model": models[p.gpu],
                "gpus_per_instance": p.gpus_per_instance,
                "usd_per_gpu_hour": p.usd_per_gpu_hour_low,
                "usd_per_gpu_hour_high": p.usd_per_gpu_hour_high
                if p.usd_per_gpu_hour_high != p.usd_per_gpu_hour_low
                else None,
                "source": p.source,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("planner", "0002_scenarios"), ("telemetry", "0002_gpu_catalog")]
    operations = [migrations.RunPython(seed_offers, migrations.RunPython.noop)]
