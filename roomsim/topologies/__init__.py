"""Topologies behind one interface: mesh, MCU and SFU (see base.Topology)."""

from roomsim.topologies.base import Topology
from roomsim.topologies.mcu import McuTopology
from roomsim.topologies.mesh import MeshTopology
from roomsim.topologies.sfu import SfuTopology

TOPOLOGY_CLASSES: dict[str, type[Topology]] = {
    cls.name: cls for cls in (MeshTopology, McuTopology, SfuTopology)
}

__all__ = ["TOPOLOGY_CLASSES", "Topology"]
