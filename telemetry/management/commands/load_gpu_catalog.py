from django.core.management.base import BaseCommand

from telemetry.catalog import load_catalog
from telemetry.models import GpuModel


class Command(BaseCommand):
    help = "Insert or update the GPU model catalog from telemetry/data/gpu_models.csv."

    def handle(self, *args, **options):
        self.stdout.write(f"{load_catalog(GpuModel)} GPU models loaded.")
