"""The SFU's behaviour as real SFUs implement it: per-subscriber bandwidth estimation and
layer allocation, keyframe requests, dynacast, speaker-driven forwarding, TURN relays and
cascading across regions. `roomsim.topologies.sfu` wires these into the packet pipeline."""
