"""What the room's extensions cost beyond an ordinary participant.

The engine already simulates each extension as a participant: a SIP caller publishes and
receives G.711 over a link that includes its telephone leg; an egress subscribes to every
track (so its decodes are simulated on its decoder); an ingress publishes its simulcast
layers (so its encodes are simulated on its encoder). This module adds the work the
engine does not see, from the same cost profile, per second of the measurement interval:

* egress: compositing every received video track into one output frame (per tile, at the
  output resolution), encoding the output, mixing the audio (per input) and encoding it;
  the livestream's outgoing bitrate when `livestream` is set;
* ingress: decoding the incoming source stream once per frame; its incoming bitrate.

An egress or ingress with `runs_on: node` (the default) instead runs that work, and its
decodes and encodes, as jobs on its room's node (roomsim.extensions.node_jobs, SFU runs):
its row then reports the node CPU it measured, and its client CPU is zero. Mesh and MCU
runs have no node to put it on and cost it on its own host as above.

Transport overhead of the outside legs (RTMP/SRT/WHIP framing) is not counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roomsim.results.models import ExtensionResult
from roomsim.scenario.extensions import EgressSpec, IngressSpec, SipSpec
from roomsim.sim.metrics import NS
from roomsim.workload.world import AUDIO, VIDEO, World

if TYPE_CHECKING:
    from roomsim.topologies.base import Topology

#: Output audio of a recording/livestream: Opus at libwebrtc's default 32 kbps, 20 ms frames.
OUTPUT_AUDIO_KBPS = 32.0
OUTPUT_AUDIO_FPS = 50.0


class Extensions:
    """The SIP callers, egresses and ingresses of one run."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.members = [i for i, p in enumerate(world.participants) if p.group.kind in ("sip", "egress", "ingress")]

    def results(self, model: Topology) -> list[ExtensionResult]:
        """One row per extension participant."""
        w = self.world
        seconds = (w.end_capture_ns - w.warmup_ns) / NS
        links = w.links.counters
        busy = w.cpus.counters.get("measured", "busy_ns")
        out = []
        self._expected: dict[str, dict[str, float]] | None = None
        for i in self.members:
            p = w.participants[i]
            group = p.group
            engine_cores = float(busy[w.encoder[i]] + busy[w.decoder[i]]) / NS / seconds
            up = float(links.get("measured", "bytes")[w.uplink[i]]) * 8e-3 / seconds
            down = float(links.get("measured", "bytes")[w.downlink[i]]) * 8e-3 / seconds
            if group.kind == "sip":
                sip = group.sip or SipSpec()
                out.append(ExtensionResult(
                    id=p.id, kind="sip", cpu_cores=round(engine_cores, 5), output_kbps=round(up, 3),
                    input_kbps=round(down, 3),
                    notes=f"G.711 caller; telephone leg {sip.phone_leg_ms:g} ms each way, included in its latency"))
            elif group.kind == "egress":
                spec = group.egress or EgressSpec()
                stream_kbps = spec.output_bitrate_kbps + OUTPUT_AUDIO_KBPS
                output = stream_kbps if spec.livestream and spec.type == "room-composite" else 0.0
                if spec.type == "track":
                    output = down if spec.livestream else 0.0
                    what = "track egress: exports what it receives without transcoding"
                else:
                    what = (f"{spec.output_resolution} {spec.output_codec} at {spec.output_fps:g} fps, "
                            f"{stream_kbps:g} kbps {'livestreamed' if spec.livestream else 'recorded'}")
                row = self._on_node(model, i, seconds, "egress", output, down, what)
                if row is None:
                    extra = self._egress_cores(model, i, spec) if spec.type == "room-composite" else 0.0
                    row = ExtensionResult(
                        id=p.id, kind="egress", cpu_cores=round(engine_cores + extra, 5),
                        output_kbps=round(output, 3), input_kbps=round(down, 3), runs_on="own-host",
                        notes=(f"decodes {engine_cores:.3f} cores (simulated) + composite/encode {extra:.3f} "
                               f"cores of {p.budget_cores:g} on its own host; {what}"))
                out.append(row)
            else:
                spec_in = group.ingress or IngressSpec()
                what = (f"transcodes the {spec_in.source_resolution} {spec_in.source_codec} source into its layers"
                        if spec_in.transcoding else "passes the source through (no transcoding)")
                row = self._on_node(model, i, seconds, "ingress", up, spec_in.source_kbps, what)
                if row is None:
                    extra = spec_in.source_fps * w.costs.video_cost(
                        spec_in.source_codec, spec_in.source_resolution).decode_us / 1e6 / p.speed \
                        if spec_in.transcoding else 0.0
                    row = ExtensionResult(
                        id=p.id, kind="ingress", cpu_cores=round(engine_cores + extra, 5), output_kbps=round(up, 3),
                        input_kbps=round(spec_in.source_kbps, 3), runs_on="own-host",
                        notes=(f"{what} on its own host: source decode {extra:.3f} cores, layer encodes "
                               f"{engine_cores:.3f} cores (simulated)"))
                out.append(row)
        return out

    def _on_node(self, model: Topology, i: int, seconds: float, kind: str, output_kbps: float,
                 input_kbps: float, what: str) -> ExtensionResult | None:
        """The row of an extension whose work ran on its node (None if it did not)."""
        jobs = getattr(model, "extension_jobs", None)
        if jobs is None or i not in jobs.members:
            return None
        w = jobs.world
        cores = float(jobs.busy_ns[i]) / NS / seconds
        if self._expected is None:
            self._expected = model.expected()["participants"]
        want = self._expected[w.participants[i].id].get("extension_node_cpu_cores")
        node = model.servers.nodes[max(int(model.servers.home[i]), 0)].id  # type: ignore[attr-defined]
        return ExtensionResult(
            id=w.participants[i].id, kind=kind, cpu_cores=round(cores, 5), output_kbps=round(output_kbps, 3),
            input_kbps=round(input_kbps, 3), runs_on="node",
            expected_cpu_cores=None if want is None else round(float(want), 5),
            node_jobs_dropped=int(jobs.dropped[i]),
            notes=f"{what}; {cores:.3f} cores of node {node} (counted in its cpu_cores)")

    def _egress_cores(self, model: Topology, i: int, spec: EgressSpec) -> float:
        """Composite + output encode + audio mix + audio encode, cores on the egress host."""
        w = self.world
        received = model.received_streams(i)
        tiles = sum(1 for s in received if w.streams.kind[s] == VIDEO)
        audio_inputs = sum(1 for s in received if w.streams.kind[s] == AUDIO)
        costs = w.costs
        video_us = tiles * costs.composite_us_per_tile(spec.output_resolution) \
            + costs.video_cost(spec.output_codec, spec.output_resolution).encode_us
        audio_us = audio_inputs * costs.audio_mix_us_per_input + costs.audio_cost("opus").encode_us
        speed = w.participants[i].speed
        return (spec.output_fps * video_us + OUTPUT_AUDIO_FPS * audio_us) / 1e6 / speed
