import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from telemetry.models import Gpu, Hall, Rack, Site


def full_clean_errors(obj):
    with pytest.raises(ValidationError) as err:
        obj.full_clean()
    return err.value.message_dict


def test_negative_capacities_are_rejected(world):
    hall = Hall(site=world.a.site, name="x", it_power_capacity_kw=-5, cooling_capacity_kw=0)
    errors = full_clean_errors(hall)
    assert {"it_power_capacity_kw", "cooling_capacity_kw"} <= errors.keys()


def test_gpu_uuid_format(world):
    gpu = Gpu(node=world.a.node, index=3, uuid="not-a-uuid", model=world.a.gpu.model)
    assert "uuid" in full_clean_errors(gpu)


def test_unknown_timezone(world):
    site = Site(organization=world.a.org, name="tz", timezone="Mars/Olympus")
    assert "IANA" in full_clean_errors(site)["timezone"][0]


def test_rack_position_must_fit_the_hall(world):
    world.a.hall.floor_positions = 10
    world.a.hall.save()
    rack = Rack(hall=world.a.hall, name="far", position=11, power_budget_kw=10)
    assert "10 positions" in full_clean_errors(rack)["position"][0]


def test_api_reports_errors_at_the_field(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.a.tokens['admin']}")
    response = client.post(
        "/api/halls/",
        {"site": world.a.site.id, "name": "bad", "it_power_capacity_kw": -1, "cooling_capacity_kw": 100},
        format="json",
    )
    assert response.status_code == 400
    assert "it_power_capacity_kw" in response.json()
    response = client.post(
        "/api/racks/", {"hall": world.a.hall.id, "name": world.a.rack.name, "power_budget_kw": 5}, format="json"
    )
    assert response.status_code == 400  # duplicate rack name in the hall, said clearly
    assert "already exists" in str(response.json())


def test_catalog_is_seeded_from_published_specs(db):
    from telemetry.models import GpuModel

    names = set(GpuModel.objects.values_list("name", flat=True))
    assert {"H100 SXM 80GB", "H100 PCIe 80GB", "H200 SXM 141GB", "B200 180GB", "A100 SXM 80GB", "L40S", "L4"} <= names
    h100 = GpuModel.objects.get(name="H100 SXM 80GB")
    assert (h100.memory_gb, h100.tdp_w, h100.bf16_tflops) == (80, 700, 989)
    assert "whitepaper" in h100.source
