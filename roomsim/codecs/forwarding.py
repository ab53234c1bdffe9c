"""The one-constant per-packet SFU cost roomsim used before server profiles, and its derivation.

The SFU now charges each node's server profile (roomsim/codecs/server_profiles.py): a
fixed plus a per-byte part, fitted by experiments/reference/fit_profiles.py. This
constant lives on as the `legacy-17us` profile (to cross-check against) and as the
`forwarding` entry of cost profile files, which the engine no longer reads.

The figure is core-microseconds per packet, where one "core" is one vCPU (one hardware
thread, as cloud providers sell them) of a 2019-2020 server x86 CPU. It covers everything a
production SFU does per packet: UDP receive/send syscalls, SRTP decrypt/encrypt, RTP header
rewriting, NACK/RTX buffering, RTCP and congestion-control feedback, layer selection. Read a
simulated node's `cores` as vCPUs.

Primary source: LiveKit, "Benchmarking", https://docs.livekit.io/transport/self-hosting/benchmark/
(section "Benchmarks"; same table in the older https://docs.livekit.io/oss/benchmark).
Server: Google Cloud `c2-standard-16` = 16 vCPU (8 physical Intel Cascade Lake cores with
hyper-threading; https://cloud.google.com/compute/docs/compute-optimized-machines).
`lk load-test` clients; 720p simulcast video, audio as blank packets at a target bitrate.

    scenario              pubs  subs  packets/s in / out  CPU  vCPU busy  us/packet (in+out)
    large audio room        10  3000     305 / 959,156    80%    12.80    12.80e6/959,461 = 13.3
    large meeting (video)  150   150  51,068 / 762,749    85%    13.60    13.60e6/813,817 = 16.7
    livestream (video)       1  3000     246 / 560,962    92%    14.72    14.72e6/561,208 = 26.2

Cost grows with packet size (SRTP and copies are per byte): the audio room's packets average
7.3 kB/s / 305 = 24 B (blank audio), the livestream's 531 MB/s / 560,962 = 947 B. A two-point
fit gives ~13 us + 0.014 us/byte (it predicts 15.4 us for the meeting row's 176-byte mean
packet, vs 16.7 measured); this module keeps one per-packet figure (the contract in
`costs.ForwardingCost`) and takes the full-star meeting row, the only mixed workload in the
table: 16.7 -> 17 us. It under-charges the livestream's 947-byte packets by ~35 % and
over-charges tiny audio packets by ~25 %.

Cross-checks (independent systems, older or coarser data):

* Jitsi Videobridge (Java), Grozev & Ivov, "Jitsi Videobridge Performance Evaluation",
  https://jitsi.org/jitsi-videobridge-performance-evaluation/ (2014). Quad-core Xeon
  E5-1620 v2 @ 3.70 GHz (4 cores / 8 threads), one full-star conference of K = 33
  endpoints, 515 kbps audio+video per endpoint, K(K-1) = 1,056 streams out, ~550 Mbps
  in+out, "about 20 % CPU" (top's %Cpu(s), i.e. of all 8 threads) -> 1.6 threads busy.
  The post gives no packet rate; assuming ~50 audio packets/s (20 ms Opus frames) plus
  ~475 kbps of video in ~1,100-byte packets (~54 packets/s), each stream couple is ~104
  packets/s: 1,056 x 104 = 110k out + 32 senders x 104 = 3.3k in -> 1.6e6 / 113k = ~14 us per
  thread (~7 us per physical core). The packet-size split is our assumption, not theirs.
* mediasoup (C++), "Scalability", https://mediasoup.org/documentation/v3/scalability/ :
  one worker (one CPU core) "can typically handle over ~500 consumers in total". No
  bitrate is given; with half audio consumers at 50 packets/s and half 0.5-1 Mbps video
  consumers at ~57-114 packets/s (1,100-byte packets; our assumption), 500 consumers are
  ~27k-41k packets/s per saturated core -> ~24-37 us per packet, an upper bound since the
  statement says "over".

Spread: 13-37 us per packet across the three systems (x2.8); the LiveKit rows alone span
13-26 us. The chosen 17 us sits in the lower half, as does the most comparable
independent point (Jitsi, ~14 us).

Ingress vs egress: none of these benchmarks separates receive-side from send-side cost
(in every row above over 94 % of packets are egress). Charging a received packet the same
as a sent one is a modelling choice: both do one SRTP operation, one syscall and one
buffer/rewrite step per packet.
"""

from roomsim.codecs.costs import ForwardingCost

FORWARDING_COST = ForwardingCost(
    ingress_us_per_packet=17.0,
    egress_us_per_packet=17.0,
    source=(
        "LiveKit benchmark, large meeting (150 pubs/150 subs, 813,817 packets/s at 85% of "
        "16 vCPU c2-standard-16 = 16.7 vCPU-us/packet), "
        "https://docs.livekit.io/transport/self-hosting/benchmark/ 'Benchmarks'; "
        "cross-checked with Jitsi Videobridge performance evaluation (~14 us, 2014) and "
        "mediasoup scalability doc (~500 consumers/core, <=24-37 us); ingress = egress is "
        "a modelling choice"
    ),
)
