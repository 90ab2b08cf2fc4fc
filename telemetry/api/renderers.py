"""CSV and XLSX for every API endpoint: the one place where exports are made.

Both renderers are in REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"], so every endpoint answers
`?format=csv|xlsx` and `Accept: text/csv` / the XLSX media type without any per-view code. List endpoints
export every row (ExportPagination switches pagination off for these formats, up to EXPORT_MAX_ROWS).

What a view returns decides the tables (see `tables_from`):
- a list of flat dicts (a serializer's `many=True` data, paginated or not) -> one table named after the view;
- `{"tables": {"Sheet name": [row, ...], ...}, ...}` -> one sheet per table (a chart endpoint returns its
  traces this way beside whatever JSON it also shows); CSV takes the first table; `?table=<name>` picks one
  table for CSV and XLSX alike;
- any other dict -> one row.

Cells are typed: numbers stay numbers (DecimalField strings become numbers), date-times become real XLSX
date-times in UTC (naive, with "(UTC)" in the header), dates become dates. Headers are the serializer's
field labels with the unit taken from the field name's suffix where the label lacks one
(`gpu_tdp_kw` -> "GPU TDP (kW)"), so a spreadsheet shows units without a legend.
"""

import csv
import io
import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal

from django.utils.dateparse import parse_date, parse_datetime
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BaseRenderer

EXPORT_FORMATS = ("csv", "xlsx")
EXPORT_MAX_ROWS = 200_000
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Field-name suffix -> unit shown in the header. Longest suffixes first so "_usd_per_kwh" wins over "_kwh".
UNIT_SUFFIXES = [
    ("_usd_per_gpu_hour", "USD/GPU-hour"),
    ("_usd_per_kwh", "USD/kWh"),
    ("_tflops", "TFLOP/s"),
    ("_tb_s", "TB/s"),
    ("_usd", "USD"),
    ("_kwh", "kWh"),
    ("_kw", "kW"),
    ("_mw", "MW"),
    ("_w", "W"),
    ("_gb", "GB"),
    ("_bytes", "bytes"),
    ("_gib", "GiB"),
    ("_pct", "%"),
    ("_c", "°C"),
    ("_mhz", "MHz"),
    ("_rpm", "RPM"),
    ("_s", "s"),
    ("_j", "J"),
]
ACRONYMS = {"gpu": "GPU", "gpus": "GPUs", "it": "IT", "tdp": "TDP", "id": "ID", "uuid": "UUID", "pue": "PUE"}
_UNIT_IN_LABEL = re.compile(r"\([^)]*\)\s*$")


def header_for(key, label=None, *, is_datetime=False):
    """The column header for a field: its label, plus its unit (from the key's suffix) and "(UTC)" for times."""
    unit = next((u for suffix, u in UNIT_SUFFIXES if key.endswith(suffix)), None)
    if label is None or label.lower().replace(" ", "_") == key:
        stem = key[: -len(next(s for s, u in UNIT_SUFFIXES if u == unit))] if unit else key
        words = [ACRONYMS.get(w, w) for w in stem.replace(".", " ").split("_") if w]
        label = " ".join(words)
        label = label[:1].upper() + label[1:]
    if _UNIT_IN_LABEL.search(label):
        return label
    if is_datetime:
        return f"{label} (UTC)"
    return f"{label} ({unit})" if unit else label


def tables_from(data, default_name="data"):
    """Normalise a response body into {sheet name: [flat row dict, ...]}."""
    if isinstance(data, dict) and isinstance(data.get("tables"), dict):
        return {name: [_flatten(row) for row in rows] for name, rows in data["tables"].items()}
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        data = data["results"]
    if isinstance(data, list):
        return {default_name: [_flatten(row) if isinstance(row, dict) else {"value": row} for row in data]}
    if isinstance(data, dict):
        return {default_name: [_flatten(data)]}
    return {default_name: [{"value": data}]}


def _flatten(row, prefix=""):
    flat = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = ", ".join(str(v) for v in value)
        else:
            flat[name] = value
    return flat


def _field_kinds(renderer_context):
    """{field name: (label, kind)} from the view's serializer, where it has one; kind in datetime/date/decimal."""
    view = (renderer_context or {}).get("view")
    get_serializer = getattr(view, "get_serializer", None)
    if get_serializer is None or getattr(view, "serializer_class", None) is None:
        return {}
    try:
        fields = get_serializer().fields
    except Exception:  # a view whose serializer needs more context than a bare call: fall back to values
        return {}
    kinds = {}
    for name, field in fields.items():
        kind = None
        if isinstance(field, serializers.DateTimeField):
            kind = "datetime"
        elif isinstance(field, serializers.DateField):
            kind = "date"
        elif isinstance(field, serializers.DecimalField):
            kind = "decimal"
        kinds[name] = (str(field.label) if field.label else None, kind)
    return kinds


def typed(value, kind=None):
    """A cell value with its real type: numbers, naive-UTC datetimes, dates; other values as text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        if kind == "decimal":
            try:
                return float(value)
            except ValueError:
                return value
        if kind == "datetime":
            parsed = parse_datetime(value)
            return typed(parsed) if parsed else value
        if kind == "date":
            return parse_date(value) or value
    return str(value)


# A cell a spreadsheet would run as a formula (CSV/formula injection, OWASP): shown as text with a leading '.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value, kind=None):
    """typed(value), made safe for a spreadsheet: text without control characters (XLSX cannot hold them) and
    never read as a formula; NaN and infinities as text (XLSX has no such numbers)."""
    value = typed(value, kind)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith(FORMULA_PREFIXES):
            value = "'" + value
    return value


def _columns(rows, kinds):
    keys = list(dict.fromkeys(key for row in rows for key in row))
    columns = []
    for key in keys:
        label, kind = kinds.get(key, (None, None))
        if kind is None:
            sample = next((row[key] for row in rows if row.get(key) is not None), None)
            kind = "datetime" if isinstance(sample, datetime) else None
        columns.append((key, header_for(key, label, is_datetime=kind == "datetime"), kind))
    return columns


def _view_name(renderer_context):
    view = (renderer_context or {}).get("view")
    if view is not None and hasattr(view, "get_view_name"):
        return view.get_view_name()
    return "data"


def _wanted_tables(tables, renderer_context):
    """Only the table `?table=<name>` names, else all; an unknown name answers 400 listing the names."""
    request = (renderer_context or {}).get("request")
    wanted = request.query_params.get("table") if request is not None else None
    if wanted is None:
        return tables
    if wanted in tables:
        return {wanted: tables[wanted]}
    # Renderers run after the view: answer the 400 here, as a table a spreadsheet can show.
    response = (renderer_context or {}).get("response")
    if response is not None:
        response.status_code = 400
    return {"error": [{"detail": f"table={wanted!r} is not one of: {', '.join(tables)}"}]}


class CSVRenderer(BaseRenderer):
    """UTF-8 CSV with a header row; one table (`?table=<name>`, else the first)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        tables = _wanted_tables(tables_from(data, _view_name(renderer_context)), renderer_context)
        rows = next(iter(tables.values()), [])
        columns = _columns(rows, _field_kinds(renderer_context))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([safe_cell(header) for _, header, _ in columns])
        for row in rows:
            values = (safe_cell(row.get(key), kind) for key, _, kind in columns)
            writer.writerow(
                ["" if v is None else v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in values]
            )
        _attachment(renderer_context, "csv")
        return out.getvalue().encode("utf-8")


class XLSXRenderer(BaseRenderer):
    """An XLSX workbook, a sheet per table (or only `?table=<name>`), typed cells, frozen bold header row, sized
    columns."""

    media_type = XLSX_MEDIA_TYPE
    format = "xlsx"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        tables = _wanted_tables(tables_from(data, _view_name(renderer_context)), renderer_context)
        kinds = _field_kinds(renderer_context)
        workbook = Workbook()
        workbook.remove(workbook.active)
        for name, rows in tables.items():
            write_sheet(workbook, name, rows, kinds)
        if not workbook.worksheets:
            workbook.create_sheet("data")
        out = io.BytesIO()
        workbook.save(out)
        _attachment(renderer_context, "xlsx")
        return out.getvalue()


def write_sheet(workbook, name, rows, kinds=None):
    """Append one table as a sheet; used by the renderer and by report attachments."""
    sheet = workbook.create_sheet(_sheet_title(name, workbook))
    columns = _columns(rows, kinds or {})
    sheet.append([safe_cell(header) for _, header, _ in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(header) for _, header, _ in columns]
    for row in rows:
        values = [safe_cell(row.get(key), kind) for key, _, kind in columns]
        sheet.append(values)
        for i, (cell, value) in enumerate(zip(sheet[sheet.max_row], values, strict=True)):
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
                widths[i] = max(widths[i], 19)
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
                widths[i] = max(widths[i], 10)
            else:
                widths[i] = max(widths[i], len(str(value if value is not None else "")))
    for i, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(i + 1)].width = min(max(width + 2, 8), 60)
    sheet.freeze_panes = "A2"
    return sheet


def _sheet_title(name, workbook):
    # Excel: at most 31 characters, none of []:*?/\ , unique within the workbook.
    title = re.sub(r"[\[\]:*?/\\]", " ", str(name)).strip()[:31] or "data"
    base, n = title, 2
    while title in workbook.sheetnames:
        suffix = f" {n}"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    return title


def _attachment(renderer_context, extension):
    response = (renderer_context or {}).get("response")
    if response is not None and not response.has_header("Content-Disposition"):
        stem = re.sub(r"[^A-Za-z0-9]+", "-", _view_name(renderer_context)).strip("-").lower() or "export"
        response["Content-Disposition"] = f'attachment; filename="headroom-{stem}.{extension}"'


class ExportPagination(LimitOffsetPagination):
    """Limit/offset pages for JSON (at most MAX_PAGE rows a page, offsets bounded so that the database is
    never asked for a row number beyond its integers); the whole list (up to EXPORT_MAX_ROWS) for CSV and
    XLSX exports."""

    max_limit = 1000
    max_offset = 2**31

    def get_offset(self, request):
        return min(super().get_offset(request), self.max_offset)

    def paginate_queryset(self, queryset, request, view=None):
        renderer = getattr(request, "accepted_renderer", None)
        if getattr(renderer, "format", None) not in EXPORT_FORMATS:
            return super().paginate_queryset(queryset, request, view)
        rows = list(queryset[: EXPORT_MAX_ROWS + 1])
        if len(rows) > EXPORT_MAX_ROWS:
            raise ParseError(f"The export has more than {EXPORT_MAX_ROWS} rows; narrow it with filters.")
        self.request = None  # marks "not paginated" for get_paginated_response
        return rows

    def get_paginated_response(self, data):
        if self.request is None:
            from rest_framework.response import Response

            return Response(data)
        return super().get_paginated_response(data)
