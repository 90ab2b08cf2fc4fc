"""Small planner inputs shared by the tests."""

from datetime import date

from planner.domain.costs import OwnershipCosts, RentalPrices, Scenario
from planner.domain.demand import SizingPolicy, Workload
from planner.domain.throughput import Throughput

START = date(2026, 1, 1)


def throughput(tokens_per_s_per_replica: float = 500.0, tp: int = 2) -> Throughput:
    return Throughput(
        model="m",
        gpu="g",
        precision="FP8",
        tp=tp,
        output_tokens_per_s_per_replica=tokens_per_s_per_replica,
        batch_size=64,
        limited_by="measured",
        ms_per_output_token=30.0,
        prefill_ms_per_request=50.0,
        weights_gb_per_gpu=35.0,
        kv_bytes_per_token=163840.0,
        measured=True,
    )


def workload(requests_per_day: float = 864_000, growth: float = 0.05) -> Workload:
    return Workload("chat", "m", requests_per_day, 1000, 100, peak_to_mean=2.0, monthly_growth=growth)


def scenario(requests_per_day: float = 864_000, months: int = 36) -> Scenario:
    return Scenario(
        workloads=(workload(requests_per_day),),
        throughputs={"chat": throughput()},
        policy=SizingPolicy(
            utilization_ceiling=0.8, redundancy_replicas=1, annual_failure_rate=0.1, failure_cover_days=30
        ),
        rent=RentalPrices(3.0, 2.2, 1.8, 2.2),
        own=OwnershipCosts(
            server_capex_usd_per_gpu=40_000,
            power_kw_per_gpu=1.27,
            electricity_usd_per_kwh=0.08,
            facility_usd_per_kw_month=184.06,
        ),
        start=START,
        horizon_months=months,
    )
