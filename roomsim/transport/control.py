"""What a WebRTC call sends besides media: RTCP, transport-wide feedback, NACK, PLI and
ICE consent checks, on every link of every topology.

The rule (per RTP stream, per connection, per lossy packet):

* Sender report (RFC 3550 sec. 6.4.1: 8-byte header + 20-byte sender info) from the
  sender of every RTP stream (SSRC: each simulcast layer up to a server; one per track
  towards a receiver, as an SFU rewrites layers to one SSRC; one for all SVC layers), and
  a receiver report (header + one 24-byte report block,
  sec. 6.4.2) from its receiver, each once per report interval: 1 s for video, 5 s for
  audio, libwebrtc's fixed intervals (``kDefaultVideoReportInterval`` /
  ``kDefaultAudioReportInterval``, modules/rtp_rtcp/source/rtcp_sender.cc), which it uses
  instead of RFC 3550 sec. 6.2's bandwidth share; the interval is drawn in [0.5, 1.5] x
  (sec. 6.3.1), so the mean is the interval. Here each report keeps a fixed phase per
  stream, drawn per seed. Reduced-size RTCP (RFC 5506, negotiated by browsers with
  a=rtcp-rsize): no SDES in periodic reports.
* Transport-wide congestion-control feedback from the receiving side of every connection
  that carries media, every 100 ms (libwebrtc RemoteEstimatorProxy's default send
  interval): 12-byte feedback header + 8 bytes of base sequence, count, reference time and
  feedback count, one 2-byte run-length chunk and one 1-byte receive delta per packet
  received in the interval (draft-holmer-rmcat-transport-wide-cc-extensions-01 sec. 3.1),
  padded to 4 bytes.
* Generic NACK (RFC 4585 sec. 6.2.1: 12 + 4 bytes) for every retransmission asked for,
  on the reverse direction of the lossy hop's access link and, towards a server, on the
  node's NIC (in a mesh, the far peer's access link is not charged: per-link counters
  do not say which peer asked); PLI (sec. 6.3.1:
  12 bytes) for every keyframe request an SFU sends to a publisher.
* ICE consent freshness (RFC 7675): a STUN binding request and its response on each
  connection every 2.5 s, libwebrtc's ping interval on a stable selected connection
  (``STRONG_AND_STABLE_WRITABLE_CONNECTION_PING_INTERVAL``, p2p/base/connection.h); RFC
  7675 sec. 5.1 asks for at least one per ~5 s. Both peers of a mesh send them; towards a
  server only the client does (SFUs such as mediasoup are ICE-lite).
  Request: 20-byte header + USERNAME (4 + 12) + PRIORITY (8) + ICE-CONTROLLING (12) +
  GOOG-NETWORK-INFO (8) + MESSAGE-INTEGRITY (24) + FINGERPRINT (8) = 96 bytes; response:
  20 + XOR-MAPPED-ADDRESS (12) + MESSAGE-INTEGRITY (24) + FINGERPRINT (8) = 64 (RFC 8489
  sec. 14; RFC 8445 sec. 7.1.1).
* Every RTCP packet is SRTCP: + 4 bytes of E flag and index (RFC 3711 sec. 3.4) + the
  profile's tag; all ride in UDP over IPv4.

Reports travel on the path of their connection: a mesh peer's uplink and the other
peer's downlink; a client's access link and its node's NIC; a relayed connection's TURN
relay link too (without ChannelData's 4 bytes). A packet is counted on every link of its
path in the tick its schedule falls in. It is counted, not queued: control packets do not
pass through the links' FIFOs, so they take no capacity from media and cause no drops.
Their share is small (~9 kbps per peer connection with 1.5 Mbps video, ~0.6 %); queuing
them among the media packets in time order, whatever the tick, would need them in the
per-packet pipeline, which is not built. Not modelled either: control packets between
cascaded nodes on backbone links, and NACKs for repairs on links other than a client's
access links.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from roomsim.sim import headers
from roomsim.sim.kernels import LINK_COUNTERS
from roomsim.sim.kernels_control import lay_out_control, put_control
from roomsim.sim.rng import stream_key
from roomsim.workload.rates import stream_rate
from roomsim.workload.wire import srtp_tag_bytes

if TYPE_CHECKING:
    from roomsim.workload.world import World

IntArray = npt.NDArray[np.int64]

RTCP_SR_BYTES = 8 + 20
RTCP_RR_BYTES = 8 + 24
RTCP_TWCC_BASE_BYTES = 12 + 8 + 2
RTCP_NACK_BYTES = 12 + 4
RTCP_PLI_BYTES = 12
SRTCP_INDEX_BYTES = 4
STUN_REQUEST_BYTES = 20 + 16 + 8 + 12 + 8 + 24 + 8
STUN_RESPONSE_BYTES = 20 + 12 + 24 + 8
UDP_IP_BYTES = headers.IPV4_HEADER_BYTES + headers.UDP_HEADER_BYTES

VIDEO_REPORT_NS = 1_000_000_000
AUDIO_REPORT_NS = 5_000_000_000
FEEDBACK_NS = 100_000_000
CONSENT_NS = 2_500_000_000

#: How often the schedule re-reads the plan, and how far ahead it is laid out (5 s: every
#: interval above divides it, so with a tick that divides it too the layout repeats until
#: the plan changes).
CONTROL_REPLAN_NS = 1_000_000_000
CONTROL_LAYOUT_NS = 5_000_000_000

NACK_WIRE_BYTES = RTCP_NACK_BYTES + SRTCP_INDEX_BYTES + headers.SRTP_AUTH_TAG_BYTES + UDP_IP_BYTES
PLI_WIRE_BYTES = RTCP_PLI_BYTES + SRTCP_INDEX_BYTES + headers.SRTP_AUTH_TAG_BYTES + UDP_IP_BYTES

_NO_LINKS = np.zeros(0, dtype=np.int64)

#: Item kinds (phase keys and tests).
SR, RR, TWCC, STUN_REQUEST, STUN_RESPONSE = range(5)


def rtcp_wire_bytes(rtcp: int | npt.NDArray[np.int64], tag: int | npt.NDArray[np.int64]) -> IntArray:
    """Bytes on the wire of an RTCP packet of `rtcp` bytes under an SRTP tag."""
    return np.asarray(rtcp + SRTCP_INDEX_BYTES + tag + UDP_IP_BYTES, dtype=np.int64)


def twcc_bytes(packets: npt.NDArray[np.float64]) -> IntArray:
    """A feedback packet for `packets` received packets (before SRTCP/UDP/IP)."""
    raw = RTCP_TWCC_BASE_BYTES + np.ceil(packets).astype(np.int64)
    return raw + (-raw) % 4


@dataclass
class ControlItems:
    """Periodic control packets between endpoints. An endpoint is a participant (>= 0) or
    the node participant p is connected to (-1 - p)."""

    src: IntArray
    dst: IntArray
    interval_ns: IntArray
    size: IntArray
    kind: IntArray
    ident: IntArray  # what the packet is about (stream, or peer), for its phase

    def bps(self) -> npt.NDArray[np.float64]:
        """Mean bits per second of each item."""
        return self.size * 8e9 / self.interval_ns

    def pps(self) -> npt.NDArray[np.float64]:
        """Mean packets per second of each item."""
        return 1e9 / self.interval_ns


def srtp_tags(world: World) -> IntArray:
    """SRTCP tag bytes of each participant's connection (computed once a run)."""
    tags = getattr(world, "_srtp_tags", None)
    if tags is None:
        tags = np.array([srtp_tag_bytes(world.scenario, p.group) for p in world.participants], dtype=np.int64)
        world._srtp_tags = tags  # type: ignore[attr-defined]
    return tags


def _ssrc(world: World) -> IntArray:
    """An SSRC number per stream: SVC layers of a track share one (-1 - track)."""
    svc = np.array([spec.svc_offset_ns >= 0 for spec in world.streams.specs], dtype=bool)
    return np.where(svc, -1 - world.streams.track, np.arange(len(svc)))


def _node(p: IntArray) -> IntArray:
    return -1 - p


def control_items(world: World, uplink: npt.ArrayLike, receive: npt.ArrayLike, stream_pps: npt.NDArray[np.float64],
                  mesh: bool) -> ControlItems:
    """The periodic control packets of a plan: `uplink` (stream, copies) and `receive`
    (stream, receiver) rows, as the topologies hand them to `expected.closed_form`."""
    st = world.streams
    tag = srtp_tags(world)
    recv = np.asarray(receive, dtype=np.int64).reshape(-1, 2)
    r_stream, r_sub = recv[:, 0], recv[:, 1]
    interval = np.where(st.kind == 0, AUDIO_REPORT_NS, VIDEO_REPORT_NS).astype(np.int64)
    parts: list[tuple[IntArray, ...]] = []

    def add(src: IntArray, dst: IntArray, every: IntArray | int, rtcp: IntArray | int, kind: int, ident: IntArray,
            owner: IntArray) -> None:
        n = len(src)
        if n == 0:
            return
        size = rtcp_wire_bytes(np.broadcast_to(rtcp, n), tag[owner]) if kind < STUN_REQUEST \
            else np.broadcast_to(np.asarray(rtcp + UDP_IP_BYTES, dtype=np.int64), n)
        parts.append((src, dst, np.broadcast_to(np.asarray(every, dtype=np.int64), n), size,
                      np.full(n, kind, dtype=np.int64), ident))

    # one report per SSRC: a receiver gets one per track (an SFU rewrites simulcast layers
    # to one SSRC; SVC layers share one), a publisher sends one per simulcast layer
    n = len(world.participants)
    one = np.unique(st.track[r_stream] * n + r_sub, return_index=True)[1]
    t_stream, t_sub = r_stream[one], r_sub[one]
    if mesh:
        pub = st.pub[t_stream]
        add(pub, t_sub, interval[t_stream], RTCP_SR_BYTES, SR, t_stream, pub)
        add(t_sub, pub, interval[t_stream], RTCP_RR_BYTES, RR, t_stream, pub)
        pairs, inverse = np.unique(st.pub[r_stream] * n + r_sub, return_inverse=True)
        per_pair = np.bincount(inverse.ravel(), weights=stream_pps[r_stream], minlength=len(pairs))
        a, b = pairs // n, pairs % n
        add(b, a, FEEDBACK_NS, twcc_bytes(per_pair * FEEDBACK_NS / 1e9), TWCC, a, a)
        peers = np.unique(np.concatenate([pairs, b * n + a]))
        x, y = peers // n, peers % n
        add(x, y, CONSENT_NS, STUN_REQUEST_BYTES, STUN_REQUEST, y, x)
        add(y, x, CONSENT_NS, STUN_RESPONSE_BYTES, STUN_RESPONSE, y, x)
    else:
        sent = np.asarray(uplink, dtype=np.int64).reshape(-1, 2)
        up = sent[(sent[:, 1] > 0) & (st.pub[sent[:, 0]] >= 0), 0]
        pub = st.pub[up]
        ssrc = up[np.unique(_ssrc(world)[up], return_index=True)[1]]
        add(st.pub[ssrc], _node(st.pub[ssrc]), interval[ssrc], RTCP_SR_BYTES, SR, ssrc, st.pub[ssrc])
        add(_node(st.pub[ssrc]), st.pub[ssrc], interval[ssrc], RTCP_RR_BYTES, RR, ssrc, st.pub[ssrc])
        add(_node(t_sub), t_sub, interval[t_stream], RTCP_SR_BYTES, SR, t_stream, t_sub)
        add(t_sub, _node(t_sub), interval[t_stream], RTCP_RR_BYTES, RR, t_stream, t_sub)
        up_pps = np.bincount(pub, weights=stream_pps[up], minlength=n)
        down_pps = np.bincount(r_sub, weights=stream_pps[r_stream], minlength=n)
        senders, receivers = np.flatnonzero(up_pps > 0), np.flatnonzero(down_pps > 0)
        add(_node(senders), senders, FEEDBACK_NS, twcc_bytes(up_pps[senders] * FEEDBACK_NS / 1e9), TWCC, senders,
            senders)
        add(receivers, _node(receivers), FEEDBACK_NS, twcc_bytes(down_pps[receivers] * FEEDBACK_NS / 1e9), TWCC,
            receivers, receivers)
        clients = np.union1d(senders, receivers)
        add(clients, _node(clients), CONSENT_NS, STUN_REQUEST_BYTES, STUN_REQUEST, clients, clients)
        add(_node(clients), clients, CONSENT_NS, STUN_RESPONSE_BYTES, STUN_RESPONSE, clients, clients)
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return ControlItems(empty, empty, empty, empty, empty, empty)
    cols = [np.concatenate([np.asarray(p[i], dtype=np.int64) for p in parts]) for i in range(6)]
    return ControlItems(*cols)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finalizer (as kernels._uniform), vectorized."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class ControlTraffic:
    """The control packets of one run, on the links (built by the topology's plan)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.enabled = bool(world.scenario.wire.control_traffic)
        self.node_links: tuple[IntArray, IntArray] | None = None
        #: the links' retransmission counters (LinkTransports.repair), for NACKs
        self.repair: IntArray | None = None
        self.key = np.uint64(stream_key(world.seed, "control"))
        self.items: ControlItems | None = None
        self.periodic = False
        #: when `follow` next re-reads the plan; the plan and layout it last used
        self.next_check = 0
        self._layout_end = 0
        self._last: tuple[IntArray, ...] | None = None
        self._stream_pps: npt.NDArray[np.float64] | None = None
        #: (src, dst endpoints) -> the TURN relay link each item crosses, or -1 (set by a
        #: topology with relays)
        self.relay_link: Callable[[IntArray, IntArray], IntArray] | None = None
        n_links = len(world.links.rate_bps)
        self.rtx_seen = np.zeros(n_links, dtype=np.int64)
        #: per link: the CPU pool that handles each packet crossing it, and its cost in ns
        #: per packet and per wire byte (an SFU's NICs: its server profile's receive or
        #: send cost; set by the topology)
        self.cpu_pool = np.full(n_links, -1, dtype=np.int64)
        self.cpu_ns = np.zeros((n_links, 2), dtype=np.float64)
        self.reverse = np.arange(n_links, dtype=np.int64)
        self.reverse[world.uplink] = world.downlink
        self.reverse[world.downlink] = world.uplink
        self.access = np.zeros(n_links, dtype=bool)
        self.access[world.uplink] = self.access[world.downlink] = True

    def follow(self, plan: tuple[IntArray, IntArray], node_links: tuple[IntArray, IntArray] | None, t0: int,
               t1: int) -> None:
        """Re-read the topology's plan (`Topology.wire_plan`) at tick [t0, t1): lay the
        schedule out again if the plan or a node changed, or if the layout ends before the
        next check (which may come a tick late)."""
        self.next_check = t0 + CONTROL_REPLAN_NS
        current = (*plan, *(node_links or ()))
        same = self._last is not None and len(current) == len(self._last) and all(
            np.array_equal(a, b) for a, b in zip(current, self._last, strict=True))
        expiring = not self.periodic and self.next_check + (t1 - t0) >= self._layout_end
        if same and not expiring:
            return
        w = self.world
        if self._stream_pps is None:  # stream rates are fixed for the run
            self._stream_pps = np.array([stream_rate(w, s).pps for s in range(len(w.streams))])
        self._last = current
        self._layout_end = t0 + CONTROL_LAYOUT_NS
        self.plan(control_items(w, *plan, self._stream_pps, mesh=node_links is None), node_links, t0,
                  self._layout_end, t1 - t0)

    def plan(self, items: ControlItems, node_links: tuple[IntArray, IntArray] | None, t_start: int, t_end: int,
             tick_ns: int) -> None:
        """Replace the periodic schedule for the ticks of [t_start, t_end). `node_links`:
        per participant, the NIC-in and NIC-out links of its node (None: no server, a
        mesh). The schedule is laid out per tick and link at once (one table lookup a tick);
        a span that is a multiple of every interval and of the tick repeats after its end."""
        w = self.world
        self.items = items
        self.node_links = node_links
        if node_links is not None:  # a NACK about a client's uplink leaves its node; one
            # about its downlink enters it
            self.node_end = np.arange(len(w.links.rate_bps), dtype=np.int64)
            self.node_end[w.uplink] = node_links[1]
            self.node_end[w.downlink] = node_links[0]
        src, dst = items.src, items.dst
        link_a = np.where(src >= 0, w.uplink[np.maximum(src, 0)], -1)
        link_b = np.where(dst >= 0, w.downlink[np.maximum(dst, 0)], -1)
        if node_links is not None:
            nic_in, nic_out = node_links
            link_a = np.where(src < 0, nic_out[-1 - np.minimum(src, -1)], link_a)
            link_b = np.where(dst < 0, nic_in[-1 - np.minimum(dst, -1)], link_b)
        ident = (items.kind.astype(np.uint64) << np.uint64(56)) ^ (items.ident.astype(np.uint64) << np.uint64(28)) \
            ^ (src + (1 << 20)).astype(np.uint64) ^ ((dst + (1 << 20)).astype(np.uint64) << np.uint64(40))
        phase = (_mix(ident ^ self.key) % items.interval_ns.astype(np.uint64)).astype(np.int64)
        n_links = len(w.links.rate_bps)
        self.t_start, self.tick_ns = t_start, tick_ns
        n_ticks = int(-(-(t_end - t_start) // tick_ns))
        hops = [link_a, link_b]
        if self.relay_link is not None:  # a relayed connection's packets also cross the relay
            hops.append(self.relay_link(src, dst))
        packets = np.zeros((n_ticks, n_links), dtype=np.int64)
        nbytes = np.zeros((n_ticks, n_links), dtype=np.int64)
        lay_out_control(phase, items.interval_ns.astype(np.int64), items.size.astype(np.int64),
                        np.stack(hops).astype(np.int64), t_start, t_end, tick_ns, packets, nbytes)
        #: the schedule repeats when the span is a whole number of ticks and of every interval
        self.periodic = (t_end - t_start) % tick_ns == 0 and bool(np.all((t_end - t_start) % items.interval_ns == 0))
        self.n_rows = n_ticks
        row, link = np.nonzero(packets)  # row-major: each tick's links together
        self.row_ptr = np.searchsorted(row, np.arange(n_ticks + 1))
        self.row_link, self.row_packets, self.row_bytes = link, packets[row, link], nbytes[row, link]

    def emit(self, t0: int, t1: int, window: int, measuring: bool, pli_pub: IntArray) -> None:
        """Put this tick's control packets on their links: the periodic ones, one NACK per
        retransmission sent since the last tick, and the PLIs given."""
        if not self.enabled or self.items is None:
            return
        w = self.world
        table = w.links
        r = (t0 - self.t_start) // self.tick_ns
        if self.periodic:
            r %= self.n_rows
        lo, hi = self.row_ptr[r], self.row_ptr[r + 1]
        on, packets, nbytes = self.row_link[lo:hi], self.row_packets[lo:hi], self.row_bytes[lo:hi]
        if len(pli_pub):
            pli_links = w.downlink[pli_pub]
            if self.node_links is not None:
                pli_links = np.concatenate([pli_links, self.node_links[1][pli_pub]])
        else:
            pli_links = _NO_LINKS
        repair = self.repair[:, 0] if self.repair is not None else _NO_LINKS
        node_end = self.node_end if self.node_links is not None else _NO_LINKS
        counts = table.counters.pending(LINK_COUNTERS, window, measuring)
        busy, jobs, _ = w.cpus.pending(window, measuring)
        put_control(on, packets, nbytes, repair, self.rtx_seen, self.access, self.reverse, node_end, NACK_WIRE_BYTES,
                    pli_links, PLI_WIRE_BYTES, counts, self.cpu_pool, self.cpu_ns, busy, jobs)
