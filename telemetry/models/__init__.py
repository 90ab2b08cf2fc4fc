from .inventory import (
    CoolingUnit,
    Gpu,
    GpuModel,
    Hall,
    Node,
    Pdu,
    Rack,
    Site,
)
from .tenancy import Membership, Organization, OrgQuerySet

__all__ = [
    "CoolingUnit",
    "Gpu",
    "GpuModel",
    "Hall",
    "Membership",
    "Node",
    "Organization",
    "OrgQuerySet",
    "Pdu",
    "Rack",
    "Site",
]
