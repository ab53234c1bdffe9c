"""The topologies a scenario may name, by name: filled here, above every topology module, so
that importing one topology (or the base class) never imports the others."""

from roomsim.topologies.base import Topology
from roomsim.topologies.mcu import McuTopology
from roomsim.topologies.mesh import MeshTopology
from roomsim.topologies.sfu import SfuTopology

TOPOLOGY_CLASSES: dict[str, type[Topology]] = {
    cls.name: cls for cls in (MeshTopology, McuTopology, SfuTopology)
}
