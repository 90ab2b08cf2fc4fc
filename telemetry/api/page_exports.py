"""The telemetry pages' lists and charts as flat export rows (see renderers.tables_from).

The pages and these rows read through the same functions of telemetry.pages, so a page's CSV/XLSX link
answers exactly what the page shows. Column names carry their unit as a suffix (`_kw`, `_c`, `_pct`), which
the renderers turn into header units.
"""

import pandas as pd

from ..pages import gpus as gpu_pages

# The GPU page's chart units -> the column suffix that names that unit in an export header.
UNIT_SUFFIX = {"%": "_pct", "W": "_w", "°C": "_c", "MHz": "_mhz", "GiB": "_gib"}


def time_rows(columns):
    """[{"ts", name: value, ...}] from {name: pandas Series indexed by ts}, joined on ts; gaps are None."""
    frame = pd.concat({name: s.groupby(level=0).mean() for name, s in columns.items()}, axis=1).sort_index()
    frame = frame.astype(object).where(frame.notna(), None)
    return [
        {"ts": ts.to_pydatetime(), **values} for ts, values in zip(frame.index, frame.to_dict("records"), strict=True)
    ]


def explorer_row(row):
    gpu = row["gpu"]
    hall = gpu.node.rack.hall
    return {
        "gpu_id": gpu.pk,
        "gpu": f"{gpu.node.hostname}/gpu{gpu.index}",
        "uuid": gpu.uuid,
        "model": gpu.model.name,
        "site": hall.site.name,
        "hall": hall.name,
        "status": gpu.status,
        "util_pct": row["util"],
        "power_w": row["power"],
        "temp_c": row["temp"],
        "last_seen": row["last_seen"],
    }


def gpu_chart_tables(frames, events):
    """One table per GPU chart, named by its title (the page's `table=` links), plus the events."""
    tables = {}
    for title, unit, metrics in gpu_pages.GPU_CHARTS:
        suffix = UNIT_SUFFIX.get(unit, "")
        tables[title] = time_rows({f"{m}{suffix}": frames[m].set_index("ts")["value"] for m in metrics})
    tables["Events"] = [{"ts": e.ts, "kind": e.kind, "code": e.code, "detail": e.detail} for e in events]
    return tables


def heat_rows(grid):
    """The GPUs page's heatmap (pages.heatmaps.HeatGrid) as long rows: one per row label and time bucket."""
    column = f"{grid.metric}{UNIT_SUFFIX.get(grid.unit, '')}"
    return [
        {"row": label, "ts": ts.to_pydatetime(), column: None if pd.isna(value) else float(value)}
        for label, values in grid.values.iterrows()
        for ts, value in values.items()
    ]


def headroom_row(row):
    hall = row["hall"]
    return {
        "hall_id": hall.pk,
        "site": hall.site.name,
        "hall": hall.name,
        "it_load_kw": row["it_kw"],
        "it_capacity_kw": hall.it_power_capacity_kw,
        "it_load_share_pct": None if row["it_share"] is None else row["it_share"] * 100,
        "cooling_load_kw": row["cooling_kw"],
        "cooling_installed_kw": hall.cooling_capacity_kw,
        "cooling_with_redundancy_kw": row["available_cooling_kw"],
        "redundancy": hall.redundancy,
        "hottest_inlet_c": row["inlet_max"],
        "gpu_util_pct": row["gpu_util"],
        "as_of": row["as_of"],
    }


def hall_chart_tables(data):
    """The hall page's charts (pages.halls.HallChartData) as tables; the page's links name them with `table=`."""
    pue = data.pue if data.pue is not None else pd.DataFrame(columns=["facility_kw", "it_kw", "pue"])
    return {
        "Load": time_rows({"it_load_kw": data.it_kw, "cooling_load_kw": data.cooling_kw}),
        "Inlet": time_rows({"hottest_inlet_c": data.inlet_c}),
        "Racks": data.racks,
        "PUE": time_rows({column: pue[column] for column in pue.columns}),
    }


def run_row(source, run):
    return {
        "source": source.name,
        "started": run.started,
        "finished": run.finished,
        "status": run.status,
        "accepted": run.accepted,
        "duplicate": run.duplicate,
        "rejected": run.rejected,
        "duration_s": run.duration.total_seconds() if run.duration else None,
        "error": run.error,
    }
