"""A fresh PostgreSQL database for a benchmark (`fresh_postgres`): dropped and created on DATABASE_URL's server
(default 127.0.0.1:5432), DATABASE_URL pointed at it, Django set up on it and migrated (`setup_django`)."""

import os
from urllib.parse import urlsplit

import psycopg

BASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def fresh_postgres(name, **env):
    parts = urlsplit(BASE_URL)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = parts._replace(path=f"/{name}").geturl()
    setup_django(**env)


def setup_django(**env):
    """Django on DATABASE_URL, migrated. `env`: environment settings where not already set (SECRET_KEY and
    DEBUG default to a benchmark's: a throwaway key, debug on)."""
    defaults = {"SECRET_KEY": "bench-only", "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings"}
    for key, value in {**defaults, **env}.items():
        os.environ.setdefault(key, value)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
