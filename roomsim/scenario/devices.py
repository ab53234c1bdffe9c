"""Client and agent device presets: how much CPU a realtime-media app gets, and how fast.

* ``cpu_budget_cores``: how many cores the app may keep busy before it must drop frames or
  adapt. A modelling choice per device, informed by how libwebrtc itself sizes its work:
  its VP8 encoder uses 2 threads for qHD/HD (3 on >= 6 cores, 8 for 1080p on > 8 cores) on
  desktop and 3 threads on Android "since most of times only 4 cores will be active"
  (``LibvpxVp8Encoder::NumberOfThreads``, modules/video_coding/codecs/vp8/
  libvpx_vp8_encoder.cc), and it adapts resolution/frame rate down once encode time exceeds
  85 % of the frame interval (``CpuOveruseOptions::high_encode_usage_threshold_percent =
  85``, video/adaptation/overuse_frame_detector.cc).
* ``speed_factor``: per-core speed relative to the core the cost profile was measured on
  (1.0). Codec costs from the profile are divided by it. Ratios come from Geekbench 6
  single-core scores against Geekbench 6's own baseline of 2,500, "the score of a Dell
  Precision 3460 with a Core i7-12700" (Primate Labs, "Geekbench 6 CPU Workloads", Feb
  2023, section "CPU Benchmark Scores"), i.e. 1.0 = one Alder Lake desktop P-core. If the
  profile is measured on a much faster or slower core, scale every factor by
  (2500 / that core's GB6 single-core score).

Single-core scores are burst figures: phones and fanless laptops throttle under the
sustained load of a call, which ``cpu_budget_cores`` (not ``speed_factor``) absorbs.
Most board and PC figures are from one tester with one method: Jeff Geerling's sbc-reviews
results table, web/data/results.yml in github.com/geerlingguy/sbc-reviews.
"""

from __future__ import annotations

#: Geekbench 6 single-core score that maps to speed_factor 1.0 (Primate Labs baseline).
GB6_BASELINE_SINGLE_CORE = 2500.0

DEVICE_PRESETS: dict[str, dict[str, float | str]] = {
    "desktop": {
        "cpu_budget_cores": 4.0,
        "speed_factor": 1.0,
        "source": (
            "speed 1.0: the Geekbench 6 baseline machine itself (Core i7-12700 desktop, "
            "single-core 2,500; Primate Labs 'Geekbench 6 CPU Workloads'). Newer desktops "
            "are faster: Intel Core Ultra 7 265K 3,340 (1.34) and AMD Framework Desktop "
            "3,030 (1.21) in geerlingguy/sbc-reviews results.yml. Budget 4 cores: "
            "modelling choice (an 8+ core machine shared with a browser and OS; libwebrtc "
            "VP8 uses 2-3 encode threads at 720p-1080p plus decode and audio threads)."
        ),
    },
    "laptop": {
        "cpu_budget_cores": 3.0,
        "speed_factor": 0.8,
        "source": (
            "speed 0.8: modelling choice inside the measured laptop-class range in "
            "geerlingguy/sbc-reviews results.yml: Intel N100/N150-class budget chips "
            "(Radxa X4 1,185, LattePanda Mu 1,257, GMKtec G3 Plus 1,294 -> 0.47-0.52) to "
            "a premium 2025 laptop (Framework 13 AMD 2,845 -> 1.14). Budget 3 cores: "
            "modelling choice (4-8 cores under a laptop's sustained power limit)."
        ),
    },
    "phone": {
        "cpu_budget_cores": 3.0,
        "speed_factor": 0.84,
        "source": (
            "speed 0.84: Samsung Galaxy S23 Ultra (Snapdragon 8 Gen 2) Geekbench 6 "
            "single-core 2,095 / 2,500 (notebookcheck.com, 'Geekbench 6: Apple iPhone 14 "
            "Pro Max stellt sich Samsung Galaxy S23 Ultra und Google Pixel 7 Pro', Feb "
            "2023; same article: iPhone 14 Pro Max 2,522 -> 1.01, Pixel 7 Pro 1,410 -> "
            "0.56). Budget 3 cores: libwebrtc's Android VP8 encoder uses 3 threads on >= 4 "
            "cores 'since most of times only 4 cores will be active' (libvpx_vp8_encoder.cc"
            " NumberOfThreads)."
        ),
    },
    "low-end-phone": {
        "cpu_budget_cores": 2.0,
        "speed_factor": 0.21,
        "source": (
            "speed 0.21: Snapdragon 680 (4x Cortex-A73 2.4 GHz + 4x A53). No Geekbench 6 "
            "figure found; derived by chaining Geekbench 5 ratios: SD680 single-core "
            "368-377 vs Snapdragon 8 Gen 2 1,475 (nanoreview.net SoC comparisons) = 0.25, "
            "times the 'phone' factor 0.84. Chaining across benchmark versions is an "
            "approximation (+-20 %). Budget 2 cores: modelling choice (small cores, "
            "thermal limits)."
        ),
    },
    "embedded": {
        "cpu_budget_cores": 3.0,
        "speed_factor": 0.116,
        "source": (
            "speed 0.116: Raspberry Pi 4 model B (4x Cortex-A72 1.8 GHz) Geekbench 6 "
            "single-core 289 / 2,500 (geerlingguy/sbc-reviews results.yml; Geekbench 5: "
            "271). Codec cross-check from the same table, Phoronix x264 1080p encode "
            "(whole chip): Pi 4 7.61 fps on 4 cores = 1.9 fps/core vs Core Ultra 7 265K "
            "273.47 fps on 20 cores = 13.7 fps/core, ratio 0.14 (vs 0.087 by Geekbench 6 "
            "against that chip; the 265K's E-cores lower its per-core average). Budget 3 "
            "of 4 cores: modelling choice (one left for the OS and networking)."
        ),
    },
    "server": {
        "cpu_budget_cores": 4.0,
        "speed_factor": 1.0,
        "source": (
            "speed 1.0 by construction: the cost profile is measured on an x86 server "
            "core, and an agent in the same fleet runs on the same kind of core. Not a "
            "measured ratio: server parts boost lower than desktops (Geekbench 5 single-"
            "core ~1,250 for dual Xeon Platinum 8468 and dual EPYC 7763 listings, as "
            "reported by bloglaralemi.com 2022-09-09 from @BenchLeaks), so run `roomsim "
            "calibrate` on the real host when it matters. Budget 4 vCPU: modelling "
            "choice (a typical per-agent container allotment)."
        ),
    },
}
