"""Add every device of the reference catalog (reference/data/gpu-models.csv: B200, MI300X, Gaudi, Apple
silicon, Xeon and EPYC sockets...) that the shared GPU model catalog lacks, so a scenario can plan on any
device the estimator knows. Rows already there, and users' edits to them, are left alone."""

import csv

from django.db import migrations

from reference.catalog import DATA_DIR


def add_reference_devices(apps, schema_editor):
    GpuModel = apps.get_model("telemetry", "GpuModel")
    shared = set(GpuModel.objects.filter(organization=None).values_list("name", flat=True))
    with open(DATA_DIR / "gpu-models.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["model"] not in shared]
    GpuModel.objects.bulk_create(
        GpuModel(
            name=r["model"],
            memory_gb=float(r["memory_gb"]),
            memory_bandwidth_tbps=float(r["bandwidth_tb_s"]),
            bf16_tflops=float(r["bf16_dense_tflops"]),
            fp8_tflops=float(r["fp8_dense_tflops"]) if r["fp8_dense_tflops"] else None,
            tdp_w=float(r["tdp_w"]),
            form_factor=r["form_factor"],
            source=f"{r['source']} (reference catalog, as of {r['as_of']})",
        )
        for r in rows
    )


class Migration(migrations.Migration):
    dependencies = [
        ("planner", "0008_precisions_w8a16_fp4"),
        ("telemetry", "0011_inventory_physical_bounds"),
    ]

    operations = [migrations.RunPython(add_reference_devices, migrations.RunPython.noop)]
