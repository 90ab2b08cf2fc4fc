"""`register_gpu_host` against the NVML answers of the real H100 (tests/fixtures/nvml-recording)."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from telemetry.collectors import nvml
from telemetry.models import Gpu, Node, Source

RECORDING = Path(__file__).resolve().parents[2] / "fixtures" / "nvml-recording" / "h100-load.jsonl"


@pytest.fixture
def h100():
    return nvml.ReplayNvml(nvml.NvmlRecording.load(RECORDING), round=nvml.SETUP)


def test_registers_the_host_its_gpus_and_an_nvml_source_once(world, h100):
    (board,) = nvml.NvmlRecording.load(RECORDING).header["inventory"]
    for _ in range(2):  # a second run updates, it adds nothing
        call_command("register_gpu_host", rack=world.a.rack.name, hostname="gpu-host-1", interval=5, nvml=h100)

    gpu = Gpu.objects.get(uuid=board["uuid"])
    assert (gpu.node.hostname, gpu.node.rack, gpu.index) == ("gpu-host-1", world.a.rack, 0)
    assert gpu.model.name == "H100 SXM 80GB"  # 700 W power limit: the SXM board, not the 350 W PCIe card
    source = Source.objects.get(organization=world.a.org, kind=Source.Kind.NVML)
    assert (source.name, source.interval_s) == ("nvml gpu-host-1", 5)
    assert Gpu.objects.filter(node__hostname="gpu-host-1").count() == 1


def test_an_unknown_rack_or_model_is_a_clear_error(world, h100):
    with pytest.raises(CommandError, match="0 racks named 'nowhere'"):
        call_command("register_gpu_host", rack="nowhere", nvml=h100)
    with pytest.raises(CommandError, match="no GPU model named 'Z9000'"):
        call_command("register_gpu_host", rack=world.a.rack.name, model="Z9000", nvml=h100)
    assert not Gpu.objects.filter(node__hostname__startswith="gpu-host").exists()


def test_a_swapped_board_stops_it_and_the_old_gpu_keeps_its_history(world, h100):
    """Another GPU at the recorded board's index: no silent delete of the old GPU with its samples."""
    old = Gpu.objects.create(
        node=Node.objects.create(rack=world.a.rack, hostname="gpu-host-1"),
        index=0,
        uuid="GPU-11111111-2222-3333-4444-555555555555",
        model=world.a.gpu.model,
    )
    with pytest.raises(CommandError, match="gpu0 is registered as GPU-11111111-2222-3333-4444-555555555555"):
        call_command("register_gpu_host", rack=world.a.rack.name, hostname="gpu-host-1", nvml=h100)
    assert list(Gpu.objects.filter(node__hostname="gpu-host-1")) == [old]
    assert not Source.objects.filter(kind=Source.Kind.NVML).exists()
