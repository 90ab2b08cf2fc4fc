"""Every device of the reference catalog can be planned on: the editor offers it (migration planner 0009
seeds the shared GPU model catalog) and the scenario's estimate uses its reference physics."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from planner import services
from planner.models import Scenario
from reference.catalog import load_gpus
from telemetry.models import GpuModel

from .factories import make_scenario
from .test_scenario_pages import editor_data

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def editor(world):
    client = Client()
    client.force_login(world.a.users["planner"])
    return client


def test_the_editor_offers_every_reference_device(world):
    page = editor(world).get("/planner/scenarios/new/").content.decode()
    missing = [name for name in load_gpus() if f">{name}</option>" not in page.replace("&#x27;", "'")]
    assert missing == []
    apple = GpuModel.objects.get(name="Apple M2 Max 64GB", organization=None)
    assert (apple.memory_gb, apple.memory_bandwidth_tbps, apple.fp8_tflops) == (64, 0.4, None)
    assert "reference catalog, as of" in apple.source


def test_a_scenario_on_apple_silicon_is_saved_and_uses_unified_memory(world):
    response = editor(world).post(
        "/planner/scenarios/new/",
        editor_data(gpu_model=GpuModel.objects.get(name="Apple M2 Max 64GB").pk, precision="INT4")
        | {"workloads-0-requests_per_day": 2000, "workloads-0-max_ms_per_output_token": 200},
    )
    scenario = Scenario.objects.get(name="Edited")
    assert response.status_code == 302
    spec = services.gpu_spec(scenario.gpu_model)
    assert (spec.kind, spec.usable_memory_fraction) == ("apple", 0.75)
    assert services.evaluate(scenario, as_of=AS_OF, draws=100).result.demand.gpus[0] >= 1


def test_a_device_without_fp8_is_refused_at_the_precision_field(world):
    response = editor(world).post(
        "/planner/scenarios/new/",
        editor_data(gpu_model=GpuModel.objects.get(name="AMD EPYC 9654 (1 socket)").pk, precision="FP8"),
    )
    assert response.status_code == 400 and not Scenario.objects.filter(name="Edited").exists()
    assert "AMD EPYC 9654 (1 socket) has no FP8 tensor cores" in response.content.decode()


def test_fp4_on_blackwell_runs_at_its_fp4_rate_and_editable_figures_win(world):
    scenario = make_scenario(world.a.org, gpu="B200 180GB", precision="FP4")
    (throughput,) = services.throughputs(scenario, list(scenario.workloads.all())).values()
    assert not any("dequantised" in note for note in throughput.notes)
    assert services.gpu_spec(scenario.gpu_model).fp4_dense_tflops == load_gpus()["B200 180GB"].fp4_dense_tflops
    own = GpuModel.objects.create(
        organization=world.a.org, name="H100 SXM 80GB", memory_gb=96, memory_bandwidth_tbps=3.35,
        bf16_tflops=989, fp8_tflops=1979, tdp_w=700,
    )  # fmt: skip
    spec = services.gpu_spec(own)
    assert spec.memory_gb == 96 and spec.interconnect_gb_s == load_gpus()["H100 SXM 80GB"].interconnect_gb_s


@pytest.mark.parametrize("name", ["MI300X", "Gaudi 3", "Intel Xeon 6980P (1 socket)"])
def test_scenarios_on_new_hardware_evaluate(world, name):
    scenario = make_scenario(world.a.org, gpu=name, precision="BF16", name=f"on {name}")
    scenario.workloads.update(requests_per_day=20_000, max_ms_per_output_token=200)  # a CPU socket is slow
    report = services.evaluate(scenario, as_of=AS_OF, draws=100)
    assert report.result.demand.gpus[-1] > 0
