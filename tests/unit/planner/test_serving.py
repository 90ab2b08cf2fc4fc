"""Serving configuration recommendation (planner.domain.serving): memory, queueing, ranking invariants, flags."""

import json
import math
from pathlib import Path

import pytest

from planner.domain.serving import (
    Calibration,
    GpuPrices,
    RecommendationRequest,
    Slo,
    Traffic,
    calibration_from_measurement,
    comparison_table,
    erlang_c,
    kv_tokens_per_replica,
    launch_commands,
    memory_breakdown,
    predict_load,
    recommend,
    replica_model,
)
from planner.domain.throughput import Precision
from reference.catalog import GpuSpec, InvalidInputError, load_gpus, load_llms

GPUS, LLMS = load_gpus(), load_llms()
H100, H200 = GPUS["H100 SXM 80GB"], GPUS["H200 SXM 141GB"]
L8, L70 = LLMS["Llama-3.1-8B"], LLMS["Llama-3.3-70B"]
CHAT = Traffic(20, 1000, 250, 3000, 600)


def test_memory_breakdown_by_hand():
    mem = memory_breakdown(L8, H100, Precision.BF16, 1, 0.9, 4096, 256)
    assert mem.weights_gb == pytest.approx(16.06)
    # 4096 tokens x 2 bytes x 4096 hidden x (2 + 10.5) + 256 x 128,256 logits x 4 bytes
    assert mem.activations_gb == pytest.approx((4096 * 2 * 4096 * 12.5 + 256 * 128_256 * 4) / 1e9)
    assert mem.overhead_gb == 1.5 and mem.free_gb == pytest.approx(8.0)
    assert mem.total_gb == pytest.approx(80.0)
    # KV per token on one GPU: 2 x 32 layers x 8 heads x 128 x 2 bytes = 131,072 bytes
    assert kv_tokens_per_replica(L8, Precision.BF16, 1, 13.1072) == 100_000
    # TP=2 splits the KV heads: twice the tokens for the same GB per GPU
    assert kv_tokens_per_replica(L8, Precision.BF16, 2, 13.1072) == 200_000


def test_erlang_c_by_hand():
    # c=2, A=1: Erlang B = 0.5 / 2.5 = 0.2; C = 0.2 / (1 - 0.5 + 0.5 x 0.2) = 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(256, 10.0) < 1e-12


def test_latency_grows_with_load_until_the_queue_is_unstable():
    model = replica_model(L8, H100, Precision.FP8, 1, CHAT)
    points = [predict_load(model, CHAT, rate, 256, 4096) for rate in (0.5, 5, 15, 25, 30)]
    ttft = [p.ttft_p95_ms for p in points if p.stable]
    tpot = [p.tpot_p95_ms for p in points if p.stable]
    assert ttft == sorted(ttft) and tpot == sorted(tpot) and len(ttft) >= 3
    assert not predict_load(model, CHAT, 1000, 256, 4096).stable


def _request(traffic=CHAT, **kw):
    kw.setdefault("prices", {H100.name: GpuPrices(1.5, 3.0)})
    return RecommendationRequest(kw.pop("model", L8), kw.pop("gpus", (H100,)), traffic, **kw)


def test_memory_never_exceeds_the_gpu():
    for model, gpu in ((L8, H100), (L70, H100), (L70, H200)):
        rec = recommend(_request(model=model, gpus=(gpu,), slo=Slo(2000, 50)))
        for c in rec.candidates:
            used = c.memory.weights_gb + c.memory.kv_cache_gb + c.memory.activations_gb + c.memory.overhead_gb
            assert used <= gpu.memory_gb * c.config.gpu_memory_utilization + 1e-9
            assert c.memory.kv_cache_gb > 0 and c.kv_cache_tokens >= c.config.max_model_len
            assert c.memory.total_gb == pytest.approx(gpu.memory_gb)


def test_more_traffic_never_needs_fewer_gpus():
    for model, gpu in ((L8, H100), (L70, H200)):
        gpus = [
            recommend(
                _request(Traffic(rate, 1500, 300, 4000, 800), model=model, gpus=(gpu,), slo=Slo(2000, 50))
            ).chosen.config.gpus
            for rate in (0.5, 4, 20, 120)
        ]
        assert gpus == sorted(gpus), gpus
        assert gpus[-1] > gpus[0]


def test_ranking_puts_slo_meeting_cheapest_first_and_the_pareto_front_is_undominated():
    rec = recommend(_request(slo=Slo(1000, 30)))
    chosen = rec.chosen
    assert chosen.meets_slo and chosen.ttft_p95_ms <= 1000 and chosen.tpot_p95_ms <= 30
    meeting = [c for c in rec.candidates if c.meets_slo]
    assert chosen.usd_per_million_tokens_rented == min(c.usd_per_million_tokens_rented for c in meeting)
    front = rec.pareto
    assert front and all(c.meets_slo for c in front)
    for p in front:
        assert not any(
            c.usd_per_million_tokens_rented < p.usd_per_million_tokens_rented and c.latency_p95_ms < p.latency_p95_ms
            for c in meeting
        )
    # cost per 1M output tokens by hand: GPUs x USD/GPU-hour / (20 req/s x 250 tokens x 3600 s) x 1e6
    assert chosen.usd_per_million_tokens_rented == pytest.approx(chosen.config.gpus * 3.0 / (5000 * 3600) * 1e6)
    assert chosen.usd_per_million_tokens_owned == pytest.approx(chosen.usd_per_million_tokens_rented / 2)
    assert "req/s each within the SLO" in chosen.reason


def test_a_model_that_does_not_fit_gets_the_smallest_configuration_that_does():
    rec = recommend(_request(model=L70, gpu_count=1, precisions=(Precision.BF16,), slo=Slo(5000, 100)))
    assert "does not fit 1 x H100 SXM 80GB in BF16" in rec.notes[0]
    assert {c.config.tp for c in rec.candidates} == {1}
    assert rec.chosen.config.precision != "BF16"


def test_an_slo_that_cannot_be_met_gets_the_best_achievable_numbers():
    rec = recommend(_request(slo=Slo(p95_tpot_ms=0.05), gpu_count=8))
    assert not rec.chosen.meets_slo
    assert "No configuration meets the SLO; the best achievable" in rec.notes[-1]
    finite = [c.tpot_p95_ms for c in rec.candidates if math.isfinite(c.tpot_p95_ms)]
    assert rec.chosen.tpot_p95_ms == pytest.approx(min(finite))
    assert "misses the SLO: p95 TPOT" in rec.chosen.reason


def test_traffic_beyond_the_gpus_is_unstable_and_still_serialises():
    rec = recommend(_request(Traffic(2000, 1000, 250), gpu_count=1, slo=Slo(1000, 30)))
    assert not rec.chosen.meets_slo and all(not math.isfinite(c.ttft_p95_ms) for c in rec.candidates)
    json.dumps([c.row() for c in rec.candidates], allow_nan=False)  # JSON (and jsonb) has no infinity


def test_a_model_too_big_for_one_node_gets_pipeline_stages():
    rec = recommend(_request(model=LLMS["Llama-3.1-405B"], precisions=(Precision.BF16,), slo=Slo(10_000, 200)))
    # 812 GB of BF16 weights do not fit 8 x 80 GB: TP=8 x PP=2, 16 GPUs a replica, 51 GB of weights per GPU
    cfg = rec.chosen.config
    assert (cfg.tp, cfg.pp) == (8, 2) and rec.chosen.memory.weights_gb == pytest.approx(405.9 * 2 / 16)
    assert "--pipeline-parallel-size 2" in launch_commands(rec.chosen, "Llama-3.1-405B")["vllm"]
    assert {c.config.pp for c in recommend(_request()).candidates} == {1}


def test_gpu_count_bounds_every_candidate():
    rec = recommend(_request(model=L70, gpu_count=4, slo=Slo(2000, 50)))
    assert all(c.config.gpus <= 4 for c in rec.candidates)


def test_calibration_slows_decode_and_says_so():
    model = replica_model(L8, H100, Precision.FP8, 1, CHAT)
    slow = replica_model(L8, H100, Precision.FP8, 1, CHAT, Calibration(2.0, "deployment chat"))
    assert slow.step_s(64) == pytest.approx(2 * model.step_s(64))
    rec = recommend(_request(slo=Slo(1000, 30), calibration={H100.name: Calibration(2.0)}))
    assert all(c.calibrated for c in rec.candidates)
    assert "calibrated on the deployment's measured serving metrics" in rec.notes[-1]


def test_calibration_from_measurement_recovers_the_factor():
    model = replica_model(L8, H100, Precision.FP8, 1, CHAT)
    running, rate = 40.0, 10.0
    # a replica 1.5x slower than modelled: time per token = 1.5 x step(40) / (1 - prefill share)
    tau = 1.5 * model.step_s(running) / (1 - rate * model.prefill_s)
    cal = calibration_from_measurement(model, running, running / tau, rate, "chat")
    assert cal.decode_factor == pytest.approx(1.5) and cal.source == "chat"
    with pytest.raises(InvalidInputError, match="running"):
        calibration_from_measurement(model, 0, 100, 1)


def test_launch_flags_for_each_engine():
    chosen = recommend(_request(model=L70, gpus=(H200,), slo=Slo(2000, 50), precisions=(Precision.FP8,))).chosen
    cfg, mem = chosen.config, chosen.memory
    flags = launch_commands(chosen, "Llama-3.3-70B")
    assert flags["vllm"].startswith("vllm serve meta-llama/Llama-3.3-70B-Instruct")
    for flag in (
        f"--tensor-parallel-size {cfg.tp}",
        f"--max-num-seqs {cfg.max_num_seqs}",
        f"--gpu-memory-utilization {cfg.gpu_memory_utilization:.2f}",
        f"--max-model-len {cfg.max_model_len}",
        "--quantization fp8",
        "--kv-cache-dtype fp8",
        f"--max-num-batched-tokens {cfg.max_num_batched_tokens}",
    ):
        assert flag in flags["vllm"]
    assert f"--tp {cfg.tp}" in flags["sglang"] and f"--max-running-requests {cfg.max_num_seqs}" in flags["sglang"]
    static = float(flags["sglang"].split("--mem-fraction-static ")[1].split()[0])
    assert static == pytest.approx((mem.weights_gb + mem.kv_cache_gb) / 141, abs=0.005)
    assert static < cfg.gpu_memory_utilization
    trt = flags["tensorrt_llm"]
    assert f"--max_batch_size {cfg.max_num_seqs}" in trt and f"--max_num_tokens {cfg.max_num_batched_tokens}" in trt
    assert 0 < float(trt.split("--kv_cache_free_gpu_memory_fraction ")[1].split()[0]) < 1


def test_bad_input_names_the_field():
    with pytest.raises(InvalidInputError, match="requests_per_s"):
        Traffic(0, 100, 100)
    with pytest.raises(InvalidInputError, match="p95_input_tokens"):
        Traffic(1, 1000, 100, p95_input_tokens=500)
    with pytest.raises(InvalidInputError, match="gpu_count"):
        _request(gpu_count=0)
    with pytest.raises(InvalidInputError, match="fits no configuration"):
        recommend(_request(model=LLMS["Llama-3.1-405B"], gpus=(GpuSpec("1 GB card", 1, 0.1, 10, None, 50),)))


def test_comparison_with_the_size_table_heuristic_runs_on_its_cases():
    table = comparison_table()
    assert table.count("| Headroom |") == 3 and table.count("size table + pending rule") == 3


def test_docs_show_the_comparison_the_code_computes_today():
    """docs/serving.md's table against the size-table heuristic is `python -m planner.domain.serving --compare`:
    a change of the estimator or the recommender shows here until the table is regenerated."""
    docs = (Path(__file__).parents[3] / "docs" / "serving.md").read_text()
    rows = [line for line in comparison_table().splitlines() if line.startswith("| Llama")]
    assert len(rows) == 9
    assert [row for row in rows if row not in docs] == []


def test_ttft_calibration_adds_what_unqueued_requests_waited_beyond_the_model():
    model = replica_model(L8, H100, Precision.FP8, 1, CHAT)
    running, rate = 40.0, 10.0
    tau = 1.5 * model.step_s(running) / (1 - rate * model.prefill_s)
    # TTFT of an unqueued request: the model's prefill, the (1.5x) step it shares with the batch, and 80 ms more.
    ttft = model.prefill_s + 1.5 * model.step_s(running) + 0.080
    cal = calibration_from_measurement(model, running, running / tau, rate, "chat", unqueued_ttft_s=ttft)
    assert cal.decode_factor == pytest.approx(1.5) and cal.ttft_overhead_s == pytest.approx(0.080)
    assert calibration_from_measurement(model, running, running / tau, rate, unqueued_ttft_s=1e-6).ttft_overhead_s == 0
    rec = recommend(_request(slo=Slo(1000, 30), calibration={H100.name: cal}))
    decode_only = recommend(_request(slo=Slo(1000, 30), calibration={H100.name: Calibration(1.5)}))
    assert "Decode times and TTFT are calibrated" in rec.notes[-1]
    by_config = {c.config: c for c in decode_only.candidates}
    pairs = [(c, by_config[c.config]) for c in rec.candidates if c.config in by_config and c.meets_slo]
    # Latency, not GPU time: every TTFT 80 ms later, TPOT unchanged.
    assert pairs and all(a.ttft_p95_ms == pytest.approx(b.ttft_p95_ms + 80) for a, b in pairs)
    assert all(a.tpot_p95_ms == pytest.approx(b.tpot_p95_ms) for a, b in pairs)
