"""Serving-engine /metrics scrape: vLLM, SGLang and TensorRT-LLM behind Triton, one replica per source.

Public API
    collect(source) -> EngineReading         GET source.endpoint, parse it as source.options["engine"]
    parse_metrics(text, engine, ts, *, model="") -> EngineReading
    derive_sample(state, reading) -> (row, state)   what happened since the previous scrape
    histogram_quantile(q, bounds, counts) -> float | None

Plain Python, no Django (telemetry.serving.store writes the rows). Engines renamed metrics across versions
(vLLM 0.6 `gpu_cache_usage_perc` -> `kv_cache_usage_perc`, `time_per_output_token_seconds` ->
`inter_token_latency_seconds`; SGLang's TPOT histogram likewise): each field lists its names, first found
wins. Counters and histogram buckets are cumulative since the engine started, so a sample stores the
difference to the previous scrape; a value that went down means the engine restarted, and then the
current value is the whole difference (counted from zero). Percentiles are those of the requests that
finished between the two scrapes, interpolated inside the bucket like Prometheus' histogram_quantile.
A value no engine can report (infinite, a negative count, KV-cache use outside 0-1, cumulative buckets that go
down) is garbage: its field is left out of the sample and named in `EngineReading.problems`, which the run
records as rejected values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from prometheus_client.parser import text_string_to_metric_families

from .common import CollectorError, http_get, printable, source_label

ENGINES = ("vllm", "sglang", "trtllm")
PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Series:
    """Where a field is read: sample names (first present wins), a label filter, a scale to our unit."""

    names: tuple[str, ...]
    labels: dict = field(default_factory=dict)
    scale: float = 1.0


def _s(*names, scale=1.0, **labels):
    return Series(names, labels, scale)


# field -> Series, per engine. Gauges are summed over label sets (data-parallel engines, several model
# names) except kv_cache_usage, which is averaged; counters and histograms are summed.
GAUGES = {
    "vllm": {
        "requests_running": _s("vllm:num_requests_running"),
        "requests_waiting": _s("vllm:num_requests_waiting"),
        "kv_cache_usage": _s("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    },
    "sglang": {
        "requests_running": _s("sglang:num_running_reqs"),
        "requests_waiting": _s("sglang:num_queue_reqs"),
        "kv_cache_usage": _s("sglang:token_usage"),
    },
    "trtllm": {
        "requests_running": _s("nv_trt_llm_request_metrics", request_type="active"),
        "requests_waiting": _s("nv_trt_llm_request_metrics", request_type="waiting"),
        "kv_cache_usage": _s("nv_trt_llm_kv_cache_block_metrics", kv_cache_block_type="fraction"),
    },
}
# Triton's own queue gauge, where the TRT-LLM backend's "waiting" is absent (older backends).
FALLBACK_GAUGES = {"trtllm": {"requests_waiting": _s("nv_inference_pending_request_count")}}
COUNTERS = {
    "vllm": {
        "prompt_tokens": _s("vllm:prompt_tokens_total"),
        "generation_tokens": _s("vllm:generation_tokens_total"),
        "requests_finished": _s("vllm:request_success_total"),
        "requests_failed": _s("vllm:request_success_total", finished_reason="abort"),
    },
    "sglang": {
        "prompt_tokens": _s("sglang:prompt_tokens_total"),
        "generation_tokens": _s("sglang:generation_tokens_total"),
        "requests_finished": _s("sglang:num_requests_total"),
        "requests_failed": _s("sglang:num_aborted_requests_total"),
    },
    "trtllm": {
        # The backend's token-length histograms' sums are running token totals.
        "prompt_tokens": _s("nv_llm_input_token_len_sum"),
        "generation_tokens": _s("nv_llm_output_token_len_sum"),
        "requests_finished": _s("nv_inference_request_success"),
        "requests_failed": _s("nv_inference_request_failure"),
    },
}
HISTOGRAMS = {
    "vllm": {
        "ttft": _s("vllm:time_to_first_token_seconds"),
        "tpot": _s("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        "e2e": _s("vllm:e2e_request_latency_seconds"),
    },
    "sglang": {
        "ttft": _s("sglang:time_to_first_token_seconds"),
        "tpot": _s("sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds"),
        "e2e": _s("sglang:e2e_request_latency_seconds"),
    },
    "trtllm": {
        # Opt-in (--metrics-config histogram_latencies=true): time to the first streamed response.
        "ttft": _s("nv_inference_first_response_histogram_ms", scale=1e-3),
    },
}
# Triton latency summaries (opt-in, sliding window): quantile labels read as they are.
SUMMARIES = {"trtllm": {"e2e": _s("nv_inference_request_summary_us", scale=1e-6)}}
MODEL_LABELS = ("model_name", "model", "name")  # vLLM/SGLang, Triton, SGLang before 0.4
CEILINGS = {"kv_cache_usage": 1.0}  # gauges with an upper bound; every value read is >= 0


@dataclass(frozen=True)
class Histogram:
    bounds: tuple[float, ...]  # upper bounds, ascending, the last is +Inf
    counts: tuple[float, ...]  # cumulative counts per bound

    def minus(self, earlier: Histogram) -> Histogram:
        return Histogram(self.bounds, tuple(a - b for a, b in zip(self.counts, earlier.counts, strict=True)))


@dataclass(frozen=True)
class EngineReading:
    """One parsed scrape: gauges now, counters and histograms cumulative since the engine started."""

    ts: datetime
    engine: str
    gauges: dict
    counters: dict
    histograms: dict  # name -> Histogram
    quantiles: dict  # name -> {percentile: seconds}, from summaries
    problems: tuple = ()  # (field, why) of values left out as impossible


@dataclass(frozen=True)
class SimulatedSample:
    """A demo replica's serving sample, simulated rather than scraped (telemetry.serving.demo)."""

    row: dict


def collect(source) -> EngineReading | SimulatedSample:
    if (getattr(source, "options", None) or {}).get("simulated"):
        from telemetry.serving.demo import simulated_scrape

        return simulated_scrape(source, datetime.now(UTC))
    engine = (getattr(source, "options", None) or {}).get("engine", "")
    if engine not in ENGINES:
        raise CollectorError(f"{source_label(source)}: options.engine must be one of {', '.join(ENGINES)}")
    with requests.Session() as session:
        response = http_get(session, source.endpoint, timeout_s=source.timeout_s, what=source_label(source))
    model = (source.options or {}).get("model", "")
    try:
        return parse_metrics(response.text, engine, datetime.now(UTC), model=model)
    except CollectorError as exc:
        raise CollectorError(f"{source_label(source)}: {exc}") from None


def ingest(source, reading, *, now):
    """The write path of this collector's readings (telemetry.sources calls it instead of telemetry.ingest)."""
    from telemetry.serving.store import ingest_reading, ingest_simulated

    if isinstance(reading, SimulatedSample):
        return ingest_simulated(source, reading.row)
    return ingest_reading(source, reading, now=now)


def _samples(text):
    """sample name -> [(labels, value)], with prometheus_client's parser; garbage becomes a CollectorError."""
    by_name = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                by_name.setdefault(sample.name, []).append((sample.labels, sample.value))
    except (ValueError, TypeError, IndexError) as exc:
        raise CollectorError(f"not a Prometheus exposition: {printable(str(exc))}") from None
    return by_name


def _impossible(name, values, ceiling=math.inf):
    """Why `values` of sample `name` cannot be real (infinite, negative, above `ceiling`), or None."""
    for value in values:
        if not math.isfinite(value) or value < 0 or value > ceiling + 1e-9:
            bounds = f"0-{ceiling:g}" if math.isfinite(ceiling) else ">= 0"
            return f"{name} = {value:g} is outside {bounds}"
    return None


def _matching(by_name, series, model):
    for name in series.names:
        rows = [
            (labels, value)
            for labels, value in by_name.get(name, ())
            if all(labels.get(k) == v for k, v in series.labels.items())
            and (not model or not any(k in labels for k in MODEL_LABELS) or model in _models(labels))
        ]
        if rows:
            return name, rows
    return None, []


def _models(labels):
    return {labels[k] for k in MODEL_LABELS if k in labels}


def _finite(values):
    return [v for v in values if not math.isnan(v)]


def parse_metrics(text: str, engine: str, ts: datetime, *, model: str = "") -> EngineReading:
    """Parse one /metrics answer of `engine`; `model` keeps only series of that model (label model_name or
    model), for endpoints that serve several."""
    by_name = _samples(text)
    gauges, counters, histograms, quantiles, problems = {}, {}, {}, {}, []
    for field_name, series in GAUGES[engine].items():
        name, rows = _matching(by_name, series, model)
        if not rows and field_name in FALLBACK_GAUGES.get(engine, {}):
            name, rows = _matching(by_name, FALLBACK_GAUGES[engine][field_name], model)
        values = _finite([value * series.scale for _, value in rows])
        if why := _impossible(name, values, CEILINGS.get(field_name, math.inf)):
            problems.append((field_name, why))
        elif values:
            gauges[field_name] = sum(values) / len(values) if field_name == "kv_cache_usage" else sum(values)
    for field_name, series in COUNTERS[engine].items():
        name, rows = _matching(by_name, series, model)
        values = _finite([value for _, value in rows])
        if why := _impossible(name, values):
            problems.append((field_name, why))
        elif values:
            counters[field_name] = sum(values)
        elif field_name == "requests_failed" and "requests_finished" in counters:
            counters[field_name] = 0.0  # the engine reports no failures yet (vLLM: no aborted request so far)
    for field_name, series in HISTOGRAMS[engine].items():
        name, hist = _histogram(by_name, series, model)
        if hist is None:
            continue
        if why := _impossible(name, hist.counts) or (
            any(b < a for a, b in zip(hist.counts, hist.counts[1:], strict=False))
            and f"{name} buckets are not cumulative (a count goes down)"
        ):
            problems.append((field_name, why))
        else:
            histograms[field_name] = hist
    for field_name, series in SUMMARIES.get(engine, {}).items():
        name, rows = _matching(by_name, series, model)
        points = {}
        for labels, value in rows:
            q = float(labels.get("quantile", "nan")) * 100
            if round(q) in PERCENTILES and not math.isnan(value):
                points[round(q)] = value * series.scale
        if why := _impossible(name, points.values()):
            problems.append((field_name, why))
        elif points:
            quantiles[field_name] = points
    if not (gauges or counters or histograms or problems):
        raise CollectorError(f"no {engine} serving metrics in the answer (is this the engine's /metrics endpoint?)")
    return EngineReading(ts, engine, gauges, counters, histograms, quantiles, tuple(problems))


def _histogram(by_name, series, model):
    """(name, Histogram) of the first of the series' names with buckets, or (None, None)."""
    for name in series.names:
        found = _matching(by_name, Series((f"{name}_bucket",), series.labels), model)[1]
        if not found:
            continue
        sums = {}
        for labels, value in found:
            try:
                bound = float(labels["le"])
            except (KeyError, ValueError):
                raise CollectorError(f"histogram {name} has a bucket without a numeric le label") from None
            sums[bound] = sums.get(bound, 0.0) + value
        bounds = tuple(sorted(sums))
        if not bounds or not math.isinf(bounds[-1]):
            raise CollectorError(f"histogram {name} has no +Inf bucket")
        return name, Histogram(tuple(b * series.scale for b in bounds), tuple(sums[b] for b in bounds))
    return None, None


def histogram_quantile(q: float, bounds, counts) -> float | None:
    """The q-quantile (0..1) of cumulative bucket `counts` with upper `bounds` (the last +Inf), linear inside
    the bucket as Prometheus does; a quantile in the +Inf bucket is the highest finite bound. None if empty."""
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    rank = q * total
    for i, (bound, cumulative) in enumerate(zip(bounds, counts, strict=True)):
        if cumulative >= rank:
            if math.isinf(bound):
                return bounds[i - 1] if i > 0 else None
            lower = bounds[i - 1] if i > 0 else 0.0
            below = counts[i - 1] if i > 0 else 0.0
            in_bucket = cumulative - below
            return bound if in_bucket <= 0 else lower + (bound - lower) * (rank - below) / in_bucket
    return bounds[-2] if len(bounds) > 1 else None


def _counter_delta(now, before):
    return now if now < before else now - before  # lower than before: the engine restarted from zero


def derive_sample(state: dict, reading: EngineReading) -> tuple[dict, dict]:
    """The serving sample of `reading` given the previous scrape's `state` ({} for the first), and the state to
    keep for the next. JSON-safe state: {"ts", "counters", "histograms": {name: [bounds, counts]}}."""
    row = {"ts": reading.ts, **reading.gauges}
    before_ts = datetime.fromisoformat(state["ts"]) if state.get("ts") else None
    if before_ts is not None and reading.ts > before_ts:
        row["interval_s"] = (reading.ts - before_ts).total_seconds()
        before = state.get("counters", {})
        for name, value in reading.counters.items():
            if name in before:
                row[name] = _counter_delta(value, before[name])
        earlier_histograms = state_histograms(state)
        for name, hist in reading.histograms.items():
            earlier = earlier_histograms.get(name)
            delta = hist
            if earlier and tuple(earlier[0]) == hist.bounds:
                previous = Histogram(tuple(earlier[0]), tuple(earlier[1]))
                restarted = any(a < b for a, b in zip(hist.counts, previous.counts, strict=True))
                delta = hist if restarted else hist.minus(previous)
            elif earlier is None:
                continue  # a histogram that just appeared: nothing to compare yet
            for p in PERCENTILES:
                row[f"{name}_p{p}"] = histogram_quantile(p / 100, delta.bounds, delta.counts)
    for name, points in reading.quantiles.items():
        for p, value in points.items():
            row.setdefault(f"{name}_p{p}", value)
    if "tpot" not in HISTOGRAMS.get(reading.engine, {}) and "interval_s" in row:
        row.setdefault("tpot_p50", little_tpot(state.get("gauges", {}), reading.gauges, row))
    new_state = {
        "ts": reading.ts.isoformat(),
        "gauges": dict(reading.gauges),
        "counters": dict(reading.counters),
        "histograms": {
            name: [[b if math.isfinite(b) else "+Inf" for b in h.bounds], list(h.counts)]
            for name, h in reading.histograms.items()
        },
    }
    return row, new_state


def little_tpot(before: dict, now: dict, row: dict) -> float | None:
    """Mean time per output token over the interval where the engine has no per-token histogram (Triton's
    TensorRT-LLM backend), by Little's law: each running sequence emits one token per decode step, so tokens
    generated = mean running x interval / TPOT. The running mean is that of the two scrapes' gauges; time a
    sequence spends in prefill counts as decode, so this reads a little high. Stored as the p50."""
    running = [g["requests_running"] for g in (before, now) if g.get("requests_running") is not None]
    tokens = row.get("generation_tokens")
    if not running or not tokens or tokens <= 0:
        return None
    return sum(running) / len(running) * row["interval_s"] / tokens


def state_histograms(state: dict) -> dict:
    """The state's histograms with +Inf restored (JSON has no infinity)."""
    return {
        name: [[math.inf if b == "+Inf" else b for b in bounds], counts]
        for name, (bounds, counts) in state.get("histograms", {}).items()
    }
