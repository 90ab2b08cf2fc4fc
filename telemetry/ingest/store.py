"""How rows reach their tables: one binary COPY into the day-partitioned table on PostgreSQL, with
re-sent rows and missing partitions handled (copy_insert); bulk_create on other databases."""

from datetime import UTC, timedelta

import psycopg
from django.db import connection, transaction

from .. import partitions, pgcopy


def utc_days(first, last):
    """UTC days from the earliest to the latest timestamp (a batch spans minutes, rarely days)."""
    first, last = first.astimezone(UTC).date(), last.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def write_rows(model, columns, types, rows):
    """Write rows (tuples in `columns` order, the timestamp second); returns how many were new."""
    if connection.vendor == "postgresql":

        def days():  # only asked when a partition is missing
            stamps = [row[1] for row in rows]
            return utc_days(min(stamps), max(stamps))

        return copy_insert(model._meta.db_table, columns, types, rows, days=days)
    return bulk_insert(model, columns, rows)


def copy_insert(table, columns, types, rows=(), *, pieces=None, days=None):
    """Write rows that may already be stored (a re-sent batch); returns how many were new.

    Rows are tuples in `columns` order; `pieces` instead is a function giving COPY BINARY tuples
    (telemetry.pgcopy.tuples) piece by piece, each sent as it comes; called again when the COPY starts over.
    First one binary COPY straight into the table, in a savepoint: for a batch of new rows, the common case,
    that is all it costs. A row already there (or twice in the batch) aborts it with a unique violation, the
    savepoint undoes it, and the batch goes the careful way: COPY into a session temp table, then
    `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, which costs about three times as much. (An aborted COPY
    leaves the rows it got to as dead tuples for autovacuum; a re-send usually aborts on its first row.)
    A row for a day without a partition aborts it too: then `days()` (the rows' UTC days) are created and
    the COPY runs again, so the ingest path asks the catalog nothing while the partitions exist."""
    column_list = ", ".join(columns)
    try:
        return _copy_in_savepoint(table, column_list, types, rows, pieces)
    except psycopg.errors.UniqueViolation:
        pass
    except psycopg.errors.CheckViolation:  # "no partition of relation ... found for row"
        if days is None or not partitions.ensure_partitions(days()):
            raise
        try:
            return _copy_in_savepoint(table, column_list, types, rows, pieces)
        except psycopg.errors.UniqueViolation:
            pass
    stage = f"hr_stage_{table}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS")
        cursor.execute(f"TRUNCATE {stage}")  # an outer transaction may have staged rows already
        _copy(cursor, stage, column_list, types, rows, pieces)
        cursor.execute(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} ON CONFLICT DO NOTHING")
        return cursor.rowcount


def _copy_in_savepoint(table, column_list, types, rows, pieces):
    with transaction.atomic(), connection.cursor() as cursor:
        _copy(cursor, table, column_list, types, rows, pieces)
        return cursor.cursor.rowcount  # COPY's own count of the rows it wrote


def _copy(cursor, table, column_list, types, rows, pieces):
    with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy:
        if pieces is not None:
            copy.write(pgcopy.SIGNATURE)
            for data in pieces():
                copy.write(data)
            copy.write(pgcopy.TRAILER)
        else:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def bulk_insert(model, columns, rows):
    entity = columns[0]
    keys = {row[0] for row in rows}
    span = {"ts__gte": min(r[1] for r in rows), "ts__lte": max(r[1] for r in rows)}
    existing = model.objects.filter(**{f"{entity}__in": keys}, **span)
    before = existing.count()
    model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows], ignore_conflicts=True)
    return existing.count() - before
