"""SNMP collector against snmpsim serving recordings of three real APC Rack PDUs."""

import pytest

from telemetry.collectors import snmp
from telemetry.collectors.common import CollectorError
from telemetry.models import Source


def pdu_source(host, port, community, **options):
    return Source(
        name="pdu", kind=Source.Kind.SNMP, endpoint=f"{host}:{port}", timeout_s=1, token=community, options=options
    )


def test_three_apc_rack_pdus(snmp_agent):
    host, port = snmp_agent
    ap8641 = snmp.collect(pdu_source(host, port, "apc-8641"))
    values = {r.entity: r.value for r in ap8641.point_readings}
    assert values["pwr-dc01-pdu-rack1-01"] == 1210.0  # named by sysName
    assert values["pwr-dc01-pdu-rack1-01/phase/1"] == 1220.0
    assert values["pwr-dc01-pdu-rack1-01/outlet/19"] == 101.0
    assert len(values) == 26

    ap8932 = snmp.collect(pdu_source(host, port, "apc-8932", name="R3-A"))
    assert {(r.entity, r.value) for r in ap8932.point_readings} == {("R3-A", 160.0), ("R3-A/phase/1", 160.0)}

    assert snmp.collect(pdu_source(host, port, "apc-7902b")).point_readings == []  # current only, no power


def test_custom_columns_read_any_integer_table(snmp_agent):
    host, port = snmp_agent
    # rPDULoadStatusLoad (0.1 A per bank) read through a custom column: the OID map is data, not code.
    source = pdu_source(
        host,
        port,
        "apc-8641",
        profile="apc",
        columns={"phase": {"oid": "1.3.6.1.4.1.318.1.1.12.2.3.1.1.2", "scale": 1}},
    )
    values = {r.entity: r.value for r in snmp.collect(source).point_readings}
    assert [values[f"pwr-dc01-pdu-rack1-01/phase/{i}"] for i in (1, 2, 3)] == [66.0, 40.0, 25.0]


def test_errors_name_the_source(snmp_agent):
    host, port = snmp_agent
    with pytest.raises(CollectorError, match=rf"SNMP read of pdu \({host}:{port}\): No SNMP response"):
        snmp.collect(pdu_source(host, port, "wrong-community"))
    with pytest.raises(CollectorError, match="unknown SNMP profile 'cisco'"):
        snmp.collect(pdu_source(host, port, "apc-8641", profile="cisco"))
    with pytest.raises(CollectorError, match="endpoint must be host or host:port"):
        snmp.collect(Source(name="pdu", endpoint="pdu1:abc", timeout_s=1, token="x", options={}))


def test_collects_from_a_thread_that_already_runs_an_event_loop(snmp_agent):
    import asyncio

    host, port = snmp_agent

    async def from_async_code():
        return snmp.collect(pdu_source(host, port, "apc-8932", name="R3-A"))

    assert len(asyncio.run(from_async_code()).point_readings) == 2
