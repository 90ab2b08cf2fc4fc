"""Start Headroom in one terminal: web (gunicorn), Celery worker and Celery beat.

Prepares the database first (migrate, demo data when empty, static files). Ctrl-C stops all three.
"""

import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from telemetry import demo
from telemetry.models import Organization
from telemetry.models.samples import nvml_queue


class Command(BaseCommand):
    help = "Migrate, seed the demo if the database is empty, and run web + worker + beat."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port for the web server")
        parser.add_argument("--no-demo", action="store_true", help="do not seed the demo organization")

    def handle(self, *args, bind, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not no_demo and not Organization.objects.exists():
            self.stdout.write("Empty database: seeding the demo organization…")
            call_command("seed_demo")
        call_command("collectstatic", interactive=False, verbosity=0)
        python = sys.executable
        commands = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                bind,
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
            ],
            # The default queue, and this host's NVML collections (register_gpu_host names them after it).
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "--queues",
                f"celery,{nvml_queue(socket.gethostname())}",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        procs = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()}
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(
            self.style.SUCCESS(
                f"\nHeadroom is running at http://{bind}/  (database: {db}, broker: {settings.CELERY_BROKER_URL})\n"
                f"Demo login: admin / {demo.DEMO_PASSWORD}  (also planner, viewer). Ctrl-C stops.\n"
            )
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while all(p.poll() is None for p in procs.values()):
                time.sleep(1)
            dead = [name for name, p in procs.items() if p.poll() is not None]
            self.stderr.write(f"{', '.join(dead)} exited; stopping the others.")
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.terminate()
            for p in procs.values():
                p.wait(timeout=30)
