"""Which catalog model an NVML board is (telemetry.collectors.nvml.match_catalog_model)."""

import pytest

from telemetry.catalog import catalog_rows
from telemetry.collectors.nvml import GpuInventory, match_catalog_model

CATALOG = [(row["name"], row["memory_gb"], row["tdp_w"]) for row in catalog_rows()]


def board(name, memory_bytes, power_limit_w):
    return GpuInventory(
        uuid="GPU-x", index=0, serial="", name=name, memory_total_bytes=memory_bytes, power_limit_w=power_limit_w
    )


def test_the_recorded_h100_is_the_sxm_board():
    # As NVML reported the real H100 of tests/fixtures/nvml-recording: 79.6 GiB, 700 W enforced limit.
    assert match_catalog_model(board("NVIDIA H100 80GB HBM3", 85_520_809_984, 700.0), CATALOG) == "H100 SXM 80GB"


def test_the_power_limit_tells_sxm_from_pcie():
    assert match_catalog_model(board("NVIDIA H100 PCIe", 85_520_809_984, 350.0), CATALOG) == "H100 PCIe 80GB"


def test_an_ambiguous_or_unknown_board_names_the_candidates():
    with pytest.raises(LookupError, match=r"matches 2 catalog models \(H100 SXM 80GB, H100 PCIe 80GB\)"):
        match_catalog_model(board("NVIDIA H100 80GB HBM3", 85_520_809_984, None), CATALOG)
    with pytest.raises(LookupError, match=r"matches 0 catalog models \(none\)"):
        match_catalog_model(board("Tesla T4", 16_000_000_000, 70.0), CATALOG)
