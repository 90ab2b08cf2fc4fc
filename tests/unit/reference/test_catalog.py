from reference.catalog import (
    load_cloud_prices,
    load_gpus,
    load_llms,
    load_throughput_calibration,
)


def test_catalog_loads_published_figures():
    h100 = load_gpus()["H100 SXM 80GB"]
    assert (h100.memory_gb, h100.bandwidth_tb_s, h100.fp8_dense_tflops) == (80, 3.35, 1979)
    assert load_gpus()["A100 SXM 80GB"].fp8_dense_tflops is None
    assert load_llms()["Qwen3-30B-A3B"].active_params_b == 3.3
    assert len(load_throughput_calibration()) == 15


def test_cloud_prices_keep_date_source_and_ranges():
    spot = next(p for p in load_cloud_prices() if p.term == "spot")
    assert (spot.usd_per_gpu_hour_low, spot.usd_per_gpu_hour_high) == (2.0, 2.5)
    assert spot.usd_per_gpu_hour == 2.25
    assert spot.as_of == "2026-03" and "costnimbus" in spot.source
