"""Access-network presets: what a participant's link to the internet looks like.

Each preset gives the access link in both directions and the path to a nearby server:

* ``uplink_kbps`` / ``downlink_kbps``: bottleneck rate of the access link, kbit/s.
* ``rtt_ms``: round trip between the client and the internet core / a nearby server, idle.
* ``jitter_ms``: mean delay variation added per packet.
* ``loss_pct``: random (non-congestion) loss, percent of packets.
* ``queue_ms``: bottleneck buffer depth expressed as the longest queueing delay it allows
  before drop-tail; the bufferbloat literature shows this varies from a few ms (AQM) to
  seconds (Gettys & Nichols, "Bufferbloat: Dark Buffers in the Internet", ACM Queue 9(11),
  2011; Chirichella & Rossi, "To the Moon and back: are Internet bufferbloat delays really
  that large?", TMA 2013: ~1 % of BitTorrent peers often see > 1 s of queueing).
* ``source``: where the numbers come from. Rates and RTTs are measured or published
  presets; jitter, loss and queue depth are mostly modelling choices, and each source string
  says which figures are.

Operator medians (Ookla Speedtest Intelligence) are medians of speed tests, i.e. of what
subscribers measured, not of advertised tiers.
"""

from __future__ import annotations

NETWORK_PRESETS: dict[str, dict[str, float | str]] = {
    "fiber": {
        "uplink_kbps": 169_660.0,
        "downlink_kbps": 205_820.0,
        "rtt_ms": 8.0,
        "jitter_ms": 1.0,
        "loss_pct": 0.05,
        "queue_ms": 50.0,
        "source": (
            "Rates: Ookla Speedtest Intelligence Q3 2023 median for Frontier (a fiber ISP), "
            "205.82 down / 169.66 up Mbps, https://fierce-network.com/telecom/"
            "cox-pulls-ahead-charter-fixed-download-ranking-ookla ; RTT: Ookla median "
            "latency 8 ms for Frontier and Verizon (fiber), https://www.telecompetitor.com/"
            "cox-nears-200-mbps-download-in-june-ookla-speedtest-results/ . Jitter 1 ms, "
            "loss 0.05 % and queue 50 ms are modelling choices (a well-provisioned "
            "fiber path; the FCC MBA reports count < 0.4 % peak-hour loss as the best bucket)."
        ),
    },
    "cable": {
        "uplink_kbps": 22_300.0,
        "downlink_kbps": 236_070.0,
        "rtt_ms": 14.0,
        "jitter_ms": 3.0,
        "loss_pct": 0.1,
        "queue_ms": 100.0,
        "source": (
            "Rates: Ookla Speedtest Intelligence Q3 2023 median for Xfinity (Comcast, "
            "DOCSIS cable), 236.07 down / 22.30 up Mbps, https://fierce-network.com/telecom/"
            "cox-pulls-ahead-charter-fixed-download-ranking-ookla ; RTT: Ookla median "
            "latency 14 ms for Xfinity, https://www.telecompetitor.com/"
            "cox-nears-200-mbps-download-in-june-ookla-speedtest-results/ . Jitter 3 ms, "
            "loss 0.1 % and queue 100 ms are modelling choices (DOCSIS 3.1 modems must run "
            "the DOCSIS-PIE AQM with a 10 ms latency target, RFC 8034; older modems queue "
            "far longer)."
        ),
    },
    "dsl": {
        "uplink_kbps": 384.0,
        "downlink_kbps": 1_500.0,
        "rtt_ms": 50.0,
        "jitter_ms": 5.0,
        "loss_pct": 0.3,
        "queue_ms": 300.0,
        "source": (
            "Rates and RTT: WebPageTest connectivity profile [DSL] 'DSL (1.5 Mbps/384 Kbps "
            "50ms RTT)', www/settings/connectivity.ini.sample in github.com/catchpoint/"
            "WebPageTest (a legacy ADSL line; Ookla's blended median for CenturyLink, "
            "mostly DSL, was 41.29/12.02 Mbps, 15 ms, per telecompetitor.com above). "
            "Jitter 5 ms, loss 0.3 % and queue 300 ms are modelling choices (unmanaged "
            "modem buffers, Gettys & Nichols 2011)."
        ),
    },
    "wifi": {
        "uplink_kbps": 22_300.0,
        "downlink_kbps": 236_070.0,
        "rtt_ms": 17.0,
        "jitter_ms": 5.0,
        "loss_pct": 0.5,
        "queue_ms": 100.0,
        "source": (
            "Home Wi-Fi in front of the 'cable' access link: rates are cable's (the access "
            "uplink stays the bottleneck at these speeds), RTT = cable 14 ms + ~3 ms Wi-Fi "
            "hop median from Sui et al., 'Characterizing and Improving WiFi Latency in "
            "Large-Scale Operational Networks', MobiSys 2016 (47,000 devices: median ~3 ms, "
            "p90 ~20 ms, p99 ~250 ms). Jitter 5 ms (that long tail), loss 0.5 % (residual "
            "loss after 802.11 retries) and queue 100 ms are modelling choices. Sharma et "
            "al., 'Measuring the Prevalence of WiFi Bottlenecks in Home Access Networks' "
            "(arXiv 2311.05499) find Wi-Fi is often the throughput bottleneck on fast "
            "access links; lower the rates to model a weak signal."
        ),
    },
    "4g": {
        "uplink_kbps": 12_000.0,
        "downlink_kbps": 12_000.0,
        "rtt_ms": 70.0,
        "jitter_ms": 10.0,
        "loss_pct": 0.5,
        "queue_ms": 300.0,
        "source": (
            "Rates and RTT: WebPageTest connectivity profile [LTE] 'Mobile LTE (12 Mbps/"
            "12 Mbps 70ms RTT)', www/settings/connectivity.ini.sample in github.com/"
            "catchpoint/WebPageTest; cross-checks: Opensignal 'State of LTE' Nov 2017 "
            "global average 4G download 16.6 Mbps (https://opensignal.com/reports/2017/11/"
            "state-of-lte), Ookla US mobile median latency 31-34 ms (telecompetitor.com "
            "above). Jitter 10 ms, loss 0.5 % and queue 300 ms are modelling choices "
            "(cellular base-station buffers are deep: Jiang et al., 'Tackling Bufferbloat "
            "in 3G/4G Networks', IMC 2012)."
        ),
    },
    "3g": {
        "uplink_kbps": 700.0,
        "downlink_kbps": 700.0,
        "rtt_ms": 300.0,
        "jitter_ms": 20.0,
        "loss_pct": 1.0,
        "queue_ms": 500.0,
        "source": (
            "Rates and RTT: Lighthouse throttling preset mobileRegular3G (rttMs 300, "
            "throughputKbps 700, 'meant to roughly align with Chrome UX report's 3G "
            "definition'), core/config/constants.js in github.com/GoogleChrome/lighthouse. "
            "Jitter 20 ms, loss 1 % and queue 500 ms are modelling choices (Jiang et al., "
            "IMC 2012, on 3G bufferbloat)."
        ),
    },
    "3g-poor": {
        "uplink_kbps": 400.0,
        "downlink_kbps": 400.0,
        "rtt_ms": 400.0,
        "jitter_ms": 50.0,
        "loss_pct": 3.0,
        "queue_ms": 1_000.0,
        "source": (
            "Rates and RTT: WebPageTest connectivity profile [3G_EM] 'Emerging Markets 3G "
            "(400 Kbps, 400ms RTT)', www/settings/connectivity.ini.sample in github.com/"
            "catchpoint/WebPageTest (the same figures as Chrome DevTools' 'Slow 3G' "
            "target). Jitter 50 ms, loss 3 % and queue 1 s are modelling choices for a "
            "congested cell edge."
        ),
    },
    "satellite-leo": {
        "uplink_kbps": 13_540.0,
        "downlink_kbps": 87_250.0,
        "rtt_ms": 44.0,
        "jitter_ms": 10.0,
        "loss_pct": 1.0,
        "queue_ms": 150.0,
        "source": (
            "Rates and RTT: Ookla Speedtest Intelligence Q3 2021 US median for Starlink, "
            "87.25 down / 13.54 up Mbps, 44 ms, as reported at https://freestatefoundation."
            "blogspot.com/2022/01/starlinks-performance-shows-prudence-of.html ; cross-"
            "check: Michel et al. (UCLouvain), 'Fact checking Starlink's performance "
            "figures', https://blog.apnic.net/2022/11/28/fact-checking-starlinks-"
            "performance-figures (Belgium 2022: median RTT ~50 ms, IQR 40-60 ms, which "
            "sets jitter ~10 ms). Loss 1 % and queue 150 ms are modelling choices; "
            "Kassem et al., 'A browser-side view of Starlink connectivity', IMC 2022, saw "
            "loss bursts up to 50 % around satellite handovers."
        ),
    },
    "datacenter": {
        "uplink_kbps": 10_000_000.0,
        "downlink_kbps": 10_000_000.0,
        "rtt_ms": 1.0,
        "jitter_ms": 0.1,
        "loss_pct": 0.0,
        "queue_ms": 5.0,
        "source": (
            "A server-side agent or egress host in the same cloud region as the media "
            "server. RTT: AWS places Availability Zones up to ~100 km apart 'close enough "
            "to use synchronous replication with single-digit millisecond latency' "
            "(https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/"
            "availability-zones.html); within one zone ~1 ms or less. The 10 Gbit/s NIC, "
            "jitter 0.1 ms, zero random loss and a 5 ms (shallow switch) buffer are "
            "modelling choices."
        ),
    },
}
