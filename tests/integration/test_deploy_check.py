"""Production settings pass Django's deployment checklist (and drf-spectacular's schema checks)."""

import os
import subprocess
import sys

from django.conf import settings


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "x" * 50 + "-production-like-secret-key-for-the-check",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "headroom.example.com",
        "HEADROOM_DATA_DIR": str(tmp_path),
    }
    for harness_only in ("HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE"):  # set for tests, never in production
        env.pop(harness_only, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "HEADROOM_DATA_DIR": str(tmp_path),
    }
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
