"""The data plane as simpy processes: messages, streams, RPC, attributes, room metadata.

Data is sparse next to media (a few messages a second), so every packet is its own simpy
process and every queue sees its arrivals in simulated-time order, exactly. Paths:

* data channel, SFU/MCU: sender -> its uplink -> the media node -> each recipient's
  downlink, one SCTP association per participant and the node (hop by hop, as an SFU
  terminates SCTP); mesh: one association per pair, over the sender's uplink and the
  recipient's downlink;
* signalling (attributes, room metadata): the participant's WebSocket to the server, and
  the server's WebSockets to everyone else; room metadata starts at the server.

Each hop is reliable and ordered (SCTP DATA on a reliable channel, TCP under a WebSocket)
or lossy (a data channel with maxRetransmits 0: loss is loss, no ordering). A lost packet
of a reliable hop is resent one RTO after it was sent, the RTO doubling on each try
(RFC 4960 sec. 6.3.3 / RFC 6298 sec. 5.5); estimators per RFC 4960 sec. 6.3.1 with
dcsctp's bounds, or Linux's for TCP (roomsim.dataplane.wire). Fast retransmit is not
modelled: with a few packets a round trip it rarely has three reports to act on.

Modelling choices: data packets see their access links' rate, delay, jitter and loss but
queue only behind other data (not behind media); acknowledgements are not lost and cost
one SACK (or bare TCP ACK) per packet received; relaying at the node is instantaneous.
The run ends when the media has drained: data still being retransmitted then is neither
delivered nor counted as lost.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import simpy

from roomsim.dataplane import wire
from roomsim.results.models import DataPlaneResult, DataResult, Percentiles
from roomsim.sim.kernels import _uniform
from roomsim.sim.metrics import NS
from roomsim.sim.rng import generator, stream_key
from roomsim.transport.tcp import TCP_ACK_BYTES
from roomsim.workload.world import World

if TYPE_CHECKING:
    from roomsim.topologies.base import Topology

SERVER = -1


class DataLink:
    """One direction of a participant's access link, as the data plane sees it."""

    def __init__(self, world: World, i: int, direction: str, lane: str) -> None:
        net = world.networks[i]
        group = world.participants[i].group
        self.rate_bps = (net.uplink_kbps if direction == "up" else net.downlink_kbps) * 1000
        self.delay_ns = round((net.rtt_ms / 2 + group.extra_one_way_ms()) * 1e6)
        self.jitter_ns = net.jitter_ms * 1e6
        self.loss = net.loss_pct / 100
        self.key = np.uint64(stream_key(world.seed, f"{lane}:{world.participants[i].id}/{direction}"))
        self.busy_until = 0
        self.last_out = 0
        self.sent = 0

    def transmit(self, now: int, size: int) -> int:
        """Arrival time at the far end of a packet handed over at `now`, or -1 if lost."""
        n = self.sent
        self.sent += 1
        done = max(now, self.busy_until) + round(size * 8e9 / self.rate_bps)
        self.busy_until = done
        arrive = done + self.delay_ns
        if self.loss > 0 or self.jitter_ns > 0:
            u = float(_uniform(self.key, np.int64(n)))
            if u < self.loss:
                return -1
            r = min((u - self.loss) / (1 - self.loss), 1 - 1e-16)
            arrive += round(-self.jitter_ns * np.log1p(-r))
        arrive = max(arrive, self.last_out)
        self.last_out = arrive
        return arrive


@dataclass
class Message:
    """One application message (or RPC request/response, or signalling update)."""

    src: int
    dst: int
    size: int
    created: int
    kind: str  # "message", "rpc-request", "rpc-response", "attributes", "metadata"
    reliable: bool = True
    call: int = -1  # RPC call id
    measured: bool = True


@dataclass
class Hop:
    """One direction of one association over one or two links, with its RTO state."""

    links: list[DataLink]
    reliable: bool
    tcp: bool
    src: int  # participant whose bytes it sends (SERVER for the node)
    dst: int
    srtt: float = 0.0
    rttvar: float = 0.0
    rto: int = 0
    next_seq: int = 0
    expect: int = 0
    waiting: dict[int, tuple[Message | None, Callable[[], object] | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        path = sum(link.delay_ns for link in self.links)
        self.srtt = 2.0 * path
        self.rttvar = self.srtt / 2
        self._set_rto()

    def _set_rto(self) -> None:
        if self.tcp:
            self.rto = min(round(self.srtt + max(4 * self.rttvar, wire.TCP_RTO_MIN_NS)), wire.TCP_RTO_MAX_NS)
        else:
            self.rto = min(max(round(self.srtt + 4 * self.rttvar), wire.SCTP_RTO_MIN_NS), wire.SCTP_RTO_MAX_NS)

    def sample(self, rtt_ns: float) -> None:
        """RFC 4960 sec. 6.3.1 / RFC 6298 sec. 2.3 estimator update."""
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt_ns)
        self.srtt = 0.875 * self.srtt + 0.125 * rtt_ns
        self._set_rto()


class DataPlane:
    """Every data-plane process of a run, and its counters."""

    def __init__(self, world: World, model: Topology) -> None:
        self.world = world
        self.env = world.env
        self.mesh = model.name == "mesh"
        n = len(world.participants)
        self.up = [DataLink(world, i, "up", "data") for i in range(n)]
        self.down = [DataLink(world, i, "down", "data") for i in range(n)]
        self.sig_up = [DataLink(world, i, "up", "signal") for i in range(n)]
        self.sig_down = [DataLink(world, i, "down", "signal") for i in range(n)]
        self.hops: dict[tuple[str, int, int, bool], Hop] = {}
        self.sent_bytes = np.zeros(n)
        self.received_bytes = np.zeros(n)
        self.messages_sent = np.zeros(n, dtype=np.int64)
        self.messages_received = np.zeros(n, dtype=np.int64)
        self.messages_lost = np.zeros(n, dtype=np.int64)
        self.latency: list[list[float]] = [[] for _ in range(n)]
        self.rpc_rtt: list[list[float]] = [[] for _ in range(n)]
        self.attribute_latency: list[list[float]] = [[] for _ in range(n)]
        self.metadata_latency: list[float] = []
        self.calls: dict[int, tuple[int, float]] = {}  # call id -> (response bytes, handler ms)
        self.active = any(p.group.data.sends_anything() for p in world.participants) or any(
            r.metadata is not None for r in world.scenario.rooms)

    # -- clocks -----------------------------------------------------------------------------
    def _ns(self) -> int:
        return round(self.env.now * NS)

    def _measuring(self, t: int) -> bool:
        return self.world.warmup_ns <= t < self.world.end_capture_ns

    def start(self) -> None:
        """One generator process per data spec."""
        w = self.world
        for i, p in enumerate(w.participants):
            members = w.room_members[p.room]
            others = [j for j in members if j != i]
            ids = {w.participants[j].id: j for j in members}
            data = p.group.data
            for k, m in enumerate(data.messages):
                to = [ids[x] for x in m.to] if m.to else others
                self.env.process(self._every(i, f"msg{k}", m.every_s,
                                             partial(self._message, i, to, m.bytes, m.reliable, "message")))
            for k, st in enumerate(data.streams):
                to = [ids[x] for x in st.to] if st.to else others
                self.env.process(self._every(i, f"stream{k}", st.every_s,
                                             partial(self._stream, i, to, st.bytes, st.chunk_bytes)))
            for k, c in enumerate(data.rpc):
                self.env.process(self._every(i, f"rpc{k}", c.every_s, partial(
                    self._call, i, ids[c.to], c.request_bytes, c.response_bytes, c.handler_ms)))
            if data.attributes is not None:
                a = data.attributes
                self.env.process(self._every(i, "attributes", a.every_s,
                                             partial(self._signal, i, others, a.bytes, "attributes")))
        for r, room in enumerate(w.scenario.rooms):
            if room.metadata is not None:
                meta = room.metadata
                self.env.process(self._every(SERVER, f"metadata:{room.id}", meta.every_s,
                                             partial(self._metadata, w.room_members[r], meta.bytes),
                                             first_s=meta.first_s))

    def _every(self, i: int, name: str, every_s: float, make: Callable[[], None],
               first_s: float | None = None) -> Generator[simpy.Event, None, None]:
        """Call `make` every `every_s` from a random phase while the sender is present."""
        w = self.world
        owner = w.participants[i].id if i >= 0 else "server"
        rng = generator(w.seed, f"data:{owner}:{name}")
        yield self.env.timeout(first_s if first_s is not None else float(rng.uniform(0, every_s)))
        while self._ns() < w.end_capture_ns:
            if i < 0 or w.present[i]:
                make()
            yield self.env.timeout(every_s)

    # -- message kinds ----------------------------------------------------------------------
    def _message(self, src: int, to: list[int], size: int, reliable: bool, kind: str) -> None:
        now = self._ns()
        self.messages_sent[src] += 1
        self._route([Message(src, dst, size, now, kind, reliable, measured=self._measuring(now))
                     for dst in to if self.world.present[dst]])

    def _stream(self, src: int, to: list[int], size: int, chunk: int) -> None:
        """A text/byte stream: a header, chunks, a trailer, all reliable (one message each)."""
        now = self._ns()
        self.messages_sent[src] += 1
        remaining = size
        while remaining > 0:
            piece = min(chunk, remaining)
            remaining -= piece
            kind = "message" if remaining == 0 else "stream-chunk"
            self._route([Message(src, dst, piece, now, kind, True, measured=self._measuring(now))
                         for dst in to if self.world.present[dst]])

    def _call(self, src: int, dst: int, request: int, response: int, handler_ms: float) -> None:
        if not self.world.present[dst]:
            return
        now = self._ns()
        call = len(self.calls)
        self.calls[call] = (response, handler_ms)
        self.messages_sent[src] += 1
        self._route([Message(src, dst, request, now, "rpc-request", True, call, self._measuring(now))])

    def _signal(self, src: int, to: list[int], size: int, kind: str) -> None:
        now = self._ns()
        self.messages_sent[src] += 1
        message = Message(src, SERVER, size, now, kind, True, measured=self._measuring(now))

        def fan_out() -> None:
            for dst in to:
                if self.world.present[dst]:
                    self._send(self._hop("signal", SERVER, dst),
                               Message(SERVER, dst, size, now, kind, True, measured=message.measured))

        self._send(self._hop("signal", src, SERVER), message, then=fan_out)

    def _metadata(self, members: list[int], size: int) -> None:
        now = self._ns()
        for dst in members:
            if self.world.present[dst]:
                self._send(self._hop("signal", SERVER, dst),
                           Message(SERVER, dst, size, now, "metadata", True, measured=self._measuring(now)))

    # -- routing ----------------------------------------------------------------------------
    def _route(self, copies: list[Message]) -> None:
        """One message to several recipients over the data channel: one copy per peer in
        a mesh; one copy up to the node, then one down to each recipient, otherwise."""
        if not copies:
            return
        if self.mesh:
            for message in copies:
                self._send(self._hop("data", message.src, message.dst, message.reliable), message)
            return
        first = copies[0]
        up = Message(first.src, SERVER, first.size, first.created, first.kind, first.reliable, first.call,
                     first.measured)
        def fan_out() -> None:
            for m in copies:
                self._send(self._hop("data", SERVER, m.dst, m.reliable), m)

        self._send(self._hop("data", first.src, SERVER, first.reliable), up, then=fan_out)

    def _hop(self, lane: str, src: int, dst: int, reliable: bool = True) -> Hop:
        key = (lane, src, dst, reliable)
        hop = self.hops.get(key)
        if hop is None:
            if lane == "signal":
                links = [self.sig_up[src]] if dst == SERVER else [self.sig_down[dst]]
            elif src == SERVER:
                links = [self.down[dst]]
            elif dst == SERVER:
                links = [self.up[src]]
            else:
                links = [self.up[src], self.down[dst]]
            hop = Hop(links, reliable, lane == "signal", src, dst)
            self.hops[key] = hop
        return hop

    def _send(self, hop: Hop, message: Message, then: Callable[[], object] | None = None) -> None:
        """Fragment a message onto a hop; `then` runs when the whole message is delivered."""
        pieces = wire.fragments(message.size, hop.tcp)
        for k, piece in enumerate(pieces):
            seq = hop.next_seq
            hop.next_seq += 1
            last = k == len(pieces) - 1
            self.env.process(self._fly(hop, seq, piece, message if last else None, then if last else None))

    def _wire(self, hop: Hop, piece: int) -> int:
        if hop.tcp:
            return wire.websocket_message_bytes(piece, client_to_server=hop.dst == SERVER)
        return wire.sctp_packet_bytes(piece)

    def _fly(self, hop: Hop, seq: int, piece: int, message: Message | None,
             then: Callable[[], object] | None) -> Generator[simpy.Event, None, None]:
        """One packet over its hop, resent one RTO after each lost try (reliable hops)."""
        size = self._wire(hop, piece)
        tries = 0
        while True:
            sent = self._ns()
            if hop.src >= 0 and self._measuring(sent):
                self.sent_bytes[hop.src] += size
            lost = False
            for link in hop.links:
                arrive = link.transmit(self._ns(), size)
                if arrive < 0:
                    lost = True
                    break
                yield self.env.timeout(max(0.0, arrive / NS - self.env.now))
            if not lost:
                break
            if not hop.reliable or tries >= wire.SCTP_MAX_RETRANSMISSIONS:
                if message is not None and hop.dst >= 0:
                    self.messages_lost[hop.dst] += 1
                return
            tries += 1
            yield self.env.timeout(max(0.0, (sent + hop.rto * 2 ** (tries - 1)) / NS - self.env.now))
        now = self._ns()
        if hop.dst >= 0 and self._measuring(sent):
            self.received_bytes[hop.dst] += size
            self.sent_bytes[hop.dst] += TCP_ACK_BYTES if hop.tcp else wire.sctp_sack_bytes()
        if tries == 0:  # Karn: RTT samples from first transmissions only
            back = sum(link.delay_ns for link in hop.links)
            hop.sample(now - sent + back)
        if not hop.reliable:
            self._deliver(hop, message, then)
            return
        hop.waiting[seq] = (message, then)
        while hop.expect in hop.waiting:
            done_message, done_then = hop.waiting.pop(hop.expect)
            hop.expect += 1
            self._deliver(hop, done_message, done_then)

    def _deliver(self, hop: Hop, message: Message | None, then: Callable[[], object] | None) -> None:
        """A whole message has arrived in order at the far end of a hop."""
        if message is None:
            return
        if then is not None:
            then()
            return
        now = self._ns()
        dst = message.dst
        if dst < 0:
            return
        latency_ms = (now - message.created) / 1e6
        if message.kind == "metadata":
            if message.measured:
                self.metadata_latency.append(latency_ms)
            return
        if message.kind != "stream-chunk":
            self.messages_received[dst] += 1
        if message.kind == "attributes":
            if message.measured:
                self.attribute_latency[dst].append(latency_ms)
        elif message.kind == "message":
            if message.measured:
                self.latency[dst].append(latency_ms)
        elif message.kind == "rpc-request":
            response, handler_ms = self.calls[message.call]
            self.env.process(self._respond(message, response, handler_ms))
        elif message.kind == "rpc-response" and message.measured:
            self.rpc_rtt[dst].append(latency_ms)

    def _respond(self, request: Message, size: int, handler_ms: float) -> Generator[simpy.Event, None, None]:
        """The callee's handler runs, then the response goes back (RTT counts from the call)."""
        yield self.env.timeout(handler_ms / 1e3)
        self._route([Message(request.dst, request.src, size, request.created, "rpc-response", True, request.call,
                             request.measured)])

    # -- results ----------------------------------------------------------------------------
    def participant_result(self, i: int) -> DataResult:
        """The data plane as participant i saw it."""
        w = self.world
        seconds = (w.end_capture_ns - w.warmup_ns) / NS
        return DataResult(sent_kbps=round(self.sent_bytes[i] * 8e-3 / seconds, 3),
                          received_kbps=round(self.received_bytes[i] * 8e-3 / seconds, 3),
                          messages_sent=int(self.messages_sent[i]), messages_received=int(self.messages_received[i]),
                          messages_lost=int(self.messages_lost[i]), message_latency_ms=_pct(self.latency[i]),
                          rpc_rtt_ms=_pct(self.rpc_rtt[i]), attribute_latency_ms=_pct(self.attribute_latency[i]))

    def run_result(self) -> DataPlaneResult:
        """Room-wide totals."""
        w = self.world
        seconds = (w.end_capture_ns - w.warmup_ns) / NS
        return DataPlaneResult(
            messages_sent=int(self.messages_sent.sum()), deliveries=int(self.messages_received.sum()),
            lost=int(self.messages_lost.sum()),
            wire_kbps=round(float(self.sent_bytes.sum()) * 8e-3 / seconds, 3),
            message_latency_ms=_pct(_flat(self.latency)), rpc_rtt_ms=_pct(_flat(self.rpc_rtt)),
            attribute_latency_ms=_pct(_flat(self.attribute_latency)), metadata_latency_ms=_pct(self.metadata_latency))


def _flat(lists: list[list[float]]) -> list[float]:
    return [x for values in lists for x in values]


def _pct(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(p50=None, p95=None, p99=None, samples=0)
    p50, p95, p99 = np.percentile(np.array(values), [50, 95, 99])
    return Percentiles(p50=round(float(p50), 3), p95=round(float(p95), 3), p99=round(float(p99), 3),
                       samples=len(values))
