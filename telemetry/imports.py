"""CSV import pages (upload -> preview and mapping -> import with progress) and adding push sources.

Admins only (the `telemetry.add_source` permission); everything is scoped to the user's organization.
"""

import zoneinfo

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import csv_uploads
from .collectors.csv_import import UNIT_SCALES, Mapping, MetricColumn, preview
from .models import Source
from .tasks import import_csv
from .tenancy import require_organization
from .vocabulary import GPU_METRICS, POINT_METRICS

PREVIEW_ROWS = 20
METRIC_CHOICES = [("", "— skip this column —")] + [
    (name, f"{name} ({m.unit}) – {m.help}") for name, m in {**POINT_METRICS, **GPU_METRICS}.items()
]
UNIT_CHOICES = [(u, u) for u in UNIT_SCALES]


def _admin_organization(request):
    organization = require_organization(request.user)
    if not request.user.has_perm("telemetry.add_source"):
        raise PermissionDenied("Only admins can import data or add sources.")
    return organization


def _upload(request, upload_id):
    organization = _admin_organization(request)
    try:
        return organization, csv_uploads.load(upload_id, organization)
    except LookupError:
        raise Http404("No such upload.") from None


def max_bytes():
    return settings.TELEMETRY_CSV_MAX_BYTES


class UploadForm(forms.Form):
    file = forms.FileField(label="CSV file")


class MappingForm(forms.Form):
    timestamp_column = forms.ChoiceField()
    timestamp_format = forms.CharField(
        required=False,
        help_text='Empty for ISO 8601; "epoch_s", "epoch_ms", or a strftime format such as %d.%m.%Y %H:%M.',
    )
    timezone = forms.CharField(initial="UTC", help_text="For timestamps without an offset, e.g. Europe/Berlin.")
    entity_column = forms.ChoiceField(required=False, label="Entity column", help_text="The entity's name per row …")
    entity = forms.CharField(required=False, label="… or one fixed entity", help_text="e.g. cdu-1 for the whole file.")
    gpu_column = forms.ChoiceField(required=False, label="GPU UUID column", help_text="Only for GPU metrics.")

    def __init__(self, *args, columns, **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns
        choices = [(c, c) for c in columns]
        self.fields["timestamp_column"].choices = choices
        self.fields["entity_column"].choices = [("", "—")] + choices
        self.fields["gpu_column"].choices = [("", "—")] + choices
        for i, column in enumerate(columns):
            self.fields[f"metric_{i}"] = forms.ChoiceField(required=False, choices=METRIC_CHOICES, label=column)
            self.fields[f"unit_{i}"] = forms.ChoiceField(
                required=False, choices=UNIT_CHOICES, widget=forms.Select(attrs={"aria-label": f"{column} unit"})
            )

    def metric_rows(self):
        return [(column, self[f"metric_{i}"], self[f"unit_{i}"]) for i, column in enumerate(self.columns)]

    def clean_timezone(self):
        name = self.cleaned_data["timezone"].strip() or "UTC"
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"{name!r} is not a known time zone (use names like Europe/Berlin).") from None
        return name

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        metrics = {
            column: MetricColumn(data[f"metric_{i}"], data[f"unit_{i}"] or _vocabulary_unit(data[f"metric_{i}"]))
            for i, column in enumerate(self.columns)
            if data.get(f"metric_{i}")
        }
        if not metrics:
            raise forms.ValidationError("Choose a metric for at least one column.")
        self.mapping = Mapping(
            timestamp_column=data["timestamp_column"],
            metrics=metrics,
            timestamp_format=data["timestamp_format"].strip(),
            timezone=data["timezone"],
            entity_column=data["entity_column"],
            entity=data["entity"].strip(),
            gpu_column=data["gpu_column"],
            delimiter=self.delimiter,
        )
        problems = self.mapping.problems(self.columns)
        if problems:
            raise forms.ValidationError(problems)
        return data


def _vocabulary_unit(metric):
    return (POINT_METRICS.get(metric) or GPU_METRICS[metric]).unit


def _initial(mapping, columns):
    initial = {
        "timestamp_column": mapping.timestamp_column,
        "timestamp_format": mapping.timestamp_format,
        "timezone": mapping.timezone,
        "entity_column": mapping.entity_column,
        "entity": mapping.entity,
        "gpu_column": mapping.gpu_column,
    }
    for i, column in enumerate(columns):
        spec = mapping.metrics.get(column)
        if spec:
            initial[f"metric_{i}"], initial[f"unit_{i}"] = spec.metric, spec.unit
    return initial


@require_http_methods(["GET", "POST"])
def upload(request):
    organization = _admin_organization(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 400 if form.errors else 200
    if request.method == "POST" and form.is_valid():
        try:
            state = csv_uploads.save_upload(organization, request.user, form.cleaned_data["file"], max_bytes())
        except csv_uploads.TooLarge as exc:
            form.add_error("file", str(exc))
            status = 413
        else:
            return redirect("csv-import-detail", upload_id=state["id"])
    return render(request, "telemetry/csv_upload.html", {"form": form, "max_mb": max_bytes() / 1e6}, status=status)


@require_http_methods(["GET", "POST"])
def detail(request, upload_id):
    """Preview and mapping until the import starts; progress and the result after."""
    _organization, state = _upload(request, upload_id)
    if state["status"] != "uploaded":
        return render(request, "telemetry/csv_import.html", {"state": state})
    path = csv_uploads.csv_path(upload_id)
    try:
        seen = preview(str(path), PREVIEW_ROWS)
    except ValueError as exc:
        return render(request, "telemetry/csv_preview.html", {"state": state, "unreadable": str(exc)}, status=400)
    form = MappingForm(request.POST or None, columns=seen.columns, initial=_initial(seen.mapping, seen.columns))
    form.delimiter = seen.delimiter
    if request.method == "POST" and form.is_valid():
        state.update(mapping=csv_uploads.mapping_to_dict(form.mapping), status="queued")
        csv_uploads.save_state(state)
        import_csv.apply_async((upload_id, state["organization_id"]), expires=3600)
        return redirect("csv-import-detail", upload_id=upload_id)
    rows = [[row.get(c, "") for c in seen.columns] for row in seen.rows]
    context = {"state": state, "form": form, "columns": seen.columns, "rows": rows}
    return render(request, "telemetry/csv_preview.html", context, status=400 if form.errors else 200)


@require_GET
def progress(request, upload_id):
    _organization, state = _upload(request, upload_id)
    keys = ("status", "rows_done", "bytes_done", "bytes_total", "accepted", "duplicate", "rejected", "error")
    return JsonResponse({key: state.get(key) for key in keys})


class PushSourceForm(forms.ModelForm):
    class Meta:
        model = Source
        fields = ["name", "unknown_device"]

    def clean_name(self):
        # The unique (organization, name) constraint is not checked by the form: organization is not a field.
        name = self.cleaned_data["name"].strip()
        if Source.objects.filter(organization=self.instance.organization, name=name).exists():
            raise forms.ValidationError("A source with this name already exists in the organization.")
        return name


@require_http_methods(["GET", "POST"])
def add_push_source(request):
    organization = _admin_organization(request)
    form = PushSourceForm(request.POST or None, instance=Source(organization=organization, kind=Source.Kind.PUSH))
    if request.method == "POST" and form.is_valid():
        source = form.save()
        return render(request, "telemetry/source_token.html", {"source": source, "token": source.issue_ingest_token()})
    push_sources = Source.objects.for_org(organization).filter(kind=Source.Kind.PUSH).order_by("name")
    context = {"form": form, "push_sources": push_sources}
    return render(request, "telemetry/source_add.html", context, status=400 if form.errors else 200)


@require_POST
def issue_token(request, pk):
    """A new token for a push source; the old one stops working and the new one is shown only now."""
    organization = _admin_organization(request)
    source = get_object_or_404(Source.objects.for_org(organization), pk=pk, kind=Source.Kind.PUSH)
    return render(request, "telemetry/source_token.html", {"source": source, "token": source.issue_ingest_token()})
