"""The GpuModel catalog, seeded from published specs in telemetry/data/gpu_models.csv (with sources)."""

import csv
from pathlib import Path

CATALOG_CSV = Path(__file__).parent / "data" / "gpu_models.csv"


def catalog_rows(path=CATALOG_CSV):
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            yield {
                "name": row["model"],
                "memory_gb": float(row["memory_gb"]),
                "memory_bandwidth_tbps": float(row["bandwidth_tb_s"]),
                "bf16_tflops": float(row["bf16_dense_tflops"]),
                "fp8_tflops": float(row["fp8_dense_tflops"]) if row["fp8_dense_tflops"] else None,
                "tdp_w": float(row["tdp_w"]),
                "form_factor": row["form_factor"],
                "list_price_usd": float(row["list_price_usd"]) if row.get("list_price_usd") else None,
                "source": "; ".join(filter(None, (row["source"], row.get("price_source")))),
            }


def load_catalog(gpu_model_cls):
    """Insert or update every catalog row; returns the number of rows."""
    # The shared rows only; the historical model of migration 0002 has no organization yet.
    shared = {"organization": None} if any(f.name == "organization" for f in gpu_model_cls._meta.fields) else {}
    count = 0
    for row in catalog_rows():
        gpu_model_cls.objects.update_or_create(name=row.pop("name"), **shared, defaults=row)
        count += 1
    return count


def ensure_catalog(**_kwargs):
    """Seed the catalog when it is empty; edits made by users afterwards are kept."""
    from .models import GpuModel

    if not GpuModel.objects.exists():
        load_catalog(GpuModel)
