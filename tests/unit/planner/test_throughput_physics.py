"""Tensor/pipeline parallel cost, MoE expert traffic, MLA and sliding-window KV, precisions
and catalog look-ups of the throughput estimator, each against a hand calculation."""

import pytest

from planner.domain.moe import expert_share_read, experts_touched
from planner.domain.parallelism import LINK_EFFICIENCY, Link, allreduce_s, bubble_fraction, link_for
from planner.domain.throughput import (
    EFFICIENCY,
    ModelDoesNotFitError,
    Precision,
    ThroughputError,
    estimate_throughput,
)
from reference.catalog import InvalidInputError, UnknownNameError, gpu_named, llm_named, load_gpus

H100 = gpu_named("H100 SXM 80GB")


def test_ring_allreduce_by_hand():
    link = Link("test", 100, 1e-5)
    # 8 devices: 2 * 7/8 * 1e8 bytes / (100e9 * efficiency) + 10 us
    assert allreduce_s(1e8, 8, link) == pytest.approx(1e-5 + 1.75e8 / (100e9 * LINK_EFFICIENCY))
    assert allreduce_s(1e8, 1, link) == 0


def test_link_follows_the_fast_domain():
    assert link_for(H100, 8).gb_s == 450
    nvl = gpu_named("H100 NVL 94GB")
    assert link_for(nvl, 2).gb_s == 300 and link_for(nvl, 4).gb_s == 64  # bridge joins pairs only
    # A spec built without interconnect figures (the scenario's DB row) takes the catalog's.
    bare = type(H100)(H100.name, 80, 3.35, 989, 1979, 700)
    assert link_for(bare, 8).gb_s == 450


def test_tp_communication_grows_with_tp_and_costs_throughput_per_gpu():
    llama405 = llm_named("Llama-3.1-405B")
    tp8 = estimate_throughput(llama405, H100, Precision.FP8, 8, 1000, 1000)
    assert tp8.comm_ms_per_step > 0
    # 126 layers x 2 all-reduces of batch x 16384 x 2 bytes, ring over NVSwitch
    link = link_for(H100, 8)
    by_hand = 126 * 2 * allreduce_s(tp8.batch_size * 16384 * 2, 8, link) * 1e3
    by_hand += 126 * EFFICIENCY.tp_layer_us / 1e3  # and the fitted synchronisation per layer
    assert tp8.comm_ms_per_step == pytest.approx(float(by_hand))
    pcie = estimate_throughput(llama405, gpu_named("H100 PCIe 80GB"), Precision.FP8, 8, 1000, 1000)
    assert pcie.comm_ms_per_step / pcie.batch_size > tp8.comm_ms_per_step / tp8.batch_size


def test_pipeline_parallel_pays_its_bubble():
    assert bubble_fraction(4, 4) == pytest.approx(3 / 7)
    llama70 = llm_named("Llama-3.3-70B")
    pp = estimate_throughput(llama70, H100, Precision.FP8, 2, 1000, 1000, pp=2)
    tp = estimate_throughput(llama70, H100, Precision.FP8, 4, 1000, 1000)
    assert pp.gpus_per_replica == 4 and "bubble 33%" in " ".join(pp.notes)
    assert pp.output_tokens_per_s_per_gpu < tp.output_tokens_per_s_per_gpu
    # More micro-batches shrink the bubble, but in memory-bound decode each one re-reads the
    # stage's weights, so 8 micro-batches of a 2-stage pipeline are slower than 2.
    more = estimate_throughput(llama70, H100, Precision.FP8, 2, 1000, 1000, pp=2, microbatches=8)
    assert "bubble 11%" in " ".join(more.notes)
    assert more.output_tokens_per_s_per_gpu < pp.output_tokens_per_s_per_gpu


def test_distinct_experts_touched():
    assert experts_touched(128, 8, 1) == pytest.approx(8)
    assert experts_touched(8, 2, 2) == pytest.approx(8 * (1 - 0.75**2))
    assert expert_share_read(128, 8, 10_000) == pytest.approx(1)


def test_moe_reads_shared_part_always_and_experts_as_touched():
    qwen = llm_named("Qwen3-235B-A22B")
    # 22B active = 7.8B always read + 227.1B x 8/128 routed
    assert qwen.always_read_params_b == pytest.approx(22 - 227.1 * 8 / 128)
    batch1 = estimate_throughput(qwen, H100, Precision.FP8, 8, 100, 100, max_batch=1)
    dense_like = estimate_throughput(llm_named("Llama-3.1-405B"), H100, Precision.FP8, 8, 100, 100, max_batch=1)

    # At batch 1 the MoE reads ~22 GB per step against 405 GB: far faster per token, beyond the
    # fixed synchronisation of each tensor-parallel layer (94 against 126 layers).
    def beyond_sync(t, layers):
        return t.ms_per_output_token - layers * EFFICIENCY.tp_layer_us / 1e3

    assert beyond_sync(batch1, 94) < beyond_sync(dense_like, 126) / 5


def test_mla_kv_cache_is_the_compressed_latent():
    ds = llm_named("DeepSeek-V3")
    assert ds.kv_bytes_per_token(1) == 61 * (512 + 64)
    llama = llm_named("Llama-3.1-405B")
    assert llama.kv_bytes_per_token(1) == 2 * 126 * 8 * 128


def test_sliding_window_layers_stop_growing():
    oss = llm_named("gpt-oss-120b")
    full = 2 * 8 * 64
    assert oss.kv_bytes_per_token(1, 100) == 36 * full
    assert oss.kv_bytes_per_token(1, 12800) == pytest.approx((18 + 18 * 128 / 12800) * full)


def test_fp4_on_blackwell_uses_fp4_rate_and_falls_back_elsewhere():
    llama70 = llm_named("Llama-3.3-70B")
    b200 = gpu_named("B200 180GB")
    fp4 = estimate_throughput(llama70, b200, Precision.FP4, 1, 2000, 200)
    fp8 = estimate_throughput(llama70, b200, Precision.FP8, 1, 2000, 200)
    assert fp4.prefill_ms_per_request < fp8.prefill_ms_per_request / 1.8
    assert fp4.weights_gb_per_gpu == pytest.approx(70.6 * 0.5625)
    hopper = estimate_throughput(llama70, H100, Precision.FP4, 1, 2000, 200)
    assert "no FP4 tensor cores" in hopper.notes[0] and hopper.kv_dtype_bytes == 2
    assert any("Llama 3" in n for n in hopper.notes)


def test_weight_only_and_kv_dtype_are_separate():
    llama8 = llm_named("Llama-3.1-8B")
    w4 = estimate_throughput(llama8, H100, Precision.INT4, 1, 1000, 1000)
    assert w4.kv_dtype_bytes == 2 and w4.weights_gb_per_gpu == pytest.approx(8.03 * 0.5)
    w4_fp8kv = estimate_throughput(llama8, H100, Precision.INT4, 1, 1000, 1000, kv_dtype="FP8")
    assert w4_fp8kv.kv_bytes_per_token == w4.kv_bytes_per_token / 2
    assert w4_fp8kv.batch_size > w4.batch_size
    w8 = estimate_throughput(llama8, gpu_named("A100 SXM 80GB"), Precision.W8A16, 1, 1000, 1000)
    assert w8.weights_gb_per_gpu == pytest.approx(8.03)
    with pytest.raises(InvalidInputError, match="kv_dtype must be one of"):
        estimate_throughput(llama8, H100, Precision.INT4, 1, 1000, 1000, kv_dtype="FP2")


def test_cpu_and_apple_rows_estimate_memory_bound_decode():
    llama8 = llm_named("Llama-3.1-8B")
    cpu = gpu_named("Intel Xeon Platinum 8480+ (1 socket)")
    t = estimate_throughput(llama8, cpu, Precision.BF16, 1, 100, 100, max_batch=1)
    # 16 GB of weights over 307 GB/s x 0.6: about 87 ms a token
    assert 70 < t.ms_per_output_token < 110
    mac = gpu_named("Apple M2 Max 64GB")
    assert estimate_throughput(llama8, mac, Precision.INT4, 1, 100, 100, max_batch=1).ms_per_output_token < 40
    with pytest.raises(ThroughputError, match="no FP8"):
        estimate_throughput(llama8, mac, Precision.FP8, 1, 100, 100)


def test_catalog_covers_the_seeds_hardware_with_dates():
    gpus = load_gpus()
    for name in ("B300 288GB", "H20 96GB", "A100 SXM 40GB", "MI355X", "Gaudi 3", "RTX 5090", "Apple M3 Ultra 512GB"):
        assert name in gpus
    assert {g.kind for g in gpus.values()} == {"gpu", "cpu", "apple"}


def test_unknown_names_list_close_matches():
    with pytest.raises(UnknownNameError, match=r"unknown GPU 'H100'; did you mean 'H100 SXM 80GB'"):
        gpu_named("H100")
    with pytest.raises(UnknownNameError, match="Llama-3-70B"):
        llm_named("llama 3 70b")
    with pytest.raises(InvalidInputError, match="did you mean FP8"):
        Precision.parse("FP9")
    assert Precision.parse("nvfp4") is Precision.FP4 and Precision.parse("AWQ") is Precision.INT4


def test_does_not_fit_says_by_how_much_and_what_would():
    with pytest.raises(ModelDoesNotFitError, match=r"GB short; 8 devices would hold the weights"):
        estimate_throughput(llm_named("Llama-3.1-405B"), H100, Precision.FP8, 4, 1000, 100)
    with pytest.raises(ModelDoesNotFitError, match=r"GB short; about [\d,]+ tokens of context would fit"):
        estimate_throughput(llm_named("Llama-3.3-70B"), H100, Precision.FP8, 1, 200_000, 100)


def test_sustained_matmul_share_sets_the_compute_rate():
    # MI300X sustains about 45% of its printed peak against the 0.79 measured on an H100, so a
    # compute-bound prefill takes 0.79 / 0.45 as long as the printed peak alone would say.
    from dataclasses import replace

    from planner.domain.throughput import prefill_ms

    mi300x = gpu_named("MI300X")
    like_hopper = replace(mi300x, sustained_compute_share=0.79)
    llama = llm_named("Llama-3.1-70B")
    ratio = prefill_ms(llama, mi300x, Precision.FP8, 1, 8192) / prefill_ms(llama, like_hopper, Precision.FP8, 1, 8192)
    assert ratio == pytest.approx(0.79 / 0.45, rel=0.02)
    assert H100.sustained_compute_share == 0.79 and mi300x.sustained_compute_share == 0.45
    with pytest.raises(InvalidInputError, match="sustained_compute_share"):
        replace(mi300x, sustained_compute_share=1.5)


def test_decode_step_composition_layer_latency_and_rocm_share_by_hand():
    from planner.domain.throughput import Efficiency, decode_step_ms

    llama = llm_named("Llama-3.1-70B")
    mi300x = gpu_named("MI300X")
    memory_only, math_only = Efficiency(1.0, 1e9), Efficiency(1e9, 1.0)

    def step(gpu, tp, eff, batch=64):
        return decode_step_ms(llama, gpu, Precision.FP8, tp, batch, 1024, eff)

    comm = step(H100, 2, Efficiency(1e9, 1e9))  # what is left with memory and math free
    mem, math = step(H100, 2, memory_only) - comm, step(H100, 2, math_only) - comm
    assert step(H100, 2, Efficiency(1.0, 1.0)) == pytest.approx(mem + math + comm)  # overlap 1: added
    assert step(H100, 2, Efficiency(1.0, 1.0, overlap=0.0)) == pytest.approx(max(mem, math) + comm)
    # The tensor-parallel layer latency: 80 layers x 50 us = 4 ms a step at TP 2, none at TP 1.
    latency = Efficiency(1.0, 1.0, tp_layer_us=50.0)
    assert step(H100, 2, latency) - step(H100, 2, Efficiency(1.0, 1.0)) == pytest.approx(4.0)
    assert step(H100, 1, latency) == pytest.approx(step(H100, 1, Efficiency(1.0, 1.0)))
    # The ROCm share scales AMD Instinct's math only: half the share, twice the math time.
    rocm_math = step(mi300x, 8, math_only) - step(mi300x, 8, Efficiency(1e9, 1e9))
    halved = step(mi300x, 8, Efficiency(1e9, 1.0, rocm=0.5)) - step(mi300x, 8, Efficiency(1e9, 1e9))
    assert halved == pytest.approx(2 * rocm_math)
    assert step(H100, 2, Efficiency(1e9, 1.0, rocm=0.5)) == pytest.approx(step(H100, 2, math_only))
