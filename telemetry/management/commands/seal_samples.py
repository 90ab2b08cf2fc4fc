"""Seal stored raw GPU samples into compressed GPU-hour blocks now (what the hourly telemetry.seal_samples task
does): converts an existing database's rows at once after the upgrade to migration telemetry 0014."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from telemetry import sealing


class Command(BaseCommand):
    help = "Seal raw GPU samples of hours that ended --after-hours ago (default TELEMETRY_SEAL_AFTER_HOURS)."

    def add_arguments(self, parser):
        parser.add_argument("--after-hours", type=int, help="seal hours that ended at least this long ago")

    def handle(self, *args, after_hours, **options):
        if after_hours is not None and after_hours < 0:
            raise CommandError("--after-hours must be 0 or more")
        if not sealing.is_sealing():
            raise CommandError("sealing needs PostgreSQL (SQLite keeps raw samples as rows)")
        done = sealing.seal(now=timezone.now(), after_hours=after_hours)
        truncated = len(done["truncated"])
        self.stdout.write(
            f"{done['rows']:,} rows sealed into {done['blocks']:,} blocks; {truncated} partitions truncated"
        )
