"""Topologies behind one interface: mesh, MCU and SFU (see base.Topology); the name -> class
table a run picks from is `registry.TOPOLOGY_CLASSES`."""
