"""Daily range partitions of the raw sample tables on PostgreSQL: create ahead, drop whole when expired.

Dropping a day's partition is instant and leaves no bloat, which is why raw retention works by days.
On other databases (SQLite, the embedded default) these functions do nothing and retention deletes rows.
"""

from datetime import date, timedelta

from django.db import connection as default_connection

PARTITIONED_TABLES = ("telemetry_gpusample", "telemetry_sample")


def is_partitioned(connection=default_connection):
    return connection.vendor == "postgresql"


def partition_name(table, day):
    return f"{table}_p{day:%Y%m%d}"


def _day_of(name):
    stamp = name.rsplit("_p", 1)[-1]
    return date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]))


def ensure_partitions(days, connection=default_connection):
    """Create the partitions of every table for these days if missing; returns the names created.

    One catalog query when all exist (the common case on the ingest path)."""
    if not is_partitioned(connection):
        return []
    wanted = {partition_name(t, d): (t, d) for t in PARTITIONED_TABLES for d in set(days)}
    if not wanted:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s)", [list(wanted)])
        missing = sorted(set(wanted) - {row[0] for row in cursor.fetchall()})
        for name in missing:
            table, day = wanted[name]
            start, end = day.isoformat(), (day + timedelta(days=1)).isoformat()
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                f"FOR VALUES FROM ('{start} 00:00+00') TO ('{end} 00:00+00')"
            )
    return missing


def create_ahead(today, days_ahead, connection=default_connection):
    """Partitions for yesterday (late data around midnight) through today + days_ahead."""
    return ensure_partitions([today + timedelta(days=n) for n in range(-1, days_ahead + 1)], connection)


def list_partitions(table, connection=default_connection):
    """[(name, day)] of the table's partitions, oldest first."""
    if not is_partitioned(connection):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [table],
        )
        return sorted((name, _day_of(name)) for (name,) in cursor.fetchall())


def drop_before(cutoff_day, connection=default_connection):
    """Drop every partition whose whole day lies before cutoff_day; returns the names dropped."""
    dropped = []
    with connection.cursor() as cursor:
        for table in PARTITIONED_TABLES if is_partitioned(connection) else ():
            for name, day in list_partitions(table, connection):
                if day < cutoff_day:
                    cursor.execute(f"DROP TABLE IF EXISTS {name}")
                    dropped.append(name)
    return dropped
